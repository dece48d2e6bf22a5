"""The only module that touches ezkl.

Why a wrapper: ezkl prints tables from Rust straight to the process's stdout, raises a
mix of exception types (including pyo3's PanicException, a BaseException), and has
coroutine-only EVM calls. Here every call is made quiet (its output goes to the
circuit's log), synchronous, and turned into a `CircuitError` with a one-line message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ezkl as _ezkl

from prover.config import CircuitConfig, Layout
from prover.errors import CircuitError, first_line

#: ezkl ships stubs that lag its API (no PyRunArgs fields, no __version__): typed as Any here
ezkl: Any = _ezkl
EZKL_VERSION: str = ezkl.__version__
T = TypeVar("T")


@contextlib.contextmanager
def _output_to(log: Path | None) -> Iterator[None]:
    """Point file descriptors 1 and 2 at `log` for the duration (Rust ignores sys.stdout)."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as sink, _ezkl_logging_to(log):
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def _ezkl_logging_to(log: Path) -> Iterator[None]:
    """ezkl's Rust log records arrive as Python `logging` records under "ezkl"; with no
    handler they reach sys.stderr, which in Jupyter is not fd 2. Send them to `log` too."""
    logger = logging.getLogger("ezkl")
    handler = logging.FileHandler(log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        handler.close()


def call(stage: str, log: Path | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one ezkl function quietly; awaits coroutines; maps failures to CircuitError."""
    try:
        with _output_to(log):
            result = _run_to_completion(fn, *args, **kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise CircuitError(f"ezkl {stage} failed: {first_line(exc)}") from None
    if result is False:
        raise CircuitError(f"ezkl {stage} returned failure")
    return result


def _run_to_completion(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """asyncio.run where no loop is running; on a helper thread where one is (Jupyter's
    kernel runs one, and asyncio.run refuses to nest), so notebooks call the same API."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_invoke(fn, *args, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as helper:
        return helper.submit(lambda: asyncio.run(_invoke(fn, *args, **kwargs))).result()


async def _invoke(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """ezkl's EVM calls return futures that need a running loop, so call inside one."""
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def _visibilities(config: CircuitConfig, symbols: Sequence[str]) -> ezkl.PyRunArgs:
    """Run args every circuit shares: visibilities, check mode, and each symbolic dimension
    of the graph (a dynamic batch axis) fixed to 1, which ezkl cannot guess for itself."""
    args = ezkl.PyRunArgs()
    args.input_visibility = config.input_visibility
    args.output_visibility = config.output_visibility
    args.param_visibility = config.param_visibility
    args.check_mode = config.check_mode
    args.variables = [(symbol, 1) for symbol in dict.fromkeys([*symbols, "batch_size"])]
    return args


def run_args(config: CircuitConfig, layout: Layout, symbols: Sequence[str] = ()) -> ezkl.PyRunArgs:
    """Every run-arg set from our config and layout; nothing left to ezkl's defaults."""
    args = _visibilities(config, symbols)
    args.input_scale = layout.input_scale
    args.param_scale = layout.param_scale
    args.scale_rebase_multiplier = layout.scale_rebase_multiplier
    args.decomp_base = layout.decomp_base
    args.decomp_legs = layout.decomp_legs
    args.num_inner_cols = layout.num_inner_cols
    args.lookup_range = layout.lookup_range
    args.logrows = layout.logrows
    return args


#: part of the settings stage's fingerprint: settings written in an older form are written again
SETTINGS_FORM = "canonical-1"


def canonical_settings(document: dict[str, Any]) -> str:
    """A settings document in one canonical form: the same inputs give the same bytes, and the same vk.

    ezkl writes three things that change from run to run: a `timestamp` (the clock), the
    einsum equations' index maps in hash-map order, and the required range checks and
    lookups in hash-set order. The last is not cosmetic: ezkl lays out its range-check and
    lookup tables in the order the file lists them, so two gen_settings runs of one model
    and layout gave two vks (seen: fee, same layout, same SRS). Sorted keys, sorted
    checks and lookups and a zero timestamp make settings.json a function of its inputs.
    """
    fixed = dict(document)
    if "timestamp" in fixed:
        fixed["timestamp"] = 0
    fixed["required_range_checks"] = sorted(document.get("required_range_checks", []))
    fixed["required_lookups"] = sorted(
        document.get("required_lookups", []), key=lambda op: json.dumps(op, sort_keys=True)
    )
    return json.dumps(fixed, sort_keys=True, indent=1) + "\n"


def _canonicalize(settings: Path) -> None:
    """Rewrite the settings file ezkl just wrote in canonical form (see canonical_settings)."""
    settings.write_text(canonical_settings(json.loads(settings.read_text())))


def gen_settings(
    onnx: Path, out: Path, config: CircuitConfig, layout: Layout, log: Path, symbols: Sequence[str] = ()
) -> None:
    call("gen_settings", log, ezkl.gen_settings, str(onnx), str(out), py_run_args=run_args(config, layout, symbols))
    _canonicalize(out)


def gen_default_settings(onnx: Path, out: Path, config: CircuitConfig, log: Path, symbols: Sequence[str] = ()) -> None:
    """ezkl's own defaults for everything but the visibilities (the benchmark's baseline)."""
    call("gen_settings", log, ezkl.gen_settings, str(onnx), str(out), py_run_args=_visibilities(config, symbols))
    _canonicalize(out)


def calibrate_default(data: Path, onnx: Path, settings: Path, log: Path) -> None:
    """ezkl's 'resources' calibration with its default scale and multiplier search."""
    call("calibrate_settings", log, ezkl.calibrate_settings, str(data), str(onnx), str(settings), "resources")
    _canonicalize(settings)


def mock(witness: Path, compiled: Path, log: Path) -> bool:
    """Halo2's MockProver: every constraint and the row budget, without keys (ms, not s)."""
    try:
        with _output_to(log):
            return bool(ezkl.mock(str(witness), str(compiled)))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        return False


def compile_circuit(onnx: Path, compiled: Path, settings: Path, log: Path) -> None:
    call("compile_circuit", log, ezkl.compile_circuit, str(onnx), str(compiled), str(settings))


def gen_srs(out: Path, logrows: int, log: Path | None) -> None:
    call("gen_srs", log, ezkl.gen_srs, str(out), logrows)


def setup(compiled: Path, vk: Path, pk: Path, srs: Path, log: Path) -> None:
    call("setup", log, ezkl.setup, str(compiled), str(vk), str(pk), srs_path=str(srs))


def gen_witness(data: Path, compiled: Path, out: Path, log: Path) -> dict[str, Any]:
    return call("gen_witness", log, ezkl.gen_witness, str(data), str(compiled), str(out))


def prove(witness: Path, compiled: Path, pk: Path, out: Path, srs: Path, log: Path) -> dict[str, Any]:
    return call("prove", log, ezkl.prove, str(witness), str(compiled), str(pk), str(out), srs_path=str(srs))


#: how ezkl's errors from halo2 itself begin: the proof was read and it does not verify
HALO2_VERDICT = "[halo2]"


def verify(proof: Path, settings: Path, vk: Path, srs: Path, log: Path) -> bool:
    """True if the proof verifies; False when halo2 says it does not.

    Any other failure ("[pfsys] failed to load vk", "[srs] ...", "[io] ...") means ezkl
    could not read the settings, vk or SRS: a CircuitError, since "invalid" would blame a
    proof that was never checked.
    """
    try:
        with _output_to(log):
            return bool(ezkl.verify(str(proof), str(settings), str(vk), srs_path=str(srs)))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        if HALO2_VERDICT in str(exc):
            return False
        raise CircuitError(
            f"ezkl verify could not run: {first_line(exc)}",
            hint="the circuit's settings, vk or SRS is damaged or missing: rebuild the circuit",
        ) from None


#: every proxy variable points at a closed local port while ezkl renders a verifier
_DEAD_PROXY = "http://127.0.0.1:9"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@contextlib.contextmanager
def _no_network() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in (*_PROXY_VARS, "NO_PROXY", "no_proxy")}
    os.environ.update({key: _DEAD_PROXY for key in _PROXY_VARS})
    os.environ.pop("NO_PROXY", None)
    os.environ.pop("no_proxy", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def render_evm_verifier(vk: Path, settings: Path, sol: Path, srs: Path, reusable: bool, log: Path) -> None:
    """Write ezkl's Solidity verifier for `vk` to `sol`, and nothing else.

    ezkl's `create_evm_verifier` writes the .sol and then asks svm for a solc binary to
    extract an ABI, which would download a compiler (not the one package.json pins). The
    call runs with every proxy variable pointing at a closed local port, so that lookup
    fails on this machine without a packet leaving it; compiling is our pinned solc's job.
    """
    # the call fails as expected at the ABI step (no downloaded solc); the .sol is written by then
    with (
        tempfile.TemporaryDirectory(prefix="prover-abi-") as scratch,
        _no_network(),
        contextlib.suppress(CircuitError),
    ):
        call(
            "create_evm_verifier",
            log,
            ezkl.create_evm_verifier,
            str(vk),
            str(settings),
            str(sol),
            str(Path(scratch) / "verifier.abi"),
            srs_path=str(srs),
            reusable=reusable,
        )
    if not sol.exists() or "contract Halo2Verifier" not in sol.read_text():
        raise CircuitError("ezkl did not render a verifier; see ezkl.log")


def create_evm_vka(vk: Path, settings: Path, vka: Path, srs: Path, log: Path) -> None:
    call("create_evm_vka", log, ezkl.create_evm_vka, str(vk), str(settings), str(vka), srs_path=str(srs))
