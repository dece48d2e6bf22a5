"""The suite's three runs of one model, each step a child process with a timeout.

- reference: onnxruntime on input.json (the truth both pipelines are measured against);
- ezkl: plain ezkl, gen_settings -> calibrate -> compile -> SRS -> setup -> witness ->
  prove -> verify, the baseline a user gets without the toolkit;
- prover: the toolkit's CLI as a user runs it, build -> inspect -> prove -> verify.

Why children: a segfault, a Rust abort, the OOM killer or a hang in one model must be
that model's one-line error, never the end of the suite. Nothing here imports ezkl,
torch or onnx; the parent stays small and cannot be taken down by them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STEPS_SCRIPT = Path(__file__).with_name("onnx_suite_steps.py")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Context:
    """What every step needs: where the interpreter and the CLI are, the limits, the env."""

    python: str
    prover: list[str]
    timeout: float
    env: dict[str, str]
    #: told one line as each step finishes ("    ezkl   prove   3.1 s  ok"); None: quiet
    log: Callable[[str], None] | None = None


@dataclass
class Outcome:
    """One child: its JSON result (steps) or stdout (CLI), or why it failed, in one line."""

    ok: bool
    value: dict[str, Any]
    error: str | None
    seconds: float
    code: int | None = None
    hint: str | None = None


def _signal_name(code: int) -> str:
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return name + (" (out of memory?)" if -code == signal.SIGKILL else "")


def _spawn(command: list[str], ctx: Context, cwd: Path | None = None) -> tuple[int | None, str, str, float, str | None]:
    """Run `command` in its own process group; on timeout kill that group (and only it)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=ctx.env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=ctx.timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return None, stdout, stderr, time.perf_counter() - start, f"timed out after {ctx.timeout:.0f} s"
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return process.returncode, stdout, stderr, time.perf_counter() - start, None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"


def run_step(step: str, args: dict[str, Any], ctx: Context, scratch: Path) -> Outcome:
    """One step of onnx_suite_steps.py in a fresh interpreter; its result file is the answer."""
    scratch.mkdir(parents=True, exist_ok=True)
    result = scratch / f".{step}.result.json"
    result.unlink(missing_ok=True)
    args = {**args, "result": str(result), "log": str(scratch / "ezkl.log")}
    code, _, stderr, seconds, timeout = _spawn([ctx.python, str(STEPS_SCRIPT), step, json.dumps(args)], ctx)
    if timeout is not None:
        return Outcome(False, {}, timeout, seconds)
    if code is not None and code < 0:
        return Outcome(False, {}, f"crashed: {_signal_name(code)}", seconds, code)
    if not result.exists():
        return Outcome(False, {}, f"exit {code}: {_last_line(stderr)}", seconds, code)
    document = json.loads(result.read_text())
    if not document.pop("ok"):
        return Outcome(False, {}, document["error"], seconds, code)
    return Outcome(True, document, None, seconds, code)


def run_cli(arguments: list[str], ctx: Context, transcript: Path) -> Outcome:
    """The toolkit's CLI; its `error:` line (and `hint:`) when it fails, else stdout's JSON.

    The whole exchange goes to `transcript`, so a one-line failure can be read in full.
    """
    command = [*ctx.prover, *arguments]
    code, stdout, stderr, seconds, timeout = _spawn(command, ctx)
    transcript.parent.mkdir(parents=True, exist_ok=True)
    transcript.write_text(
        f"$ {shlex.join(command)}\n# exit {code}, {seconds:.1f} s{', ' + timeout if timeout else ''}\n"
        f"## stderr\n{stderr}\n## stdout\n{stdout}"
    )
    if timeout is not None:
        return Outcome(False, {}, timeout, seconds)
    if code is not None and code < 0:
        return Outcome(False, {}, f"crashed: {_signal_name(code)}", seconds, code)
    text = ANSI.sub("", stderr)
    error = next((line.strip()[6:].strip() for line in text.splitlines() if line.strip().startswith("error:")), None)
    hint = next((line.strip()[5:].strip() for line in text.splitlines() if line.strip().startswith("hint:")), None)
    if code != 0:
        if error is None:
            kind = "traceback" if "Traceback (most recent call last)" in text else f"exit {code}"
            error = f"{kind}: {_last_line(text)}"
        return Outcome(False, {}, error, seconds, code, hint)
    value: dict[str, Any] = {}
    if stdout.strip():
        try:
            value = json.loads(stdout)
        except json.JSONDecodeError:
            return Outcome(False, {}, f"stdout is not JSON: {_last_line(stdout)}", seconds, code)
    return Outcome(True, value, None, seconds, code, hint)


