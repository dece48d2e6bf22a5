"""`prover compare`: models x variants, each built, proved, verified and costed the same way.

A variant is a few changes to a model's own circuit config, written as tokens joined by
'+': `hashed-params`, `hashed-inputs`, `ezkl-default`, `batch-4`, ... Each (model,
variant) is an ordinary cached build under its own circuit name, so a variant built
once is never rebuilt, and its measured row is cached beside it, keyed by the hashes of
every artifact the figures depend on: a rerun with nothing changed proves nothing.

Proving time and peak memory come from fresh child processes (like `prover bench`);
gas from a verifier deployed on one embedded anvil for the whole run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel
from rich.table import Table

from models import REGISTRY
from prover import ezkl_api
from prover.artifacts import (
    CircuitPaths, Manifest, circuit_paths, load_manifest, sha256_json, write_bytes_atomic, write_json_atomic,
)
from prover.chain import Chain
from prover.config import CircuitConfig, checked_config
from prover.errors import CircuitError, InputRangeError, ProverError, SettingsError, UnknownModelError
from prover.inputs import Dataset, check_range, load_dataset, sample, sample_count
from prover.measure import measurement_chain, prove_in_child, verifier_gas
from prover.pipeline import MAX_BATCH, build_model
from prover.progress import Reporter, SilentReporter, timed_stage
from prover.proving import load_proof, proof_bytes, verify, write_input
from prover.solc import EVM_VERSION, OPTIMIZER_RUNS

#: what `prover compare` runs without --variants: every axis the issue names, one step each
DEFAULT_VARIANTS = ("tuned", "ezkl-default", "hashed-params", "hashed-inputs", "batch-4")
#: token -> circuit config overrides; `batch-N` is parsed apart
VARIANT_TOKENS: dict[str, dict[str, object]] = {
    "tuned": {"settings": "tuned"},
    "ezkl-default": {"settings": "ezkl-default"},
    "hashed-params": {"param_visibility": "hashed"},
    "hashed-inputs": {"input_visibility": "hashed"},
}
_VISIBILITY = {"public": "pub", "private": "priv", "fixed": "fixed", "hashed": "hash"}
_BATCH_TOKEN = re.compile(r"^batch-(\d+)$")
#: bump when a row's fields or the way they are measured change: old cached rows are then remeasured
ROW_SCHEMA = 1
ROW_CACHE_FILE = "compare.json"


@dataclass(frozen=True)
class Variant:
    """A parsed variant: its canonical label, config overrides, and inputs per proof."""

    label: str
    overrides: dict[str, object] = field(default_factory=dict)
    batch: int = 1


def parse_variant(spec: str) -> Variant:
    """`hashed-params+batch-4` -> Variant; an unknown token is a one-line SettingsError."""
    overrides: dict[str, object] = {}
    batch = 1
    tokens = [token.strip().lower() for token in spec.split("+") if token.strip()]
    if not tokens:
        raise SettingsError("empty variant", hint=_variant_hint())
    for token in tokens:
        if match := _BATCH_TOKEN.match(token):
            batch = int(match.group(1))
            if not 1 <= batch <= MAX_BATCH:
                raise SettingsError(f"variant {spec!r}: batch size {batch} is out of range",
                                    hint=f"use batch-1 to batch-{MAX_BATCH}")
        elif token in VARIANT_TOKENS:
            overrides.update(VARIANT_TOKENS[token])
        else:
            raise SettingsError(f"unknown variant {token!r} in {spec!r}", hint=_variant_hint())
    return Variant("+".join(tokens), overrides, batch)


def _variant_hint() -> str:
    return f"variants are {', '.join(VARIANT_TOKENS)} or batch-N, joined by '+' (e.g. hashed-params+batch-4)"


class CompareRow(BaseModel):
    """One (model, variant): what it costs to prove and verify, and what it loses in accuracy."""

    model: str
    variant: str
    circuit: str
    input_visibility: str
    param_visibility: str
    output_visibility: str
    settings: str
    batch: int
    logrows: int
    rows: int
    prove_s: float
    prove_runs_s: list[float]
    peak_rss_bytes: int
    pk_bytes: int
    vk_bytes: int
    proof_bytes: int
    verify_gas: int
    gas_per_inference: int
    deploy_gas: int
    runtime_bytes: int
    fits_eip170: bool
    max_abs_error: float
    agreement: float | None
    decision: str | None
    heldout_inferences: int
    cached: bool = False


@dataclass(frozen=True)
class PlannedRow:
    model: str
    variant: Variant
    circuit: str


def plan_rows(models: list[str], variants: list[str], workdir: Path) -> list[PlannedRow]:
    """Check every name and variant before anything is built, so a typo costs nothing."""
    parsed = [parse_variant(spec) for spec in variants]
    plans = []
    for model in models:
        base = _base_config(model, workdir)
        for variant in parsed:
            if variant.batch != 1 and model not in REGISTRY:
                raise SettingsError(f"variant {variant.label!r}: {model!r} is your own ONNX model, whose batch "
                                    "size is fixed in its graph", hint="export it with the batch size you want")
            config = checked_config(base, variant.overrides)
            plans.append(PlannedRow(model, variant, _circuit_name(model, variant, config, base, workdir)))
    return plans


def _recorded_manifest(workdir: Path, name: str) -> Manifest | None:
    try:
        return load_manifest(circuit_paths(workdir, name), required=False)
    except ProverError:
        return None  # unreadable: a build replaces it


def _base_config(model: str, workdir: Path) -> CircuitConfig:
    """A reference model's own config, or the config a user's circuit was built with."""
    if model in REGISTRY:
        return REGISTRY[model].circuit
    manifest = _recorded_manifest(workdir, model)
    if manifest is None or manifest.source != "onnx":
        raise UnknownModelError(f"unknown model {model!r}: neither a reference model ({', '.join(sorted(REGISTRY))}) "
                                f"nor a circuit built from your ONNX in {workdir}",
                                hint="build yours first: prover build --onnx FILE --name NAME --data FILE")
    return manifest.config


def _circuit_name(model: str, variant: Variant, config: CircuitConfig, base: CircuitConfig, workdir: Path) -> str:
    """The model's own circuit when the variant changes nothing about it, else NAME__variant.

    Reusing the own circuit shares `prover build`'s work; a build of it with other
    options (say `--input-scale 9`) is left alone rather than overwritten.
    """
    if variant.batch == 1 and config == base:
        existing = _recorded_manifest(workdir, model)
        if existing is None or (existing.config == config and existing.batch == 1):
            return model
    return variant_circuit_name(model, variant.label)


def variant_circuit_name(model: str, label: str) -> str:
    """`fee` + `hashed-params+batch-4` -> `fee__hashed_params__batch_4` (a valid circuit name)."""
    return f"{model}__{label.replace('-', '_').replace('+', '__')}"[:40]


def row_key(manifest: Manifest, runs: int) -> str:
    """Everything a row's figures depend on; equal keys mean equal figures up to noise."""
    assert manifest.srs is not None and manifest.fidelity is not None
    files = {key: manifest.files[key].sha256 for key in ("onnx", "settings", "compiled", "vk", "pk")}
    return sha256_json({"schema": ROW_SCHEMA, "files": files, "srs": manifest.srs.sha256, "runs": runs,
                        "fidelity": manifest.fidelity.model_dump(), "batch": manifest.batch,
                        "ezkl": ezkl_api.EZKL_VERSION, "evm": [EVM_VERSION, OPTIMIZER_RUNS]})


