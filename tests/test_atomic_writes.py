"""Writes that fail (a full disk, a folder in the way, no such folder) are one error line,
leave no temp file and keep the file that was there.

The library is tested with a failing system call patched in; the CLI on a real full
disk: a 16 KiB tmpfs in a private mount namespace (`unshare -m`, skipped where the
machine does not allow it).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import PROVER, run_cli

from prover import artifacts
from prover.artifacts import write_json_atomic
from prover.errors import WriteError


def disk_full(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def old_target(tmp_path: Path) -> Path:
    target = tmp_path / "out" / "result.json"
    write_json_atomic(target, {"old": True})
    return target


def assert_untouched(target: Path) -> None:
    """The old content is there and nothing else is beside it."""
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.mark.parametrize("where", ["write", "replace"])
def test_full_disk_is_one_error_and_keeps_the_old_file(
    old_target: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """ENOSPC while writing the temp file or moving it into place: WriteError, old file intact."""
    if where == "write":
        monkeypatch.setattr(Path, "write_text", disk_full)
    else:
        monkeypatch.setattr(artifacts.os, "replace", disk_full)
    with pytest.raises(WriteError, match="No space left on device") as caught:
        write_json_atomic(old_target, {"new": True})
    assert str(old_target) in caught.value.message and caught.value.hint
    monkeypatch.undo()
    assert_untouched(old_target)


def test_a_folder_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    """--out naming a folder must not be replaced by, or filled with, anything."""
    with pytest.raises(WriteError, match="it is a folder"):
        write_json_atomic(tmp_path, {"x": 1})
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="is a file, not a folder"):
        write_json_atomic(tmp_path / "file" / "out.json", {"x": 1})


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="no private mount namespace here (unshare -m)")
@pytest.mark.parametrize("command", ["example", "prove"])
def test_cli_on_a_full_disk(built: Path, tmp_path: Path, command: str) -> None:
    """A real ENOSPC through the real CLI: one `error:` line, exit 2, old file and folder as they were."""
    disk = tmp_path / "disk"
    disk.mkdir()
    good_input = tmp_path / "in.json"
    assert run_cli("example", "fee", "--out", good_input).code == 0
    target = disk / "result.json"
    args = {
        "example": [PROVER, "example", "fee", "--out", target],
        "prove": [PROVER, "prove", "fee", "--input", good_input, "--out", target, "--workdir", built],
    }[command]
    script = (
        f"mount -t tmpfs -o size=16k none {disk} && echo old > {target} "
        f"&& (head -c 65536 /dev/zero > {disk}/filler; true) "
        f'&& {" ".join(map(str, args))}; echo "exit=$?"; cat {target}; ls -a {disk}'
    )
    completed = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=300,
        check=False,
    )
    out, err = completed.stdout, completed.stderr
    assert "exit=2" in out, (out, err)
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] != [], err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
    listing = out.split("exit=2", 1)[1].split()
    assert listing[0] == "old", out  # the old file's content
    assert sorted(listing[1:]) == [".", "..", "filler", "result.json"], out  # no temp file, no witness
