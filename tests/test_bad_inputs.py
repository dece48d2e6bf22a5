"""Fault injection through the real CLI: every bad input ends in one error line, never a crash.

The list is data: each `Case` makes its files, then runs the installed `prover` once. A
clean outcome is a non-zero exit with exactly one `error:` line (or click's own usage
error for an option of the wrong type), no traceback, no signal, no hang (90 s). Every
child runs under a 4 GiB heap cap, so a regression that reads /dev/zero fails here with
MemoryError instead of taking the shared machine's memory.

`python tests/test_bad_inputs.py WORKDIR [ID_PART...]` runs the same list (or the cases
whose id contains an ID_PART) outside pytest against a workdir with fee built and prints
the tally (clean / traceback / crash / hang / accepted / unclear): the figures issue 13
asks for.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import conftest  # run as a script, this file's folder is on sys.path too
import pytest
from conftest import CliResult, run_cli

from prover.evm.node import DEV_PRIVATE_KEY

MEMORY_LIMIT = 4 << 30
TIMEOUT = 90
HUNG = 124  # what timeout(1) exits with
#: click's own report of an option or argument of the wrong type (exit 2, no traceback)
USAGE = re.compile(r"Usage: \S+ .*(Invalid value|Missing (option|argument)|No such option)", re.DOTALL)
#: 8 public inputs and 1 output: a structurally valid fee proof has 9 instances
FEE_INSTANCES = 9
ZERO_FELT = "00" * 32
FEE_INPUT = "[-0.5, -0.25, -0.125, 0.0, 0.0625, 0.125, 0.25, 0.0]"


@dataclass
class Sweep:
    """Where a case makes its files: `built` is shared and read only; `work()` is a private copy."""

    built: Path
    tmp: Path
    made: int = 0

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
        return path

    def work(self, damage: Callable[[Path], None] | None = None) -> Path:
        """A private copy of the fee circuit, damaged by `damage(circuit folder)`."""
        self.made += 1
        target = self.tmp / f"work{self.made}"
        shutil.copytree(self.built / "circuits" / "fee", target / "circuits" / "fee")
        if damage is not None:
            damage(target / "circuits" / "fee")
        return target

    def fifo(self, name: str) -> Path:
        path = self.tmp / name
        if not path.exists():
            os.mkfifo(path)
        return path


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Sweep], list[str | Path]]
    env: dict[str, str] = field(default_factory=dict)


def prove(s: Sweep, input_file: str | Path, *extra: str | Path) -> list[str | Path]:
    return ["prove", "fee", "--input", input_file, "--workdir", s.built, "--out", s.tmp / "unused.proof.json", *extra]


def verify(s: Sweep, proof: str | Path, *extra: str | Path, work: Path | None = None) -> list[str | Path]:
    return ["verify", "fee", "--proof", proof, "--workdir", work or s.built, *extra]


def build(s: Sweep, *extra: str | Path) -> list[str | Path]:
    """`build fee` with bad options, in a private copy (a wrongly accepted option must not touch `built`)."""
    return ["build", "fee", "--workdir", s.work(), *extra]


def build_onnx(s: Sweep, *extra: str | Path, onnx: Path | None = None) -> list[str | Path]:
    """build a user's model (fee's own ONNX, or `onnx`) in a private workdir."""
    onnx = onnx or s.built / "circuits" / "fee" / "network.onnx"
    return ["build", "--onnx", onnx, "--name", "mine", "--workdir", s.tmp / "onnx-work", *extra]


def input_doc(values: str) -> str:
    return '{"input_data": [' + values + "]}"


def proof_doc(proof: str = "[" + ",".join(["0"] * 3072) + "]", instances: str | None = None) -> str:
    """A fee proof file by its parts (JSON text), structurally valid unless a part is not."""
    instances = instances or "[[" + ",".join([f'"{ZERO_FELT}"'] * FEE_INSTANCES) + "]]"
    return '{"instances": ' + instances + ', "proof": ' + proof + "}"


def valid_proof(s: Sweep) -> Path:
    return s.file("zero.proof.json", proof_doc())


def nested(depth: int) -> str:
    return "[" * depth


def huge_int(digits: int = 5000) -> str:
    return "9" * digits


def ok_input(s: Sweep) -> Path:
    return s.file("ok.json", input_doc(FEE_INPUT))


def big_input(s: Sweep, digits: int = 5000, sign: str = "") -> Path:
    """An input whose first value is an integer of `digits` digits."""
    return s.file(f"big{sign}{digits}.json", input_doc(f"[{sign}{huge_int(digits)},0,0,0,0,0,0,0]"))


def batch(s: Sweep, *extra: str | Path, inputs: Path | None = None) -> list[str | Path]:
    """prove-batch over a folder of one good input (or `inputs`)."""
    folder = inputs or s.file("batch/one.json", input_doc(FEE_INPUT)).parent
    return ["prove-batch", "fee", "--inputs", folder, *extra, "--workdir", s.built]


def onchain(s: Sweep, *extra: str, key: str = DEV_PRIVATE_KEY) -> list[str | Path]:
    """verify --onchain a well-formed proof, signing with anvil's public dev key (or `key`)."""
    return verify(s, valid_proof(s), "--onchain", "--private-key", key, *extra)