def cached_row(paths: CircuitPaths, key: str) -> CompareRow | None:
    try:
        document = CompareCache.model_validate_json((paths.root / ROW_CACHE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return document.row.model_copy(update={"cached": True}) if document.key == key else None


def provable_sample(paths: CircuitPaths, manifest: Manifest) -> Dataset:
    """The first held-out input inside the range proving accepts (a held-out set may reach
    past what calibration saw); the first calibration input if none is."""
    assert manifest.info is not None
    for key in ("heldout", "calibration"):
        if key not in manifest.files:
            continue
        data = load_dataset(paths.root / manifest.files[key].path, manifest.info.input_shapes)
        for index in range(sample_count(data)):
            try:
                check_range(sample(data, index), manifest.info.input_range, key)
            except InputRangeError:
                continue
            return sample(data, index)
    raise CircuitError(f"no held-out or calibration input of {paths.name} is inside its accepted range")


class CompareCache(BaseModel):
    key: str
    row: CompareRow


class Comparison(contextlib.AbstractContextManager["Comparison"]):
    """Measures planned rows one by one: one scratch folder and one lazy anvil for them all."""

    def __init__(self, workdir: Path, runs: int = 3, reporter: Reporter | None = None) -> None:
        if runs < 1:
            raise SettingsError(f"--runs must be at least 1, not {runs}")
        self.workdir, self.runs = Path(workdir), runs
        self.reporter = reporter or SilentReporter()
        self._stack = contextlib.ExitStack()
        self._scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="prover-compare-")))
        self._chain: Chain | None = None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stack.close()

    def chain(self) -> Chain:
        if self._chain is None:
            self._chain = self._stack.enter_context(measurement_chain())
        return self._chain

    def measure(self, plan: PlannedRow) -> CompareRow:
        manifest = build_model(plan.model, self.workdir, overrides=plan.variant.overrides, reporter=self.reporter,
                               circuit_name=plan.circuit, batch=plan.variant.batch)
        paths = circuit_paths(self.workdir, manifest.name)
        key = row_key(manifest, self.runs)
        if (row := cached_row(paths, key)) is not None:
            return row
        row = self._measure_fresh(plan, paths, manifest)
        write_json_atomic(paths.root / ROW_CACHE_FILE, CompareCache(key=key, row=row).model_dump(mode="json"))
        return row

    def _measure_fresh(self, plan: PlannedRow, paths: CircuitPaths, manifest: Manifest) -> CompareRow:
        info, fidelity, srs = manifest.info, manifest.fidelity, manifest.srs
        assert info is not None and fidelity is not None and srs is not None
        folder = self._scratch / paths.name
        folder.mkdir(exist_ok=True)
        write_input(folder / "input.json", provable_sample(paths, manifest))
        proof = folder / "proof.json"
        runs = []
        for run in range(self.runs):
            with timed_stage(self.reporter, "prove", f"{paths.name} run {run + 1}/{self.runs}") as outcome:
                runs.append(prove_in_child(paths, folder / "input.json", proof))
                outcome.detail = f"{runs[-1]['prove_s']:.3f}s"
        with timed_stage(self.reporter, "verify", f"{paths.name} off-chain and on anvil"):
            if not verify(paths, manifest, proof).valid:
                raise CircuitError(f"a proof of {paths.name} does not verify off-chain")
            gas = verifier_gas(self.chain(), paths, srs, proof, folder)
        config = manifest.config
        return CompareRow(
            model=plan.model, variant=plan.variant.label, circuit=paths.name,
            input_visibility=config.input_visibility, param_visibility=config.param_visibility,
            output_visibility=config.output_visibility, settings=config.settings, batch=manifest.batch,
            logrows=info.logrows, rows=info.num_rows,
            prove_s=round(statistics.median(run["prove_s"] for run in runs), 4),
            prove_runs_s=[round(run["prove_s"], 4) for run in runs],
            peak_rss_bytes=int(statistics.median(run["peak_rss_bytes"] for run in runs)),
            pk_bytes=manifest.files["pk"].bytes, vk_bytes=manifest.files["vk"].bytes,
            proof_bytes=len(proof_bytes(load_proof(proof, paths))),
            verify_gas=gas.verify_gas, gas_per_inference=round(gas.verify_gas / manifest.batch),
            deploy_gas=gas.deploy_gas, runtime_bytes=gas.runtime_bytes, fits_eip170=gas.fits_eip170,
            max_abs_error=fidelity.max_abs_error, agreement=fidelity.agreement, decision=fidelity.decision,
            heldout_inferences=fidelity.samples * manifest.batch,
        )


