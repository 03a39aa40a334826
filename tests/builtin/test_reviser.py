"""The builtin reviser answers counterexamples: a false positive on a word that fires only in a context
becomes a context gate once the gate's own probes confirm it (else the word is removed); a false
negative adds the word. Each revision names the counterexamples it answers. The gate's probes are the
reviser's own request to the loop (`test_probes`); the LLM reviser requests none."""

from __future__ import annotations

import numpy as np

from tests.builtin.test_compose import PAIRS, WORDS
from tools.builtin.compose import Composer
from tools.builtin.evidence import Evidence, EvidenceText
from tools.builtin.grammar import parse
from tools.builtin.reviser import BuiltinReviser, answering_refits
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex
from tools.formats.openai import ActivationRecord
from tools.llm.fake import ScriptedLLM
from tools.probes.generators import ProbeSources
from tools.probes.types import Counterexample, ProbeResult
from tools.revisers.base import ProbeFindings, RevisionContext
from tools.revisers.llm_reviser import LLMReviser

VOCAB = VocabIndex(WORDS, None)


def more_than(tokens: list[str]) -> list[float]:
    """The planted context rule: "than" right after "more" or "less", nothing anywhere else."""
    return [4.0 if t == " than" and i and tokens[i - 1] in (" more", " less") else 0.0 for i, t in enumerate(tokens)]


def record(tokens: list[str]) -> ActivationRecord:
    return ActivationRecord(tokens=tokens, activations=more_than(tokens))


