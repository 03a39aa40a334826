"""One-shot explanation on the tiny model: the builtin backend recovers a planted rule, and the
held-out split is never handed to anything before the final score."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from agent.backends import Backend, Roles
from agent.explain_job import explain_neuron
from tests.support.planted import plant_token_neuron
from tests.support.records import make_manifest
from tools.builtin.explainer import BuiltinExplainer
from tools.builtin.grammar import parse
from tools.builtin.reviser import BuiltinReviser
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex
from tools.formats.openai import ActivationRecord
from tools.records.builder import build_layer_records
from tools.records.neuron_data import NeuronData
from tools.records.splits import Split, split_indices
from tools.records.store import RecordStore
from tools.simulators.base import RecordSimulation
from tools.subject.bridge import BridgeSubject
from tools.subject.registry import load_subject

PLANTED = 7
TRIGGER = " object"


@pytest.fixture(scope="module")
def planted(tiny_excerpts: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> tuple[BridgeSubject, RecordStore]:
    subject = load_subject("tiny-llama")
    [tok] = subject.tokenize([TRIGGER])
    assert len(tok.ids) == 1
    plant_token_neuron(subject.hf_model, PLANTED, tok.ids[0])
    store = RecordStore(tmp_path_factory.mktemp("planted"))
    build_layer_records(subject, tiny_excerpts, 0, [PLANTED], store, make_manifest(subject, tiny_excerpts, top_k=20, n_random=15),
                        "pydoc-test", calibration_excerpts=100)
    return subject, store


def test_the_planted_neuron_really_fires_on_its_token(planted: tuple[BridgeSubject, RecordStore]) -> None:
    subject, _ = planted
    [tok] = subject.tokenize(["Every object is an object of some class."])
    acts = subject.activations([tok.ids], 0, [PLANTED])[0][:, 0]
    on = [a for t, a in zip(tok.tokens, acts, strict=True) if t == TRIGGER]
    off = [a for t, a in zip(tok.tokens, acts, strict=True) if t != TRIGGER]
    assert min(on) > 10 * max(abs(a) for a in off)


async def test_builtin_explainer_recovers_the_planted_token(planted: tuple[BridgeSubject, RecordStore]) -> None:
    subject, store = planted
    backend = Backend(name="builtin", subject=subject, max_words=30, simulator_method="builtin")
    data = NeuronData(0, PLANTED, store.read(0, PLANTED))
    outcome = await explain_neuron(data, backend, n=5)
    assert outcome.status == "ok" and outcome.explanation is not None
    first = parse(outcome.explanation).clauses[0]
    assert first.items[0].values[0].strip() == TRIGGER.strip() and first.weight == 10, outcome.explanation
    assert outcome.heldout_score is not None and outcome.heldout_score > 0.95
    assert outcome.heldout_ci is not None and outcome.heldout_ci[0] > 0.8
    assert outcome.method == "builtin-lexical" and outcome.tokens == 0


class SpySimulator:
    """The real builtin simulator, recording every token list it is shown and when."""

    def __init__(self, inner: BuiltinSimulator, data: NeuronData) -> None:
        self.inner, self.data = inner, data
        self.seen: list[tuple[bool, tuple[str, ...]]] = []

    @property
    def method(self) -> str:
        return self.inner.method

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        self.seen.extend((self.data.heldout_opened, tuple(r)) for r in records)
        return await self.inner.simulate(explanation, records)


class SpyExplainer(BuiltinExplainer):
    def __init__(self, vocab: VocabIndex) -> None:
        super().__init__(vocab)
        self.shown: list[ActivationRecord] = []

    async def explain(self, records: Sequence[ActivationRecord], n: int) -> list[str]:
        self.shown.extend(records)
        return await super().explain(records, n)


async def test_heldout_split_is_never_used_before_the_final_score(planted: tuple[BridgeSubject, RecordStore]) -> None:
    subject, store = planted
    record = store.read(0, PLANTED)
    data = NeuronData(0, PLANTED, record)
    vocab = VocabIndex.from_subject(subject)
    spy = SpySimulator(BuiltinSimulator(vocab), data)
    explainer = SpyExplainer(vocab)
    backend = Backend(name="builtin", subject=subject, max_words=30, simulator_method="builtin")
    await explain_neuron(data, backend, n=4, roles=Roles(explainer, spy, BuiltinReviser(vocab), None))

    top, rand = record.most_positive_activation_records, record.random_sample
    train = split_indices(Split.TRAIN, len(top), len(rand))
    assert [r.excerpt_index for r in explainer.shown] == [top[i].excerpt_index for i in train.top]
    valid = split_indices(Split.SELECTION, len(top), len(rand))
    calibration = split_indices(Split.CALIBRATION, len(top), len(rand))
    test = split_indices(Split.HELDOUT, len(top), len(rand))
    valid_tokens = {tuple(top[i].tokens) for i in valid.top + calibration.top} | {
        tuple(rand[i].tokens) for i in valid.random + calibration.random}
    test_tokens = {tuple(top[i].tokens) for i in test.top} | {tuple(rand[i].tokens) for i in test.random}
    before = [tokens for opened, tokens in spy.seen if not opened]
    after = [tokens for opened, tokens in spy.seen if opened]
    assert before and set(before) <= valid_tokens
    assert not set(before) & (test_tokens - valid_tokens)
    assert set(after) == test_tokens and len(after) == len(test.top) + len(test.random)


def test_explain_cli_on_the_tiny_model(tmp_path: Path, session_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from agent.cli.main import main

    code = main(["explain", "--layer", "1", "--neuron", "3", "--model", "tiny-llama", "--corpus", "pydoc",
                 "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
                 "--records", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("layer", "neuron", "explanation", "method", "backend", "selection_score", "heldout_score", "heldout_ci",
                "tokens", "cost_usd", "status"):
        assert key in out
    assert out["backend"] == "builtin" and out["method"] == "builtin-lexical" and out["status"] == "ok"
    assert (tmp_path / "records" / "1" / "3.json").is_file()


def test_llm_backend_without_endpoint_is_refused(tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli.main import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["explain", "--layer", "1", "--neuron", "3", "--model", "tiny-llama", "--corpus", "pydoc",
                 "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
                 "--records", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"), "--backend", "llm"])
    assert code == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_explain_with_the_llm_backend_over_http(tmp_path: Path, session_cache: Path, chat_server: object,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The whole LLM path through a real HTTP endpoint: explainer, chat-logprob simulator, ledger."""
    import json

    from agent.cli.main import main
    from bench.support.brain import brain_behaviour
    from bench.support.chat_server import Respond

    chat_server.default = Respond(brain_behaviour('the token " object"'))  # type: ignore[attr-defined]
    code = main(["explain", "--layer", "1", "--neuron", "3", "--model", "tiny-llama", "--corpus", "pydoc",
                 "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
                 "--records", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"), "--llm-base-url", chat_server.base_url,  # type: ignore[attr-defined]
                 "--n", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["backend"] == "llm" and out["method"] == "chat-logprob"
    assert out["explanation"] == 'the token " object"'
    assert out["tokens"] > 0 and out["cost_usd"] == 0.0  # a local endpoint is priced at $0
    purposes = [json.loads(r.raw)["messages"][0]["content"][:20] for r in chat_server.requests]  # type: ignore[attr-defined]
    assert sum(p.startswith("We are studying") for p in purposes) == 3


def test_endpoint_down_marks_the_neuron_failed(tmp_path: Path, session_cache: Path, chat_server: object,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from agent.cli.main import main
    from bench.support.chat_server import Status

    chat_server.default = Status(503, "overloaded")  # type: ignore[attr-defined]
    code = main(["explain", "--layer", "1", "--neuron", "3", "--model", "tiny-llama", "--corpus", "pydoc",
                 "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
                 "--records", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"), "--llm-base-url", chat_server.base_url,  # type: ignore[attr-defined]
                 "--llm-max-retries", "1", "--n", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["status"] == "failed"
    assert "503" in out["error"]
    # The preflight's call, then 2 samples, each 1 try + 1 retry: bounded.
    assert len(chat_server.requests) == 6  # type: ignore[attr-defined]


def test_explain_goes_through_the_runs_journal_and_trace(tmp_path: Path, session_cache: Path, chat_server: object,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`explain` is refine's one-shot part: a trace of its calls, a journal a rerun answers from, a result."""
    import json

    from agent.cli.main import main
    from bench.support.brain import brain_behaviour
    from bench.support.chat_server import Respond
    from bench.support.faults import call_kind
    from graphs.trace import ModelCalled, read_trace

    chat_server.default = Respond(brain_behaviour('the token " object"'))  # type: ignore[attr-defined]
    args = ["explain", "--layer", "1", "--neuron", "3", "--model", "tiny-llama", "--corpus", "pydoc",
            "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
            "--records", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"), "--run", "e",
            "--llm-base-url", chat_server.base_url, "--n", "2", "--json"]  # type: ignore[attr-defined]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    calls = [e for e in read_trace(Path(out["trace"])) if isinstance(e, ModelCalled)]
    assert {c.purpose for c in calls} == {"explainer", "simulator"} and out["tokens"] > 0
    assert json.loads((tmp_path / "runs" / "e" / "results" / "1" / "3.json").read_text())["oneshot"]["explanation"] == out["explanation"]
    asked = len(chat_server.requests)  # type: ignore[attr-defined]

    # The same command again: the finished neuron is kept; only the endpoint's preflight is asked again.
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["heldout_score"] == out["heldout_score"]
    assert [call_kind(json.loads(r.raw)) for r in chat_server.requests[asked:]] == ["preflight"]  # type: ignore[attr-defined]
