import json

import pytest

from tools.llm.ledger import UsageLedger
from tools.llm.protocol import LLMError, Usage


def usage(model: str = "m", prompt: int = 10, completion: int = 5, cost: float = 0.01, **extra: object) -> Usage:
    return Usage(model=model, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost, **extra)


def test_totals_per_purpose_and_model() -> None:
    ledger = UsageLedger()
    ledger.record("explainer", usage("big", 100, 20, 0.5, retries=2, latency_s=1.5))
    ledger.record("simulator", usage("small", 10, 1, 0.01))
    ledger.record("simulator", usage("small", 30, 3, 0.02))

    assert ledger.total.calls == 3
    assert ledger.total.prompt_tokens == 140
    assert ledger.total.completion_tokens == 24
    assert ledger.total.cost_usd == pytest.approx(0.53)
    assert ledger.total.retries == 2
    assert ledger.by_purpose("simulator").calls == 2
    assert ledger.by_purpose("simulator").prompt_tokens == 40
    assert ledger.by_model("big").latency_s == pytest.approx(1.5)
    assert ledger.by_purpose("prober").calls == 0


def test_cached_calls_are_counted_but_cost_nothing() -> None:
    ledger = UsageLedger()
    ledger.record("explainer", usage(cost=1.0))
    ledger.record("explainer", usage(cost=1.0, cached=True))
    totals = ledger.by_purpose("explainer")
    assert (totals.calls, totals.cached_calls) == (1, 1)
    assert totals.cost_usd == pytest.approx(1.0)
    assert totals.prompt_tokens == 10


def test_the_same_usage_object_is_recorded_once() -> None:
    ledger = UsageLedger()
    one = usage()
    assert ledger.record("explainer", one) is True
    assert ledger.record("explainer", one) is False
    assert ledger.record("explainer", one.model_copy()) is True  # an equal but separate call counts
    assert ledger.total.calls == 2


def test_failures_are_counted_per_bucket_and_listed() -> None:
    ledger = UsageLedger()
    ledger.record_failure("prober", "big", LLMError("x" * 1000, status=500))
    assert ledger.by_purpose("prober").failures == 1
    assert ledger.by_model("big").failures == 1
    assert ledger.total.calls == 0
    [failure] = ledger.summary()["failures"]
    assert failure["purpose"] == "prober"
    assert len(failure["error"]) == 300


def test_summary_is_json_ready() -> None:
    ledger = UsageLedger()
    ledger.record("explainer", usage("a"))
    ledger.record("reviser", usage("b", cached=True))
    ledger.record_failure("simulator", "a", "timeout")
    summary = json.loads(json.dumps(ledger.summary()))
    assert set(summary) == {"total", "by_purpose", "by_model", "failures"}
    assert summary["by_purpose"]["reviser"]["cached_calls"] == 1
    assert summary["by_model"]["a"] == {
        "calls": 1,
        "cached_calls": 0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": 0.01,
        "latency_s": 0.0,
        "retries": 0,
        "failures": 1,
    }


def test_returned_totals_are_snapshots() -> None:
    ledger = UsageLedger()
    snapshot = ledger.total
    ledger.record("explainer", usage())
    assert snapshot.calls == 0
