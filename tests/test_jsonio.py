"""The one reader of outside JSON: depth, size, kind of file and digits are bounded before parsing.

These run in-process and in a child (the recursion limit is a process-wide setting), and
check the reader's own promises; test_bad_inputs.py drives the same files through the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from prover.consumers.digits import read_pixels
from prover.datasets import read_input_file
from prover.errors import InputError, ProverError
from prover.jsonio import (
    MAX_JSON_DEPTH,
    MAX_JSON_ENV,
    SANE_RECURSION_LIMIT,
    json_depth,
    max_json_bytes,
    parse_json,
    read_json,
)
from prover.proving.proofs import read_proof


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [[1], {"b": []}]}', 4),
        ('["[[[[[[", "]]]"]', 1),  # brackets inside strings do not count
        (r'["\"[[[[", {"k\\": [[]]}]', 4),  # nor after escaped quotes
        ("[" * 100_000, 100_000),
    ],
)
def test_depth_is_counted_outside_strings(text: str, depth: int) -> None:
    """The depth check must agree with the parser's view of the text, or it refuses good files."""
    assert json_depth(text.encode()) == depth


def test_depth_is_counted_across_scan_chunks() -> None:
    """The scan works in chunks; nesting that spans one chunk's end must still add up."""
    data = b" " * ((1 << 24) - 3) + b"[" * 70 + b"]" * 70
    assert json_depth(data) == 70


def test_deep_json_is_refused_before_parsing() -> None:
    """100k brackets would overflow the C stack under web3's recursion limit: refuse by depth."""
    with pytest.raises(InputError, match=f"nests 100000 levels deep, more than the {MAX_JSON_DEPTH}"):
        parse_json(b"[" * 100_000, "input file x", InputError)
    assert parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, "ok") == _nested_list(MAX_JSON_DEPTH)


def _nested_list(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_huge_integer_is_one_line_error() -> None:
    """CPython refuses to parse ints over 4300 digits with a bare ValueError; say what it is."""
    with pytest.raises(ProverError, match="integer too long"):
        parse_json(b"[" + b"9" * 5000 + b"]", "proof file p")
    assert parse_json(b"[" + b"9" * 4000 + b"]", "ok") == [int("9" * 4000)]


def test_nan_and_infinity_are_parsed_for_the_input_checks() -> None:
    """ezkl writes NaN/Infinity; the input checks name them, so the reader must let them through."""
    values = parse_json(b"[NaN, Infinity, -Infinity]", "ok")
    assert [str(v) for v in values] == ["nan", "inf", "-inf"]


def test_size_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A file over the cap is refused before it is read; the cap is configurable, in MiB."""
    monkeypatch.delenv(MAX_JSON_ENV, raising=False)
    assert max_json_bytes() == 256 << 20
    big = tmp_path / "big.json"
    big.write_text("[" + " " * (2 << 20) + "]")
    monkeypatch.setenv(MAX_JSON_ENV, "1")
    with pytest.raises(InputError, match="larger than the 1 MiB allowed") as caught:
        read_json(big, "input file", InputError)
    assert MAX_JSON_ENV in caught.value.hint
    monkeypatch.setenv(MAX_JSON_ENV, "3")
    assert read_json(big, "input file", InputError) == []
    monkeypatch.setenv(MAX_JSON_ENV, "lots")
    with pytest.raises(ProverError, match="is not a size"):
        read_json(big, "input file", InputError)


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "missing"])
def test_only_regular_files_are_read(kind: str, tmp_path: Path) -> None:
    """/dev/zero never ends and a FIFO blocks forever: neither is ever read."""
    path = {"folder": tmp_path, "device": Path("/dev/zero"), "missing": tmp_path / "nope.json"}.get(
        kind, tmp_path / "pipe"
    )
    if kind == "fifo":
        os.mkfifo(path)
    expected = {"folder": "is a folder", "fifo": "not a regular file", "device": "not a regular file"}
    with pytest.raises(InputError, match=expected.get(kind, "does not exist")):
        read_json(path, "input file", InputError)


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"input_data": [[1.5, 2]]}))
    assert read_json(path, "input file") == {"input_data": [[1.5, 2]]}


def test_importing_the_chain_client_restores_a_sane_recursion_limit() -> None:
    """py_ecc (through web3) sets 100000: deep enough for C recursion to segfault first."""
    code = "import sys, prover.evm.client; print(sys.getrecursionlimit())"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(completed.stdout) == SANE_RECURSION_LIMIT


@pytest.mark.parametrize("reader", ["input file", "image file", "proof file"])
@pytest.mark.parametrize("content", ["100k nested", "5000-digit int", "/dev/zero"])
def test_every_reader_of_outside_json_goes_through_the_bounded_reader(
    built: Path, tmp_path: Path, reader: str, content: str
) -> None:
    """Input files, a digit image for the label book and proof files: one line for each
    hostile file, never RecursionError, ValueError or an endless read."""
    path = Path("/dev/zero") if content == "/dev/zero" else tmp_path / "hostile.json"
    if content == "100k nested":
        path.write_text("[" * 100_000)
    elif content == "5000-digit int":
        path.write_text('{"pixels": [' + "9" * 5000 + '], "input_data": [[' + "9" * 5000 + "]]}")
    read: dict[str, Callable[[], object]] = {
        "input file": lambda: read_input_file(path),
        "image file": lambda: read_pixels(path),
        "proof file": lambda: read_proof(path, built / "circuits" / "fee" / "settings.json", "fee"),
    }
    with pytest.raises(ProverError) as caught:
        read[reader]()
    assert "\n" not in caught.value.message


def test_an_image_with_an_integer_too_large_for_a_float_is_refused(tmp_path: Path) -> None:
    """400 digits parse as a Python int, then overflow numpy's float: still one InputError."""
    path = tmp_path / "image.json"
    path.write_text('{"pixels": [' + "9" * 400 + "]}")
    with pytest.raises(InputError, match="pixels must be a flat list of 64 numbers"):
        read_pixels(path)
