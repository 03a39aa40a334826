"""bench/llm_agent at tiny size through the real local server with SmolLM2-135M-Instruct (`local_llm`).

SmolLM2-135M writes no useful explanation: what is tested is the plumbing a real LLM run goes
through (every role on one local server, both passes on the same held-out records, both simulators
on every explanation, the trace read back per neuron) and that a rerun resumes instead of redoing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.settings import default_cache_dir
from tests.bench.conftest import RunBench

TINY = ("--rules", "money", "--real-layers", "", "--llm-max-iters", "1", "--llm-n-explanations", "1",
        "--llm-n-revisions", "1", "--llm-probes-per-generator", "1", "--llm-records-per-split", "3",
        "--max-iters", "1", "--n-explanations", "1", "--local-threads", "1", "--name", "llm_agent", "--with-builtin-judge")


@pytest.mark.local_llm
@pytest.mark.model
@pytest.mark.slow
def test_llm_agent_smoke_and_resume(run_bench: RunBench, tmp_path: Path) -> None:
    from tools.subject import smollm2

    gguf = str(smollm2.ensure_gguf(default_cache_dir()))
    # A real LLM on one thread: minutes, not seconds, on a busy 2-core machine.
    result = run_bench("bench.llm_agent", "--local-gguf", gguf, *TINY, timeout_s=900)
    assert result["benchmark"] == "llm_agent" and result["complete"] and result["planned"] == ["planted-0-0"]
    [row] = result["parts"]["planted"]["neurons"]
    assert row["rule"] == "money" and row["explanations"]["truth"] == 'the word "money"'
    assert set(row["scores"]) == {"llm", "builtin"}
    for simulator in ("llm", "builtin"):
        assert set(row["scores"][simulator]) == {"llm_oneshot", "llm_refined", "builtin_refined", "truth", "judged_oneshot",
                                                 "judged_refined"}
    # The third pass: the LLM wrote, the builtin simulated (no simulator call of its own).
    assert row["judged"]["status"] in ("ok", "degraded") and "explainer" in row["judged"]["calls"]
    assert "simulator" not in row["judged"]["calls"]
    # Every role ran on the one local server, and the trace was read back.
    assert {"explainer", "simulator"} <= set(row["llm"]["calls"])
    assert row["llm"]["seconds"] > 0 and row["heldout_records"] > 0
    # The held-out r each agent measured is the one the row reports (reused, not simulated again).
    final = json.loads((tmp_path / "bench" / "work" / "llm_agent" / "planted" / "llm" / "run" / "results" / "0" / "0.json").read_text())
    assert row["scores"]["llm"]["llm_refined"] == final["refined"]["heldout_score"]
    summary = result["parts"]["planted"]["summary"]
    assert summary["neurons"] == 1 and set(summary["means"]) == {"llm", "builtin"}
    assert summary["judged"]["neurons"] == 1 and "refined_minus_oneshot_builtin_sim" in summary["judged"]
    again = run_bench("bench.llm_agent", "--local-gguf", gguf, *TINY, timeout_s=900)
    # Resumed from the kept row: the same row, with the first run's own seconds, was not recomputed.
    assert again["parts"]["planted"]["neurons"] == [row]
    # A fresh checkout has the committed results file but no work folder: its neurons are read back, not rerun.
    shutil.copy(tmp_path / "bench" / "llm_agent.json", tmp_path / "committed.json")
    shutil.rmtree(tmp_path / "bench" / "work" / "llm_agent" / "rows")
    carried = run_bench("bench.llm_agent", "--local-gguf", gguf, *TINY, "--continue-from", str(tmp_path / "committed.json"),
                        timeout_s=900)
    assert carried["parts"]["planted"]["neurons"] == [row]


def test_rows_are_carried_only_from_a_result_measured_the_same_way() -> None:
    from bench.llm_agent import carried_rows

    settings = {"max_iters": 2, "n_explanations": 2}
    row = {"part": "real", "layer": 2, "neuron": 123, "scores": {}}
    result = {"label": "Qwen", "settings": settings, "with_builtin_judge": False,
              "parts": {"real": {"summary": {}, "neurons": [row]}}}
    assert carried_rows(result, "Qwen", settings, False) == {"real-2-123": row}
    for label, sizes, judged in (("other", settings, False), ("Qwen", settings | {"max_iters": 6}, False),
                                 ("Qwen", settings | {"simulator": "chat-highlight"}, False), ("Qwen", settings, True)):
        with pytest.raises(SystemExit, match="other settings"):
            carried_rows(result, label, sizes, judged)