def damaged(damage: Callable[[Path], None]) -> Callable[[Sweep], list[str | Path]]:
    """verify a structurally valid proof against a damaged copy of the circuit."""
    return lambda s: verify(s, valid_proof(s), work=s.work(damage))


def truncate(name: str, keep: float) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        data = (root / name).read_bytes()
        (root / name).write_bytes(data[: int(len(data) * keep)])

    return damage


def replace(name: str, content: str) -> Callable[[Path], None]:
    return lambda root: (root / name).write_text(content)


def symlink(name: str, to: str) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        (root / name).unlink()
        (root / name).symlink_to(to)

    return damage


def delete(name: str) -> Callable[[Path], None]:
    return lambda root: (root / name).unlink()


def sparse(s: Sweep, name: str, size: int) -> Path:
    path = s.tmp / name
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


CAP_1_MIB = {"PROVER_MAX_JSON_MIB": "1"}

CASES = [
    # --- input files: prove fee --input X -------------------------------------------------
    Case("input: 100k nested [", lambda s: prove(s, s.file("nested.json", nested(100_000)))),
    Case("input: input_data 100k deep", lambda s: prove(s, s.file("n2.json", '{"input_data": ' + nested(100_000)))),
    Case("input: 100k nested objects", lambda s: prove(s, s.file("n3.json", '{"a":' * 100_000))),
    Case("input: 5000-digit int", lambda s: prove(s, big_input(s))),
    Case("input: -5000-digit int", lambda s: prove(s, big_input(s, sign="-"))),
    Case("input: 400-digit int", lambda s: prove(s, big_input(s, 400))),
    Case("input: 1e400", lambda s: prove(s, s.file("e400.json", input_doc("[1e400,0,0,0,0,0,0,0]")))),
    Case("input: NaN", lambda s: prove(s, s.file("nan.json", input_doc("[NaN,0,0,0,0,0,0,0]")))),
    Case("input: -Infinity", lambda s: prove(s, s.file("inf.json", input_doc("[-Infinity,0,0,0,0,0,0,0]")))),
    Case("input: empty file", lambda s: prove(s, s.file("empty.json", ""))),
    Case("input: whitespace", lambda s: prove(s, s.file("ws.json", " \n\t "))),
    Case("input: binary", lambda s: prove(s, s.file("bin.json", b"\x89PNG\r\n\x1a\n" + bytes(range(256))))),
    Case("input: invalid UTF-8", lambda s: prove(s, s.file("u8.json", b'{"input_data": [[0.1]]}\xff\xfe'))),
    Case("input: UTF-8 BOM", lambda s: prove(s, s.file("bom.json", "\ufeff" + input_doc(FEE_INPUT)))),
    Case("input: top-level list", lambda s: prove(s, s.file("list.json", FEE_INPUT))),
    Case("input: null", lambda s: prove(s, s.file("null.json", "null"))),
    Case("input: no input_data", lambda s: prove(s, s.file("nodata.json", '{"data": [' + FEE_INPUT + "]}"))),
    Case("input: input_data object", lambda s: prove(s, s.file("obj.json", '{"input_data": {"a": 1}}'))),
    Case("input: input_data []", lambda s: prove(s, s.file("e1.json", '{"input_data": []}'))),
    Case("input: input_data [[]]", lambda s: prove(s, s.file("e2.json", '{"input_data": [[]]}'))),
    Case("input: strings", lambda s: prove(s, s.file("str.json", input_doc('["0","0","0","0","0","0","0","0"]')))),
    Case("input: lists in lists", lambda s: prove(s, s.file("lol.json", input_doc("[" + FEE_INPUT + "]")))),
    Case("input: nulls", lambda s: prove(s, s.file("nulls.json", input_doc("[null,0,0,0,0,0,0,0]")))),
    Case("input: 7 values", lambda s: prove(s, s.file("seven.json", input_doc("[0,0,0,0,0,0,0]")))),
    Case("input: 9 values", lambda s: prove(s, s.file("nine.json", input_doc("[0,0,0,0,0,0,0,0,0]")))),
    Case("input: two inputs", lambda s: prove(s, s.file("two.json", input_doc(FEE_INPUT + "," + FEE_INPUT)))),
    Case("input: out of range", lambda s: prove(s, s.file("range.json", input_doc("[1e6,0,0,0,0,0,0,0]")))),
    Case(
        "input: over the size cap",
        lambda s: prove(s, s.file("padded.json", input_doc(FEE_INPUT) + " " * (2 << 20))),
        CAP_1_MIB,
    ),
    Case("input: 300 MiB sparse file", lambda s: prove(s, sparse(s, "sparse.json", 300 << 20))),
    Case("input: /dev/zero", lambda s: prove(s, "/dev/zero")),
    Case("input: /dev/null", lambda s: prove(s, "/dev/null")),
    Case("input: a folder", lambda s: prove(s, s.tmp)),
    Case("input: a FIFO", lambda s: prove(s, s.fifo("input.fifo"))),
    Case("input: missing file", lambda s: prove(s, s.tmp / "nope.json")),
    Case("input: symlink to /dev/zero", lambda s: prove(s, s.tmp / "zero-link.json"), {}),
    Case("input: empty path", lambda s: prove(s, "")),
    # --- proof files: verify fee --proof X ------------------------------------------------
    Case("proof: 100k nested [", lambda s: verify(s, s.file("pnested.json", nested(100_000)))),
    Case("proof: 100k nested [ --onchain", lambda s: verify(s, s.file("pnested.json", nested(100_000)), "--onchain")),
    Case("proof: 5000-digit int in proof", lambda s: verify(s, s.file("pbig.json", proof_doc(f"[{huge_int()}]")))),
    Case(
        "proof: 5000-digit int in instances",
        lambda s: verify(s, s.file("pibig.json", proof_doc(instances=f"[[{huge_int()}]]"))),
    ),
    Case("proof: integer instances", lambda s: verify(s, s.file("pint.json", proof_doc(instances="[[1,2,3]]")))),
    Case("proof: instances a string", lambda s: verify(s, s.file("pstr.json", proof_doc(instances='"x"')))),
    Case("proof: instance not hex", lambda s: verify(s, s.file("phex.json", proof_doc(instances='[["zz"]]')))),
    Case("proof: proof an object", lambda s: verify(s, s.file("pobj.json", proof_doc('{"a": 1}')))),
    Case("proof: proof null", lambda s: verify(s, s.file("pnull.json", proof_doc("null")))),
    Case("proof: byte 256", lambda s: verify(s, s.file("p256.json", proof_doc("[256, 0]")))),
    Case("proof: NaN byte", lambda s: verify(s, s.file("pnan.json", proof_doc("[NaN, 0]")))),
    Case("proof: top-level list", lambda s: verify(s, s.file("plist.json", "[1, 2]"))),
    Case("proof: empty file", lambda s: verify(s, s.file("pempty.json", ""))),
    Case("proof: /dev/zero", lambda s: verify(s, "/dev/zero")),
    Case("proof: a folder", lambda s: verify(s, s.tmp)),
    Case("proof: a FIFO", lambda s: verify(s, s.fifo("proof.fifo"))),
    Case("proof: missing file", lambda s: verify(s, s.tmp / "nope.proof.json")),
    Case(
        "proof: over the size cap",
        lambda s: verify(s, s.file("ppad.json", proof_doc() + " " * (2 << 20))),
        CAP_1_MIB,
    ),
    # --- a damaged circuit: verify a well-formed proof ------------------------------------
    Case("circuit: settings.json deleted", damaged(delete("settings.json"))),
    Case("circuit: settings.json empty", damaged(replace("settings.json", ""))),
    Case("circuit: settings.json {}", damaged(replace("settings.json", "{}"))),
    Case("circuit: settings.json nested", damaged(replace("settings.json", nested(100_000)))),
    Case("circuit: settings.json -> /dev/zero", damaged(symlink("settings.json", "/dev/zero"))),
    Case("circuit: key.vk truncated", damaged(truncate("key.vk", 0.5))),
    Case("circuit: key.vk empty", damaged(truncate("key.vk", 0))),
    Case("circuit: key.vk deleted", damaged(delete("key.vk"))),
    Case("circuit: manifest nested", damaged(replace("manifest.json", nested(100_000)))),
    Case("circuit: manifest -> /dev/zero", damaged(symlink("manifest.json", "/dev/zero"))),
    Case("circuit: manifest 5000-digit int", damaged(replace("manifest.json", f'{{"schema_version": {huge_int()}}}'))),
    # --- where results go -----------------------------------------------------------------
    Case("out: prove --out a folder", lambda s: prove(s, ok_input(s), "--out", s.tmp)),
    Case("out: prove --out under a file", lambda s: prove(s, ok_input(s), "--out", "/dev/null/p.json")),
    Case("out: prove --out in /proc", lambda s: prove(s, ok_input(s), "--out", "/proc/p.json")),
    Case("out: example --out a folder", lambda s: ["example", "fee", "--out", s.tmp]),
    Case("out: example --out under a file", lambda s: ["example", "fee", "--out", "/dev/null/x.json"]),
    Case("out: example --out in /proc", lambda s: ["example", "fee", "--out", "/proc/x.json"]),
    Case("out: example --out ''", lambda s: ["example", "fee", "--out", ""]),
    Case("out: prove-batch --out a file", lambda s: batch(s, "--out", s.file("f", "x"))),
    # --- names ------------------------------------------------------------------------------
    Case("name: upper case", lambda s: ["prove", "FEE", "--input", "x.json", "--workdir", s.built]),
    Case("name: ../etc", lambda s: ["prove", "../etc", "--input", "x.json", "--workdir", s.built]),
    Case("name: empty", lambda s: ["prove", "", "--input", "x.json", "--workdir", s.built]),
    Case("name: 41 characters", lambda s: ["inspect", "a" * 41, "--workdir", s.built]),
    Case("name: fee/../fee", lambda s: ["inspect", "fee/../fee", "--workdir", s.built]),
    Case("name: build 'bad name!'", lambda s: ["build", "bad name!", "--workdir", s.tmp / "w"]),
    Case("name: unknown model", lambda s: ["example", "nosuch"]),
    Case("name: --onnx --name ''", lambda s: build_onnx(s, "--name", "", "--data", ok_input(s))),
    # --- numbers and choices for options -------------------------------------------------
    Case("option: --index -1", lambda s: ["example", "fee", "--index", "-1", "--out", s.tmp / "x.json"]),
    Case("option: --index 10**6", lambda s: ["example", "fee", "--index", "1000000", "--out", s.tmp / "x.json"]),
    Case("option: --index abc", lambda s: ["example", "fee", "--index", "abc"]),
    Case("option: --index 10**30", lambda s: ["example", "fee", "--index", "1" + "0" * 30, "--out", s.tmp / "x.json"]),
    Case("option: --max-rel-error -1", lambda s: build(s, "--max-rel-error", "-1")),
    Case("option: --max-rel-error nan", lambda s: build(s, "--max-rel-error", "nan")),
    Case("option: --max-error inf", lambda s: build(s, "--max-error", "inf")),
    Case("option: --tune-budget -5", lambda s: build(s, "--tune-budget", "-5")),
    Case("option: --tune-budget inf", lambda s: build(s, "--tune-budget", "inf")),
    Case("option: --max-logrows 100", lambda s: build(s, "--max-logrows", "100")),
    Case("option: --max-logrows x", lambda s: build(s, "--max-logrows", "x")),
    Case("option: --min-agreement 2", lambda s: build(s, "--min-agreement", "2")),
    Case("option: --objective nope", lambda s: build(s, "--objective", "nope")),
    Case("option: --coverage nope", lambda s: build(s, "--coverage", "nope")),
    Case("option: --settings nope", lambda s: build(s, "--settings", "nope")),
    Case("option: --input-visibility nope", lambda s: build(s, "--input-visibility", "nope")),
    Case("option: --memory-limit abc", lambda s: batch(s, "--memory-limit", "abc")),
    Case("option: --memory-limit -5G", lambda s: batch(s, "--memory-limit", "-5G")),
    Case("option: --workers 0", lambda s: batch(s, "--workers", "0")),
    Case("option: --workers -3", lambda s: batch(s, "--workers", "-3")),
    Case("option: --inputs missing", lambda s: batch(s, inputs=s.tmp / "nope")),
    Case("option: --inputs a file", lambda s: batch(s, inputs=s.file("f2", "x"))),
    Case("option: --inputs empty folder", lambda s: batch(s, inputs=s.file("emptydir/.keep", "").parent)),
    Case("option: --rpc-url notaurl", lambda s: onchain(s, "--rpc-url", "notaurl")),
    Case("option: --rpc-url refused", lambda s: onchain(s, "--rpc-url", "http://127.0.0.1:1")),
    Case("option: --private-key 0x123", lambda s: onchain(s, "--rpc-url", "http://127.0.0.1:1", key="0x123")),
    # --- workdirs and model files -------------------------------------------------------------
    Case("workdir: missing", lambda s: ["prove", "fee", "--input", "x.json", "--workdir", s.tmp / "nowhere"]),
    Case("workdir: a file", lambda s: ["prove", "fee", "--input", "x.json", "--workdir", s.file("wf", "x")]),
    Case("build: --onnx missing", lambda s: build_onnx(s, "--data", ok_input(s), onnx=s.tmp / "no.onnx")),
    Case("build: --onnx a folder", lambda s: build_onnx(s, "--data", ok_input(s), onnx=s.tmp)),
    Case("build: --data 100k nested", lambda s: build_onnx(s, "--data", s.file("nested.json", nested(100_000)))),
    Case("build: --data 5000-digit int", lambda s: build_onnx(s, "--data", big_input(s))),
    Case("build: --data /dev/zero", lambda s: build_onnx(s, "--data", "/dev/zero")),
    Case("build: --data a FIFO", lambda s: build_onnx(s, "--data", s.fifo("data.fifo"))),
    Case("build: --holdout 5000-digit int", lambda s: build_onnx(s, "--data", ok_input(s), "--holdout", big_input(s))),
    Case("build: --onnx /dev/zero", lambda s: build_onnx(s, "--data", ok_input(s), onnx=Path("/dev/zero"))),
    Case("build: --onnx a FIFO", lambda s: build_onnx(s, "--data", ok_input(s), onnx=s.fifo("model.fifo"))),
    Case("build: --decision for a reference model", lambda s: build(s, "--decision", "threshold:abc")),
    Case("build: --srs /dev/zero", lambda s: build(s, "--srs", "/dev/zero")),
    Case("build: --srs a folder", lambda s: build(s, "--srs", s.tmp)),
]