def sample(n: int, seed: int) -> list[ActivationRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        tokens = [WORDS[i] for i in rng.integers(0, len(WORDS), 20)]
        for at in (3, 12):
            tokens[at : at + 2] = PAIRS[int(rng.integers(len(PAIRS)))]
        out.append(record(tokens))
    return out


def probe(generator: str, tokens: list[str]) -> ProbeResult:
    return ProbeResult(generator=generator, text="".join(tokens), token_ids=[VOCAB.pieces.index(t) for t in tokens],
                       tokens=tokens, real=more_than(tokens))


def gate_probes(n: int, seed: int) -> list[ProbeResult]:
    """What `gate_probes` writes for 'than after more/less': the word in the context, and after ordinary text."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        context = [WORDS[i] for i in rng.integers(0, 7, 8)]  # ordinary words only (the, a, cat, ...)
        out.append(probe("gate-with", [*context[:4], " more", " than", *context[4:]]))
        out.append(probe("gate-without", [*context[:4], " than", *context[4:]]))
    return out


FALSE_POSITIVE = Counterexample(
    kind="false_positive", generator="corpus-fresh", text=" rather than the cat", tokens=[" rather", " than", " the", " cat"],
    real=[0.0] * 4, predicted=[0.0, 10.0, 0.0, 0.0], offending=[1], error=10.0)


def context(probes: list[ProbeResult], explanation: str = '"than" (10)') -> RevisionContext:
    records = sample(40, seed=0)
    return RevisionContext(explanation=explanation, score=0.5, best_records=[], worst_records=[],
                           counterexamples=[FALSE_POSITIVE], train=records[:20], evidence=records[20:], probes=probes,
                           max_activation=4.0, top_threshold=4.0)


async def test_a_false_positive_becomes_a_gate_confirmed_by_its_probes() -> None:
    revisions = await BuiltinReviser(VOCAB).revise(context(gate_probes(6, seed=1)), 3)
    gated = [r for r in revisions if r.note and r.note.startswith("gate:")]
    assert gated, [(r.text, r.note) for r in revisions]
    [clause] = [c for c in parse(gated[0].text).clauses if c.conditions]
    assert clause.items[0].values == ("than",) and {"more", "less"} & set(clause.conditions[0].values)
    assert gated[0].answers == [FALSE_POSITIVE.label] and "confirmed by its probes" in gated[0].note
    # The gate explains the planted rule on fresh text far better than the word alone does.
    simulator, fresh = BuiltinSimulator(VOCAB), sample(30, seed=9)
    real = np.concatenate([r.activations for r in fresh])

    def r(text: str) -> float:
        return float(np.corrcoef(np.concatenate([simulator.predict(text, f.tokens) for f in fresh]), real)[0, 1])

    assert r(gated[0].text) > 0.95 > r('"than" (10)') + 0.2


async def test_without_probes_of_the_gate_no_gate_is_written() -> None:
    revisions = await BuiltinReviser(VOCAB).revise(context([]), 3)
    assert not [r for r in revisions if r.note and r.note.startswith("gate:")]
    removed = [r for r in revisions if r.note == "removed 'than'"]
    assert not removed or removed[0].answers == [FALSE_POSITIVE.label]


async def test_probes_that_refute_the_gate_keep_it_out() -> None:
    refuting = [p.model_copy(update={"real": [4.0 if t == " than" else 0.0 for t in p.tokens]}) for p in gate_probes(6, seed=1)]
    revisions = await BuiltinReviser(VOCAB).revise(context(refuting), 3)
    assert not [r for r in revisions if r.note and r.note.startswith("gate:")]


async def test_a_false_negative_adds_the_word_and_names_it() -> None:
    def pets(tokens: list[str]) -> list[float]:
        return [4.0 if t in (" cat", " dog") else 0.0 for t in tokens]

    records = [ActivationRecord(tokens=r.tokens, activations=pets(r.tokens)) for r in sample(40, seed=0)]
    missed = Counterexample(kind="false_negative", generator="corpus-fresh", text=" the dog", tokens=[" the", " dog"],
                            real=[0.0, 4.0], predicted=[0.0, 0.0], offending=[1], error=10.0)
    ctx = RevisionContext(explanation='"cat" (10)', score=0.5, best_records=[], worst_records=[], counterexamples=[missed],
                          train=records[:20], evidence=records[20:], max_activation=4.0, top_threshold=4.0)
    revisions = await BuiltinReviser(VOCAB).revise(ctx, 3)
    added = [r for r in revisions if r.note and r.note.startswith("added 'dog'")]
    assert added and parse(added[0].text).clauses[0].items[0].values == ("cat", "dog"), [(r.text, r.note) for r in revisions]
    assert added[0].answers == [missed.label]


def test_an_answering_refit_imposes_the_answer_and_fits_the_rest_around_it() -> None:
    """A false negative's word is forced into the refit even where the fit alone leaves it out; a false
    positive's word is kept out unless in a context clause; each names the counterexample it answers, and a
    last refit answers both."""
    def pets(tokens: list[str]) -> list[float]:
        return [4.0 if t == " cat" else 0.01 if t == " sat" else 0.0 for t in tokens]

    records = [ActivationRecord(tokens=r.tokens, activations=pets(r.tokens)) for r in sample(40, seed=0)]
    composer = Composer(Evidence.from_texts((EvidenceText(r.tokens, r.activations) for r in records), VOCAB), VOCAB)
    missed = Counterexample(kind="false_negative", generator="corpus-fresh", text=" the sat", tokens=[" the", " sat"],
                            real=[0.0, 4.0], predicted=[0.0, 0.0], offending=[1], error=10.0)
    wrong = Counterexample(kind="false_positive", generator="corpus-fresh", text=" the cat", tokens=[" the", " cat"],
                           real=[0.0, 0.0], predicted=[0.0, 10.0], offending=[1], error=10.0)
    plain = composer.fit(8)
    assert plain is not None and '"sat"' not in plain.text and '"cat"' in plain.text
    [added, removed, both] = answering_refits(composer, [missed, wrong], 8, plain.text)
    assert '"sat"' in added.text and '"cat"' in added.text and added.answers == [missed.label]
    assert added.note == "refitted with 'sat' kept in"
    assert all(item.values != ("cat",) or clause.conditions for clause in parse(removed.text).clauses for item in clause.items)
    assert removed.answers == [wrong.label] and removed.note == "refitted with 'cat' only in context"
    assert '"sat"' in both.text and '"cat" (' not in both.text and both.answers == [missed.label, wrong.label]
    # A word the plain fit never says needs no refit to bar it: it would write the plain fit again.
    unsaid = wrong.model_copy(update={"text": " the dog", "tokens": [" the", " dog"]})
    assert answering_refits(composer, [unsaid], 8, plain.text) == []


class WordSubject:
    """Token strings of the test vocabulary: all `ProbeSources` asks of a subject."""

    def token_strings(self, ids: list[int]) -> list[str]:
        return [WORDS[i] for i in ids]


def findings() -> ProbeFindings:
    records = sample(40, seed=0)
    return ProbeFindings(counterexamples=[FALSE_POSITIVE], train=records[:20], evidence=records[20:], probes=[],
                         mixture={"top": 1.0, "random": 1.0}, top_threshold=4.0)


def sources(seed: int = 3) -> ProbeSources:
    rng = np.random.default_rng(seed)
    excerpts = rng.integers(0, 7, (30, 40))  # ordinary words only
    return ProbeSources(subject=WordSubject(), excerpts=excerpts, excluded=set(), rng=rng)  # type: ignore[arg-type]


def test_the_builtin_reviser_asks_to_test_its_gate_in_and_out_of_context() -> None:
    src = sources()
    texts = BuiltinReviser(VOCAB).test_probes(findings(), src, 3)
    within = [t for t in texts if t.generator == "gate-with"]
    without = [t for t in texts if t.generator == "gate-without"]
    assert len(within) == len(without) == 3
    for text in within:
        at = text.tokens.index(" than")
        assert text.tokens[at - 1] in (" more", " less")
    assert all(" than" in t.tokens and not {" more", " less"} & set(t.tokens) for t in without)
    assert src.used, "fresh excerpts were drawn, and are not probed again"
    assert BuiltinReviser(VOCAB).test_probes(findings(), sources(), 0) == []


def test_the_llm_reviser_asks_for_no_probes_of_its_own() -> None:
    src = sources()
    assert LLMReviser(ScriptedLLM([])).test_probes(findings(), src, 3) == []
    assert not src.used
