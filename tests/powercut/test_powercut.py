"""Power cuts, not only kill -9: the daemon's data directory on a file system that forgets unsynced writes.

The model (:mod:`lazyfs`) is checked first on its own, then the whole system is cut at every fsync
boundary of one receipt's life and at random points under load (see :mod:`powercut_run`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from powercut_system import PowerCutSystem

SHORT_CUTS = 10
BUDGET_S = 180  # the short run's target on a quiet 2-core machine; the hard limit is TIMEOUT_S
TIMEOUT_S = 360


def _missing() -> str | None:
    """What this machine lacks to mount a FUSE file system, or None."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse"
    if shutil.which("fusermount3") is None:
        return "fusermount3 (Debian fuse3)"
    try:
        import mfusepy  # noqa: F401 -- only whether it loads (it needs libfuse3)
    except (ImportError, OSError) as exc:
        return f"mfusepy with libfuse3 ({exc})"
    return None


@pytest.fixture(scope="module")
def fuse_ready() -> None:
    """Skip locally without FUSE; under CI=true a missing prerequisite is a failure (scripts/test installs it)."""
    missing = _missing()
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the power-cut suite needs {missing}; scripts/test installs it")
    pytest.skip(f"needs {missing}")


@pytest.fixture
def mounted(tmp_path: Path, fuse_ready: None) -> Iterator[PowerCutSystem]:
    """Only the LazyFS mount (no daemon): ``data`` over ``disk``."""
    system = PowerCutSystem(tmp_path)
    system.disk.mkdir()
    system.data.mkdir()
    system.mount()
    try:
        yield system
    finally:
        system.unmount()


def _write(path: Path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut(system: PowerCutSystem, tear: bool = False) -> dict[str, int]:
    system.control_fs(cmd="freeze")
    figures = system.control_fs(cmd="cut", tear=tear, seed=3)
    system.unmount()
    return figures


def test_unsynced_bytes_are_lost_at_a_cut(mounted: PowerCutSystem) -> None:
    """Bytes written without fsync are gone after the cut; the synced ones and a synced directory entry stay."""
    _write(mounted.data / "a", b"kept", sync=True)
    _sync_dir(mounted.data)
    _write(mounted.data / "a", b"LOST" * 2000, sync=False)
    assert (mounted.data / "a").read_bytes()[:4] == b"LOST"
    _cut(mounted)
    assert (mounted.disk / "a").read_bytes() == b"kept"


def test_a_rename_without_a_directory_fsync_is_undone(mounted: PowerCutSystem) -> None:
    """A synced file renamed over another without fsyncing the directory: after the cut the old name is back."""
    _write(mounted.data / "target", b"old", sync=True)
    _write(mounted.data / "new.tmp", b"new", sync=True)
    _sync_dir(mounted.data)
    (mounted.data / "new.tmp").replace(mounted.data / "target")
    _cut(mounted)
    assert (mounted.disk / "target").read_bytes() == b"old"
    assert (mounted.disk / "new.tmp").read_bytes() == b"new"


def test_a_created_file_needs_its_directory_synced(mounted: PowerCutSystem) -> None:
    """A new file, even fsync'd, does not survive unless its directory was fsync'd too (POSIX)."""
    _write(mounted.data / "fresh", b"data", sync=True)
    _cut(mounted)
    assert not (mounted.disk / "fresh").exists()


def test_a_torn_cut_keeps_whole_sectors_of_the_last_page(mounted: PowerCutSystem) -> None:
    """With tearing, a prefix of whole 512-byte sectors of the last unsynced page reaches the disk."""
    _write(mounted.data / "p", b"\0" * 4096, sync=True)
    _sync_dir(mounted.data)
    _write(mounted.data / "p", b"\xff" * 4096, sync=False)
    torn = _cut(mounted, tear=True)["torn_bytes"]
    data = (mounted.disk / "p").read_bytes()
    assert torn % 512 == 0
    assert 0 < torn < 4096
    assert data == b"\xff" * torn + b"\0" * (4096 - torn)


@pytest.mark.slow  # selectable with -m "not slow" locally; scripts/test (CI) runs every test
@pytest.mark.timeout(TIMEOUT_S + 60)
def test_power_cuts_keep_every_invariant(tmp_path: Path, fuse_ready: None) -> None:
    """Cuts at every fsync of one receipt's life and 10 random ones under load: every invariant holds."""
    soak = Path(__file__).resolve().parents[2] / "scripts" / "soak"
    args = ["--power-cut", "--cuts", str(SHORT_CUTS), "--settle-s", "60", "--dir", str(tmp_path / "run")]
    proc = subprocess.Popen(
        [sys.executable, str(soak), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.terminate()  # scripts/soak stops its processes and unmounts on SIGTERM
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"the power-cut run took more than {TIMEOUT_S} s:\n{out}")
    assert proc.returncode == 0, out
    assert "violations after cuts                          0" in out
    assert f"cuts at random points under load               {SHORT_CUTS}" in out
    walked = re.search(r"cuts at fsync boundaries of one receipt's life\s+(\d+)", out)
    assert walked is not None
    # one boundary per commit of the receipt's life (intake, intent, fiscal result, export…) and one per
    # sync of the head record (at most every half second since it stopped being synced before each answer)
    assert int(walked.group(1)) >= 5, out