def prepare(s: Sweep) -> None:
    """Files several cases share."""
    link = s.tmp / "zero-link.json"
    if not link.is_symlink():
        link.symlink_to("/dev/zero")


def run_case(case: Case, s: Sweep) -> CliResult:
    """One case through the real CLI, capped in memory and time (a hang is exit `HUNG`)."""
    try:
        return run_cli(*case.args(s), env=case.env, timeout=TIMEOUT, memory_limit=MEMORY_LIMIT)
    except subprocess.TimeoutExpired:
        return CliResult(HUNG, "", f"still running after {TIMEOUT} s")


def outcome(result: CliResult) -> str:
    """clean | traceback | crash (a signal, MemoryError) | hang | accepted (exit 0) | unclear."""
    text = result.stdout + result.stderr
    if result.code == HUNG:
        return "hang"
    if result.code < 0 or result.code >= 128 or "MemoryError" in text:
        return "crash"
    if "Traceback" in text:
        return "traceback"
    if result.code == 0:
        return "accepted"
    if len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1:
        return "clean"
    if result.code == 2 and USAGE.search(result.stderr):
        return "clean"
    return "unclear"


@pytest.fixture(scope="module")
def sweep(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    s = Sweep(built, tmp_path_factory.mktemp("bad-inputs"))
    prepare(s)
    return s


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_clean_error(case: Case, sweep: Sweep) -> None:
    """Whatever a user (or an attacker) hands the CLI, the answer is one line and a non-zero exit."""
    result = run_case(case, sweep)
    assert outcome(result) == "clean", (result.code, result.stderr[-3000:])


def test_the_sweep_is_large_and_its_ids_unique() -> None:
    """The tally is only meaningful if every case is a different attempt."""
    assert len(CASES) >= 100
    assert len({case.id for case in CASES}) == len(CASES)


def main(workdir: Path, only: list[str]) -> None:
    """Run every case (or those whose id contains one of `only`) against `workdir` (fee
    built) and print each outcome and the tally. `$PROVER_CLI` names another `prover`
    executable (an older checkout, for a before/after)."""
    if os.environ.get("PROVER_CLI"):
        conftest.PROVER = Path(os.environ["PROVER_CLI"])
    cases = [case for case in CASES if not only or any(part in case.id for part in only)]
    tally: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as scratch:
        s = Sweep(workdir.resolve(), Path(scratch))
        prepare(s)
        for case in cases:
            result = run_case(case, s)
            kind = outcome(result)
            tally[kind] += 1
            last = (result.stderr.strip().splitlines() or [""])[-1][:110]
            print(f"{kind:9} {result.code:4}  {case.id:40} {last}", flush=True)
    kinds = ("clean", "traceback", "crash", "hang", "accepted", "unclear")
    print(f"{len(cases)} bad inputs: " + ", ".join(f"{tally[kind]} {kind}" for kind in kinds))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
