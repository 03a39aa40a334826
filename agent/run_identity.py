"""What makes a run the run it is: the settings its results depend on, compared when it is resumed.

A resumed run answers calls from its journal and keeps finished neurons; resumed with another
model, endpoint, simulator, subject, corpus or loop setting, it would mix two experiments in one
folder. Settings that only say how the work is done (budgets, concurrency, timeouts, paths, logs)
may change between resumes: a budget stop is resumed with a larger budget.
"""

from __future__ import annotations

from typing import Any

from tools.errors import BadInputError

OPERATIONAL = frozenset({
    "run", "new_run", "runs_dir", "cache_dir", "records", "model_path", "allow_hub", "batch_size", "checkpoint_seconds",
    "budget_usd", "budget_tokens", "budget_hours", "per_neuron_usd", "per_neuron_tokens", "per_neuron_minutes",
    "concurrency", "executor", "ray_address", "subject_process", "llm_base_url", "llm_timeout_s", "llm_max_retries",
    "llm_concurrency", "llm_rpm", "llm_prices", "view_port", "log_level", "log_json", "device", "dtype",
})
"""Settings that say how the work is done, not what it computes (the endpoint is compared by its host)."""


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """The result-defining part of a run's config.json, flat: `settings.X`, `params.X`, `backend`, `endpoint`."""
    out: dict[str, Any] = {f"settings.{k}": v for k, v in (config.get("settings") or {}).items() if k not in OPERATIONAL}
    out |= {f"params.{k}": v for k, v in (config.get("params") or {}).items()}
    out |= {k: config[k] for k in ("backend", "endpoint") if k in config}
    return out


def differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Each result-defining setting that differs, as `name: saved -> wanted`. A setting one side lacks
    (a config written before the setting existed) is not a difference."""
    old, new = identity(saved), identity(wanted)
    return [f"{name.split('.', 1)[-1]}: {old[name]!r} -> {new[name]!r}" for name in sorted(old.keys() & new.keys())
            if old[name] != new[name]]


def check_resume(run_name: str, saved: dict[str, Any] | None, wanted: dict[str, Any]) -> None:
    """Refuse (exit 2) to resume a run with other result-defining settings, naming each one."""
    if saved is None:
        return
    changed = differences(saved, wanted)
    if changed:
        raise BadInputError(
            f"run {run_name!r} was made with other settings ({'; '.join(changed)}); resuming it would mix two "
            "experiments: rerun with its settings, or start another run (--new-run, or another --run)")