def compare(models: list[str], variants: list[str] | None = None, workdir: Path = Path("."), *,
            runs: int = 3, reporter: Reporter | None = None) -> list[CompareRow]:
    """Every (model, variant) row, in order: the library call behind `prover compare`."""
    plans = plan_rows(models, list(variants or DEFAULT_VARIANTS), Path(workdir))
    with Comparison(Path(workdir), runs, reporter) as comparison:
        return [comparison.measure(plan) for plan in plans]


def results_table(rows: list[CompareRow], runs: int) -> Table:
    """The rows as a rich table: what the CLI prints and a notebook can display."""
    table = Table(title=f"proofs side by side ({runs} proving runs per row, medians)", title_justify="left")
    columns = ("model", "variant", "in/params/out", "logrows", "rows", "prove s", "peak MiB", "pk MB", "vk KB",
               "proof B", "verify gas", "gas/inf", "deploy gas", "code B", "max |err|", "agree")
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:3] else "right")
    for row in rows:
        visibility = "/".join(_VISIBILITY[v] for v in (row.input_visibility, row.param_visibility,
                                                       row.output_visibility))
        code = f"{row.runtime_bytes:,}" + ("" if row.fits_eip170 else " [red]>EIP-170[/]")
        table.add_row(
            row.model, row.variant + (" [dim]·[/]" if row.cached else ""), visibility, str(row.logrows),
            f"{row.rows:,}", f"{row.prove_s:.3f}", f"{row.peak_rss_bytes / 2**20:.0f}", f"{row.pk_bytes / 1e6:.1f}",
            f"{row.vk_bytes / 1e3:.1f}", f"{row.proof_bytes:,}", f"{row.verify_gas:,}", f"{row.gas_per_inference:,}",
            f"{row.deploy_gas:,}", code, f"{row.max_abs_error:.3g}",
            f"{row.agreement:.1%}" if row.agreement is not None else "-",
        )
    return table


def check_output_path(out: Path) -> None:
    """Before any work: the results file must be .csv or .json in an existing folder."""
    if out.suffix.lower() not in (".csv", ".json"):
        raise ProverError(f"--out {out}: write .csv or .json", hint="e.g. --out results.csv")
    if not out.parent.resolve().is_dir():
        raise ProverError(f"--out {out}: folder {out.parent} does not exist")


def write_rows(rows: list[CompareRow], out: Path) -> None:
    """CSV (one line per row, prove runs space-separated) or JSON (a list of rows), atomically."""
    check_output_path(out)
    documents = [row.model_dump(mode="json") for row in rows]
    if out.suffix.lower() == ".json":
        write_json_atomic(out, documents)
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CompareRow.model_fields), lineterminator="\n")
    writer.writeheader()
    for document in documents:
        document["prove_runs_s"] = " ".join(str(value) for value in document["prove_runs_s"])
        writer.writerow(document)
    write_bytes_atomic(out, buffer.getvalue().encode())
