"""bench/simulation at tiny size, against the loopback chat server with the rule-following fake brain.

The brain is the mock at the true edge (the LLM's answers): it re-emits each record with 10 on the
tokens the explanation quotes. What is real: the HTTP client, the planted records, the simulator,
the reader, the results file and the recorded answers, which the corpus test's reader reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from tests.bench.conftest import RunBench
from tests.simulators.test_answers import tally

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_simulation_measures_reading_and_records_answers_the_corpus_reads_back(run_bench: RunBench, tmp_path: Path) -> None:
    answers = tmp_path / "recorded.jsonl"
    with ChatServer(default=Respond(brain_behaviour("unused"))) as server:
        result = run_bench("bench.simulation", "--llm-base-url", server.base_url, "--rules", "money,colours",
                           "--records", "4", "--simulators", "chat-logprob", "--name", "simulation",
                           "--label", "brain", "--record-answers", str(answers))
    [chat] = result["passes"]
    assert chat["simulator"] == "chat-logprob" and chat["records"] == 8 and chat["share_read"] == 1.0
    rows = {row["rule"]: row for row in chat["rules"]}
    # 'the word "money"' quotes the planted token: the brain's reading of it follows the rule.
    assert rows["money"]["score"] > 0.5 and rows["money"]["read"] == 4
    assert all(r["output_tokens"] for row in chat["rules"] for r in row["per_record"])
    # The brain writes each value with near certainty: a reading from the values themselves, not a residue.
    assert chat["median_value_mass"] > 0.9 and all(row["value_mass"] > 0.9 for row in chat["rules"])
    entries = [json.loads(line) for line in answers.read_text().splitlines()]
    assert len(entries) == 8 and {e["source"] for e in entries} == {"brain"}
    counts = tally(entries, None)
    assert counts["read"] == counts["recoverable"] == 8 and not counts["misread"]


def test_chat_highlight_is_measured_without_logprobs(run_bench: RunBench) -> None:
    with ChatServer(default=Respond(brain_behaviour("unused"))) as server:
        result = run_bench("bench.simulation", "--llm-base-url", server.base_url, "--rules", "money",
                           "--records", "4", "--simulators", "chat-highlight", "--name", "simulation", "--label", "brain")
    [highlight] = result["passes"]
    assert highlight["simulator"] == "chat-highlight" and highlight["share_read"] == 1.0
    [money] = highlight["rules"]
    # The brain quotes "money" where the record holds it: the planted token, so the reading follows the rule.
    assert money["score"] > 0.5
    # Nothing read from logprobs, so no value mass to report.
    assert money["value_mass"] is None and highlight["median_value_mass"] is None
