"""ONNX suite (issue 12, item 6): every model through plain ezkl and through `prover build`.

Run:
    .venv/bin/python bench/onnx_suite.py DIR [DIR ...] [--models a,b,...|all] [--out results.json]
        [--workdir W] [--timeout SECONDS] [--rerun ezkl,prover,reference] [--table-out table.txt]
        [--toolkit-src SRC]

Each DIR holds one folder per model: network.onnx, input.json (ezkl's input format, one
sample) and optionally cal.json (calibration data; else input.json calibrates). For each
model: onnxruntime's outputs on input.json (each input in its ONNX element type, symbolic
dimensions as 1), plain ezkl (gen_settings with explicit visibilities + calibrate
"resources" + compile + dev SRS + setup + witness + prove + verify) and the toolkit's CLI
(`prover build --onnx` with default settings, then prove and verify). Every step is a
child process with a timeout, so a crash is one model's one-line error.

Why: issue 12 asks that every model plain ezkl proves also goes through the toolkit,
within 1% of each output's magnitude and no slower; this measures exactly that. Rows are
cached in WORKDIR/suite_cache.json by the model's file hashes and the pipeline (plus the
ezkl version, or a hash of the toolkit's source), so a rerun redoes only what changed.
`--toolkit-src` puts another source tree (a `git archive` of a commit, say) first on the
children's PYTHONPATH, to measure that toolkit instead of the installed one.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import onnx_suite_pipelines as pipelines  # a sibling module: bench/ is not a package
import onnx_suite_report as report

#: the default selection: ezkl's examples (examples/onnx in the ezkl repository) by
#: operator family, then our own models (tests/onnx_models.py); absent folders are skipped
DEFAULT_MODELS: dict[str, tuple[str, ...]] = {
    "activations": (
        "1l_relu",
        "1l_sigmoid",
        "1l_tanh",
        "1l_gelu_noappx",
        "1l_elu",
        "1l_leakyrelu",
        "softplus",
    ),
    "pooling": ("1l_average", "1l_max_pool", "1l_lppool"),
    "conv": ("1l_conv", "2l_relu_sigmoid_conv", "1l_downsample", "1l_conv_transpose"),
    "norms": ("1l_batch_norm", "1l_instance_norm", "layernorm"),
    "recurrent": ("lstm", "gru", "rnn"),
    "selection and integers": ("1l_topk", "1l_where", "gather_elements"),
    "shape": ("1l_concat", "1l_pad", "1l_reshape", "1l_slice"),
    "arithmetic": ("1l_div", "1l_eltwise_div", "1l_softmax"),
    "reductions": ("1l_mean", "max", "reducel2", "1l_var"),
    "multi-output": ("rounding_ops",),
    "mlp": ("1l_mlp",),
    "own models (tests/onnx_models.py)": (
        "embedding",
        "int_where",
        "int_topk",
        "dynamic_batch",
        "two_heads",
        "near_tie",
        "single_sample",
        "seq_lstm",
        "seq_gru",
    ),
}
PIPELINES = ("reference", "ezkl", "prover")
CACHE_FORMAT = 1
NAME_OK = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def discover(dirs: list[Path]) -> dict[str, Path]:
    """Model name (its folder's name) -> folder, for every folder with a network.onnx."""
    found: dict[str, Path] = {}
    for root in dirs:
        if not root.is_dir():
            sys.exit(f"error: {root} is not a folder")
        for folder in sorted(root.iterdir()):
            if (folder / "network.onnx").is_file():
                if folder.name in found:
                    sys.exit(f"error: model {folder.name!r} is in both {found[folder.name].parent} and {root}")
                found[folder.name] = folder
    return found


def select(found: dict[str, Path], models: str | None) -> list[str]:
    if models == "all":
        return list(found)
    if models:
        names = [name.strip() for name in models.split(",") if name.strip()]
        missing = [name for name in names if name not in found]
        if missing:
            sys.exit(f"error: no model folder named {', '.join(missing)} (with a network.onnx) in the given DIRs")
        return names
    chosen = [name for family in DEFAULT_MODELS.values() for name in family if name in found]
    if not chosen:
        return list(found)  # a folder of the user's own models: all of them
    skipped = [name for family in DEFAULT_MODELS.values() for name in family if name not in found]
    if skipped:
        log(f"default models not in the given DIRs (skipped): {', '.join(skipped)}")
    return chosen


def circuit_name(model: str, taken: set[str]) -> str:
    """A circuit name the toolkit accepts ([a-z0-9][a-z0-9_]{0,39}): lowercase, other
    characters as `_`, `m_` before a leading `_`, unique among this run's models."""
    name = re.sub(r"[^a-z0-9_]", "_", model.lower())
    if not name[:1].isalnum():
        name = "m_" + name
    name = name[:40]
    base, suffix = name, 2
    while name in taken:
        tail = f"_{suffix}"
        name, suffix = base[: 40 - len(tail)] + tail, suffix + 1
    assert NAME_OK.match(name), name
    taken.add(name)
    return name


def _hash_files(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_hash(folder: Path) -> str:
    return _hash_files(
        [folder / f for f in ("network.onnx", "input.json", "cal.json") if (folder / f).is_file()], folder
    )


def toolkit_root(source: Path | None) -> Path:
    """The source tree the children import `prover` from: --toolkit-src, else the installed one."""
    if source is not None:
        return source.resolve()
    spec = importlib.util.find_spec("prover")
    if spec is None or spec.origin is None:
        sys.exit("error: the prover package is not importable; run with the project's venv")
    return Path(spec.origin).resolve().parent.parent


def fingerprints(toolkit: Path) -> dict[str, str]:
    """What beyond the model's files decides each pipeline's result."""
    steps = hashlib.sha256(pipelines.STEPS_SCRIPT.read_bytes()).hexdigest()[:16]
    sources = [p for package in ("prover", "models") for p in (toolkit / package).rglob("*.py")]
    return {
        "reference": f"onnxruntime {importlib.metadata.version('onnxruntime')} steps {steps}",
        "ezkl": f"ezkl {importlib.metadata.version('ezkl')} steps {steps}",
        "prover": f"toolkit {_hash_files(sources, toolkit)[:16]} ezkl {importlib.metadata.version('ezkl')}",
    }


class Cache:
    """Finished pipeline rows keyed by (pipeline, model file hashes, fingerprint)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        if path.is_file():
            document = json.loads(path.read_text())
            if document.get("format") == CACHE_FORMAT:
                self.entries = document["entries"]

    @staticmethod
    def key(pipeline: str, model_digest: str, fingerprint: str) -> str:
        return hashlib.sha256(f"{pipeline}\0{model_digest}\0{fingerprint}".encode()).hexdigest()

    def get(self, key: str, timeout: float) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if (entry["row"].get("error") or "").find("timed out") >= 0 and entry["timeout"] < timeout:
            return None  # a timeout under a shorter limit says nothing about this one
        return dict(entry["row"])

    def put(self, key: str, row: dict[str, Any], timeout: float) -> None:
        self.entries[key] = {"row": row, "timeout": timeout, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "entries": self.entries}, indent=1))
        os.replace(tmp, self.path)


def run_model(
    model: str,
    folder: Path,
    name: str,
    args: argparse.Namespace,
    ctx: pipelines.Context,
    cache: Cache,
    prints: dict[str, str],
) -> dict[str, Any]:
    """All three pipelines of one model, each from the cache when nothing it depends on changed."""
    digest = model_hash(folder)
    calibration = folder / "cal.json" if (folder / "cal.json").is_file() else folder / "input.json"
    row: dict[str, Any] = {"model": model, "folder": str(folder), "circuit": name, "calibration": calibration.name}
    work: Path = args.workdir
    for pipeline in PIPELINES:
        if pipeline not in args.pipelines:
            continue
        key = Cache.key(pipeline, digest, prints[pipeline])
        cached = None if pipeline in args.rerun else cache.get(key, args.timeout)
        if cached is not None:
            log(f"    {pipeline:<6} (cached)")
            row[pipeline] = cached
            continue
        if pipeline == "reference":
            result = pipelines.reference(folder, ctx, work / "reference" / model)
        elif pipeline == "ezkl":
            target = work / "ezkl" / model
            shutil.rmtree(target, ignore_errors=True)  # a fresh measurement, not ezkl files of another run
            result = pipelines.ezkl_pipeline(folder, calibration, ctx, target)
        else:
            shutil.rmtree(work / "prover" / "circuits" / name, ignore_errors=True)  # the toolkit may have changed
            result = pipelines.prover_pipeline(folder, calibration, name, ctx, work / "prover")
        cache.put(key, result, args.timeout)
        row[pipeline] = result
    ref = row.get("reference") or {}
    for pipeline in ("ezkl", "prover"):
        if pipeline in row:
            row[pipeline].update(pipelines.output_errors(row[pipeline].get("outputs"), ref.get("outputs")))
    row["speedup"] = report.speedup(row)
    return row


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="folders of model folders")
    parser.add_argument("--models", help="comma-separated folder names, or 'all' (default: the built-in list)")
    parser.add_argument("--out", type=Path, help="write every field as JSON here")
    parser.add_argument("--table-out", type=Path, help="also write the final table here as text")
    parser.add_argument("--workdir", type=Path, help="where the runs' files and the cache live (default: a temp dir)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per step (default 900)")
    parser.add_argument("--rerun", default="", help="pipelines to redo despite the cache: reference,ezkl,prover")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="which to run (default: all three)")
    parser.add_argument("--toolkit-src", type=Path, help="source tree with prover/ and models/ to measure instead")
    args = parser.parse_args(argv)
    for option in ("rerun", "pipelines"):
        chosen = {p.strip() for p in getattr(args, option).split(",") if p.strip()}
        if chosen - set(PIPELINES):
            parser.error(f"--{option}: unknown pipeline(s) {', '.join(sorted(chosen - set(PIPELINES)))}")
        setattr(args, option, chosen)
    args.workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="onnx-suite-"))).resolve()
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A background job starts with SIGINT ignored; either signal must still stop the
    # suite cleanly: the running step's process group killed, the finished rows written.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    found = discover([d.resolve() for d in args.dirs])
    models = select(found, args.models)
    toolkit = toolkit_root(args.toolkit_src)
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
    if args.toolkit_src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(toolkit), *filter(None, [os.environ.get("PYTHONPATH")])])
    ctx = pipelines.Context(sys.executable, pipelines.default_prover_command(), args.timeout, env, log)
    args.workdir.mkdir(parents=True, exist_ok=True)
    cache = Cache(args.workdir / "suite_cache.json")
    prints = fingerprints(toolkit)
    log(f"{len(models)} models, workdir {args.workdir}, toolkit {toolkit}, timeout {args.timeout:.0f} s per step")
    taken: set[str] = set()
    names = {model: circuit_name(model, taken) for model in models}
    rows: list[dict[str, Any]] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    interrupted = False
    for index, model in enumerate(models, 1):
        log(f"[{index}/{len(models)}] {model}")
        try:
            rows.append(run_model(model, found[model], names[model], args, ctx, cache, prints))
        except KeyboardInterrupt:
            log("interrupted: the table below covers the models finished so far")
            interrupted = True
            break
        if args.out:
            _write(args, rows, started, toolkit, prints, partial=True)
    text = report.render(rows, report.totals(rows))
    sys.stderr.write(text)
    if args.table_out:
        args.table_out.write_text(text)
    if args.out:
        _write(args, rows, started, toolkit, prints, partial=interrupted)
        log(f"wrote {args.out}")
    return 130 if interrupted else 0


def _write(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    started: str,
    toolkit: Path,
    prints: dict[str, str],
    partial: bool,
) -> None:
    document = {
        "meta": {
            "started": started,
            "finished": None if partial else time.strftime("%Y-%m-%dT%H:%M:%S"),
            "dirs": [str(d) for d in args.dirs],
            "workdir": str(args.workdir),
            "timeout_s": args.timeout,
            "toolkit": str(toolkit),
            "fingerprints": prints,
            "cores": os.cpu_count(),
            "rel_bound": report.REL_BOUND,
        },
        "totals": report.totals(rows),
        "rows": rows,
    }
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    sys.exit(main())