def reference(folder: Path, ctx: Context, scratch: Path) -> dict[str, Any]:
    outcome = run_step(
        "reference", {"onnx": str(folder / "network.onnx"), "input": str(folder / "input.json")}, ctx, scratch
    )
    return {"ok": outcome.ok, "error": outcome.error, **outcome.value}


def _empty() -> dict[str, Any]:
    return {
        "built": False,
        "proved": False,
        "verified": False,
        "error": None,
        "failed_step": None,
        "logrows": None,
        "pk_bytes": None,
        "build_s": None,
        "prove_s": None,
        "outputs": None,
    }


def _fail(row: dict[str, Any], step: str, outcome: Outcome) -> dict[str, Any]:
    row["failed_step"] = step
    row["error"] = f"{step}: {outcome.error}"
    if outcome.hint:
        row["hint"] = outcome.hint
    return row


def ezkl_pipeline(folder: Path, calibration: Path, ctx: Context, work: Path) -> dict[str, Any]:
    """Plain ezkl from settings to a verified proof, files under `work` (fresh each run)."""
    row = _empty()
    files = {
        "onnx": str(folder / "network.onnx"),
        "settings": str(work / "settings.json"),
        "compiled": str(work / "network.compiled"),
        "pk": str(work / "pk.key"),
        "vk": str(work / "vk.key"),
        "witness": str(work / "witness.json"),
        "proof": str(work / "proof.json"),
    }
    build_s = 0.0
    plan: list[tuple[str, dict[str, Any]]] = [
        ("gen_settings", {}),
        ("calibrate", {"data": str(calibration)}),
        ("compile", {}),
        ("srs", {}),
        ("setup", {}),
    ]
    for step, extra in plan:
        outcome = run_step(step, {**files, **extra}, ctx, work)
        _note(ctx, "ezkl", step, outcome)
        if not outcome.ok:
            return _fail(row, step, outcome)
        build_s += outcome.seconds
        if step == "gen_settings":
            row["symbols"] = outcome.value["symbols"]
        elif step == "calibrate":
            row["settings"] = outcome.value
            row["logrows"] = outcome.value["logrows"]
        elif step == "srs":
            files["srs"] = outcome.value["srs"]
        elif step == "setup":
            row["pk_bytes"] = outcome.value["pk_bytes"]
    row["built"], row["build_s"] = True, round(build_s, 2)
    outcome = run_step("witness", {**files, "data": str(folder / "input.json")}, ctx, work)
    _note(ctx, "ezkl", "witness", outcome)
    if not outcome.ok:
        return _fail(row, "witness", outcome)
    row["outputs"] = outcome.value["outputs"]
    outcome = run_step("prove", files, ctx, work)
    _note(ctx, "ezkl", "prove", outcome)
    if not outcome.ok:
        return _fail(row, "prove", outcome)
    row["proved"], row["prove_s"] = True, round(outcome.value["seconds"], 4)
    outcome = run_step("verify", files, ctx, work)
    _note(ctx, "ezkl", "verify", outcome)
    if not outcome.ok:
        return _fail(row, "verify", outcome)
    row["verified"] = bool(outcome.value["verified"])
    if not row["verified"]:
        row["failed_step"], row["error"] = "verify", "verify: the proof does not verify"
    return row


