"""Shared fixtures. The unit tier runs on tiny random models and Python's own docs as corpus:
no Hub, no key, no GPU. Tests marked `model` use the real SmolLM2-135M prepared by `make assets`."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")
# Tests run on the CPU even where a GPU is present (the `gpu` tests ask for CUDA themselves).
os.environ.setdefault("REFINERY_DEVICE", "cpu")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from agent.settings import default_cache_dir  # noqa: E402

pytest_plugins = ["tests.support.fixtures"]
from tools.subject.bridge import BridgeSubject  # noqa: E402


@pytest.fixture(scope="session")
def tiny_subject() -> BridgeSubject:
    from tools.subject.registry import load_subject

    return load_subject("tiny-llama")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory shared by the session (token caches of the pydoc corpus)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def smollm2_subject() -> BridgeSubject:
    from tools.subject import smollm2
    from tools.subject.registry import load_subject

    cache = default_cache_dir()
    if not smollm2.is_converted(smollm2.model_dir(cache)):
        message = f"SmolLM2-135M is not set up in {cache}; run `make assets`"
        if os.environ.get("REFINERY_REQUIRE_ASSETS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return load_subject("smollm2-135m", cache_dir=cache)


@pytest.fixture(autouse=True)
def _fresh_structlog() -> object:
    """CLI tests configure structlog as the entry point does; later tests start from the defaults."""
    import structlog

    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def tiny_excerpts(tiny_subject: BridgeSubject, session_cache: Path) -> object:
    """300 excerpts of 24 tokens of Python's docs, tokenized for the tiny models."""
    import numpy as np

    from tests.support.records import LENGTH, N_EXCERPTS
    from tools.corpus.corpus import load_corpus
    from tools.corpus.excerpts import load_excerpts

    corpus = load_corpus("pydoc", session_cache)
    return np.asarray(load_excerpts(tiny_subject, corpus, session_cache, LENGTH)[:N_EXCERPTS])
