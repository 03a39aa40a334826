"""The corpus of recorded simulator answers (tests/simulators/answers/) read back.

Each answer holds the request's records, the generated tokens with their top logprobs, and per
record either the expected values (recoverable: it must be read, and read right) or the reason it
must fail with (unrecoverable). The tolerant reader must read at least 95% of the recoverable
records and fail every unrecoverable one with its reason; the strict reader it replaced
(tests/simulators/strict_reading.py) must fall below that share on the same corpus.

Two kinds of answers: synthetic ones (answers/synthetic.py), whose expected values are known
without any reader, one per failure class; and real ones, recorded from local open models by
`python -m bench.simulation --record-answers` (gzipped: 15 top logprobs per token add up). A real
answer's expected values are what the tolerant reader read when it was recorded (checked by eye
then), so for those the test guards the reading against regressions, and `REAL_SHARE` holds each
model's readable share as measured: a reader change that reads less of what real models write fails.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.simulators.answers.synthetic import corpus
from tests.simulators.strict_reading import read_strict
from tools.llm.protocol import TokenLogprob
from tools.simulators.chat_logprob import COPIED, AnswerFormat, read_response
from tools.simulators.chat_logprob_numbered import NUMBERED

ANSWERS = Path(__file__).parent / "answers"
THRESHOLD = 0.95
FORMATS = {COPIED.method: COPIED, NUMBERED.method: NUMBERED}
STRICT = replace(COPIED, read=read_strict)
TOKENS = TypeAdapter(list[TokenLogprob])


def load() -> list[dict[str, Any]]:
    """Every answer: synthetic ones in .jsonl, real recordings gzipped (15 top logprobs per token add up)."""
    paths = sorted([*ANSWERS.glob("*.jsonl"), *ANSWERS.glob("*.jsonl.gz")])
    texts = [gzip.decompress(p.read_bytes()).decode() if p.suffix == ".gz" else p.read_text(encoding="utf-8") for p in paths]
    return [json.loads(line) for text in texts for line in text.splitlines()]


def tally(entries: list[dict[str, Any]], answer_format: AnswerFormat | None) -> dict[str, Any]:
    """Records read right, misread, failed, per kind; `answer_format` None = each entry's own."""
    counts: dict[str, Any] = {"read": 0, "recoverable": 0, "misread": [], "failed_right": 0, "unrecoverable": 0,
                              "wrong_failures": []}
    for entry in entries:
        read = answer_format or FORMATS[entry["method"]]
        generated = TOKENS.validate_python(entry["logprobs"])
        simulations = read_response(entry["records"], generated, read, cut=entry["finish_reason"] == "length")
        for number, (simulation, truth, reason) in enumerate(
            zip(simulations, entry["truth"], entry["reason"], strict=True), start=1
        ):
            where = f"{entry['name']} record {number}"
            if truth is not None:
                counts["recoverable"] += 1
                if simulation.ok and simulation.expected == pytest.approx(truth):
                    counts["read"] += 1
                elif simulation.ok:
                    counts["misread"].append(where)
            else:
                counts["unrecoverable"] += 1
                if not simulation.ok and reason in (simulation.error or ""):
                    counts["failed_right"] += 1
                else:
                    counts["wrong_failures"].append(f"{where}: {simulation.error}")
    return counts


def test_the_synthetic_answers_file_is_the_generators_output() -> None:
    """Regenerate with REFINERY_UPDATE_GOLDENS=1 after changing answers/synthetic.py."""
    text = "".join(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n" for entry in corpus())
    path = ANSWERS / "synthetic.jsonl"
    if os.environ.get("REFINERY_UPDATE_GOLDENS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("method", sorted(FORMATS))
def test_the_tolerant_reader_reads_the_recoverable_records_and_fails_the_others_with_their_reason(method: str) -> None:
    counts = tally([entry for entry in load() if entry["method"] == method], None)
    assert counts["recoverable"] >= 40 and counts["unrecoverable"] >= 10
    assert counts["read"] / counts["recoverable"] >= THRESHOLD, counts
    assert counts["misread"] == []
    assert counts["wrong_failures"] == []


def test_the_strict_reader_falls_below_the_threshold_on_the_same_answers() -> None:
    entries = [entry for entry in load() if entry["method"] == COPIED.method]
    counts = tally(entries, STRICT)
    assert counts["read"] / counts["recoverable"] < THRESHOLD
    assert counts["misread"] == []  # it fails answers, it does not misread them


REAL_SHARE = {"qwen2.5-coder-1.5b-instruct": 0.85}
"""Least share of each real model's recorded records the tolerant reader must read. SmolLM2-135M-Instruct
is recorded for its failures (it answers with a bare, escaped closing marker): each must fail with its reason."""


@pytest.mark.parametrize("source", sorted(REAL_SHARE))
def test_real_models_answers_are_read_at_their_recorded_share(source: str) -> None:
    entries = [entry for entry in load() if entry["source"] == source]
    counts = tally(entries, None)
    total = counts["recoverable"] + counts["unrecoverable"]
    assert total >= 20
    assert counts["read"] / total >= REAL_SHARE[source], counts
