from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from agent.settings import Settings
from tools.llm.protocol import LLM
from tools.subject.base import SubjectModel


def tiny_settings(tmp_path: Path, cache: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "model": "tiny-llama", "corpus": "pydoc", "cache_dir": cache, "excerpt_tokens": 32, "max_excerpts": 200,
        "records": tmp_path / "records", "runs_dir": tmp_path / "runs", "run": "t", "top_k": 20, "n_random": 15,
        "max_iters": 3, "probes_per_generator": 2,
    }
    return Settings(**(base | overrides))


async def refine(settings: Settings, neurons: Sequence[tuple[int, int]], llm: LLM | None = None,
                 subject: SubjectModel | None = None, **env_kwargs: Any) -> list[dict[str, Any]]:
    async with open_refine_environment(settings, neurons, llm=llm, subject=subject, **env_kwargs) as env:
        return [await refine_neuron(env, layer, neuron) for layer, neuron in neurons]
