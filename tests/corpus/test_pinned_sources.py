"""The default corpus's Debian packages are used only at their pinned version and sha256.

`apt-get` is the edge to the package archive: a stub on PATH stands in for it (recording what it
was asked for, and "downloading" chosen bytes); `dpkg-deb` is the real one, on a real .deb built here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.checksum import sha256_file
from tools.corpus.sources import DEBIAN_SOURCES, Source, fetch_debian_packages
from tools.errors import AssetMissingError

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")


@pytest.fixture
def deb(tmp_path: Path) -> Path:
    """A real, tiny .deb holding usr/share/doc/prose-test/words.txt."""
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: prose-test\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n")
    (tree / "usr/share/doc/prose-test").mkdir(parents=True)
    (tree / "usr/share/doc/prose-test/words.txt").write_text("A sentence of prose.\n")
    out = tmp_path / "prose-test_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)], check=True, capture_output=True)
    return out


def _source(deb: Path) -> Source:
    return Source("prose-test", "1.0-1", sha256_file(deb), "pool/main/p/prose-test/prose-test_1.0-1_all.deb", "test", "test")


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`apt-get download ...` that logs its arguments and copies $FAKE_DEB (if set) into the working directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt-args.txt"
    script = bin_dir / "apt-get"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, shutil, sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "src = os.environ.get('FAKE_DEB')\n"
        "if not src:\n"
        "    sys.stderr.write(\"E: Version '1.0-1' for 'prose-test' was not found\\n\")\n"
        "    sys.exit(100)\n"
        "shutil.copy(src, os.path.join(os.getcwd(), 'prose-test_1.0-1_all.deb'))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_every_debian_source_is_pinned() -> None:
    for source in DEBIAN_SOURCES:
        assert source.version and len(source.sha256) == 64 and source.pool_path.endswith("_all.deb")
        assert source.spec == f"{source.package}={source.version}"


def test_the_pinned_version_is_fetched_checked_and_unpacked(deb: Path, fake_apt: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DEB", str(deb))
    root = fetch_debian_packages(tmp_path / "downloads", (_source(deb),))
    assert (root / "usr/share/doc/prose-test/words.txt").read_text() == "A sentence of prose.\n"
    assert fake_apt.read_text().split() == ["download", "prose-test=1.0-1"]


def test_a_download_that_is_not_the_pinned_file_is_refused_and_removed(deb: Path, fake_apt: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    impostor = tmp_path / "impostor.deb"
    impostor.write_bytes(deb.read_bytes() + b"tampered")
    monkeypatch.setenv("FAKE_DEB", str(impostor))
    dest = tmp_path / "downloads"
    with pytest.raises(AssetMissingError, match="did not match their pinned sha256: prose-test_1.0-1_all.deb"):
        fetch_debian_packages(dest, (_source(deb),))
    assert not list(dest.glob("*.deb"))


def test_a_version_gone_from_the_mirror_says_how_to_provide_it(deb: Path, fake_apt: Path, tmp_path: Path) -> None:
    dest = tmp_path / "downloads"
    with pytest.raises(AssetMissingError) as err:
        fetch_debian_packages(dest, (_source(deb),))
    message = str(err.value)
    for part in ("prose-test=1.0-1", "pool/main/p/prose-test/prose-test_1.0-1_all.deb", sha256_file(deb), str(dest),
                 "snapshot.debian.org", "--corpus pydoc", "was not found"):
        assert part in message


def test_files_put_there_by_hand_are_used_when_they_match(deb: Path, fake_apt: Path, tmp_path: Path) -> None:
    dest = tmp_path / "downloads"
    dest.mkdir()
    shutil.copy(deb, dest / "whatever-name.deb")
    root = fetch_debian_packages(dest, (_source(deb),))
    assert (root / "usr/share/doc/prose-test/words.txt").is_file()
    assert not fake_apt.exists(), "apt must not be asked for a package already there"