def prover_pipeline(folder: Path, calibration: Path, name: str, ctx: Context, workdir: Path) -> dict[str, Any]:
    """`prover build --onnx` with default (tuned) settings, then inspect, prove and verify."""
    row = _empty()
    row["circuit"] = name
    where = ["--workdir", str(workdir)]
    build = ["build", "--onnx", str(folder / "network.onnx"), "--name", name, "--data", str(calibration)]

    def logs(step: str) -> Path:
        return workdir / "logs" / f"{name}.{step}.log"

    outcome = run_cli([*build, *where, "--json"], ctx, logs("build"))
    _note(ctx, "prover", "build", outcome)
    row["build_s"] = round(outcome.seconds, 2)
    if not outcome.ok:
        return _fail(row, "build", outcome)
    row["built"] = True
    row["logrows"] = outcome.value.get("logrows")
    row["layout"] = outcome.value.get("layout")
    row["fidelity"] = outcome.value.get("fidelity")
    inspect = run_cli(["inspect", name, *where, "--json"], ctx, logs("inspect"))
    if inspect.ok:
        row["pk_bytes"] = inspect.value.get("pk_bytes")
        row["logrows"] = inspect.value.get("logrows", row["logrows"])
    proof = workdir / "proofs" / f"{name}.proof.json"
    outcome = run_cli(
        ["prove", name, "--input", str(folder / "input.json"), "--out", str(proof), *where, "--json"],
        ctx,
        logs("prove"),
    )
    _note(ctx, "prover", "prove", outcome)
    if not outcome.ok:
        return _fail(row, "prove", outcome)
    row["proved"] = True
    row["prove_s"] = outcome.value.get("prove_seconds")
    row["outputs"] = outcome.value.get("outputs")
    outcome = run_cli(["verify", name, "--proof", str(proof), *where], ctx, logs("verify"))
    _note(ctx, "prover", "verify", outcome)
    if outcome.ok:
        row["verified"] = True
    elif outcome.code == 1 and outcome.error and "does not verify" in outcome.error:
        row["failed_step"], row["error"] = "verify", "verify: the proof does not verify"
    else:
        return _fail(row, "verify", outcome)
    return row


def _note(ctx: Context, pipeline: str, step: str, outcome: Outcome) -> None:
    if ctx.log is not None:
        state = "ok" if outcome.ok else f"FAILED: {outcome.error}"
        ctx.log(f"    {pipeline:<6} {step:<12} {outcome.seconds:7.1f} s  {state}")


def output_errors(outputs: list[list[float]] | None, ref: list[list[float]] | None) -> dict[str, Any]:
    """Error against onnxruntime: per output tensor max |diff|, and that relative to the
    tensor's own magnitude (max |reference|, floored at 1e-6); the pipeline's figure is the
    worst tensor. Relative per tensor, so a small output is not hidden by a large one."""
    if outputs is None or ref is None:
        return {"abs_error": None, "rel_error": None, "per_output": None}
    if len(outputs) != len(ref) or any(len(o) != len(r) for o, r in zip(outputs, ref, strict=False)):
        shapes = f"{[len(o) for o in outputs]} values vs onnxruntime's {[len(r) for r in ref]}"
        return {"abs_error": None, "rel_error": None, "per_output": None, "mismatch": shapes}
    per_output = []
    for got, want in zip(outputs, ref, strict=True):
        abs_error = max((abs(g - w) for g, w in zip(got, want, strict=True)), default=0.0)
        magnitude = max((abs(w) for w in want), default=0.0)
        per_output.append(
            {"abs_error": abs_error, "rel_error": abs_error / max(magnitude, 1e-6), "magnitude": magnitude}
        )
    return {
        "abs_error": max((p["abs_error"] for p in per_output), default=0.0),
        "rel_error": max((p["rel_error"] for p in per_output), default=0.0),
        "per_output": per_output,
    }


def default_prover_command() -> list[str]:
    """The venv's `prover` script beside this interpreter (as tests/conftest.py finds it)."""
    script = Path(sys.executable).with_name("prover")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from prover.cli import app; sys.exit(app())"]
