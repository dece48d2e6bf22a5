"""`prover compare`: models x variants, each built, proved, verified and costed the same way.

Every figure comes from one measuring loop (`Comparison.measure`), which `prover bench`
uses too: proving time and peak memory from fresh child processes (`prover.measure.child`),
setup time (on request) from a copy of the circuit, gas from a verifier deployed on one
embedded anvil for the whole run. Rows can be measured one after another (compare) or in
rounds that alternate which row goes first (bench), so a noisy, shared machine drifts on
all of them alike. A measured row is cached beside its circuit, keyed by the hashes of
every artifact it depends on: a rerun with nothing changed proves nothing.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel

from prover import ezkl_api
from prover.artifacts import sha256_json, write_json_atomic
from prover.datasets import Dataset, check_range, load_dataset, sample, sample_count
from prover.errors import CircuitError, InputRangeError, SettingsError
from prover.evm.client import Chain, measurement_chain
from prover.evm.solc import EVM_VERSION, OPTIMIZER_RUNS
from prover.evm.verifier import measure_verifier_gas
from prover.measure.child import prove_in_child
from prover.measure.variants import DEFAULT_VARIANTS, PlannedRow, plan_rows
from prover.pipeline.builds import build_model
from prover.pipeline.cost import timed_setup
from prover.pipeline.sizing import candidate_paths
from prover.progress import Reporter, timed_stage
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.prove import write_input

#: bump when a row's fields or the way they are measured change: old cached rows are then remeasured
ROW_SCHEMA = 1
ROW_CACHE_FILE = "compare.json"


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


class CompareCache(BaseModel):
    key: str
    row: CompareRow


def row_key(circuit: Circuit, runs: int) -> str:
    """Everything a row's figures depend on; equal keys mean equal figures up to noise."""
    manifest = circuit.manifest
    assert manifest.fidelity is not None
    files = {key: manifest.files[key].sha256 for key in ("onnx", "settings", "compiled", "vk", "pk")}
    return sha256_json(
        {
            "schema": ROW_SCHEMA,
            "files": files,
            "srs": circuit.srs.sha256,
            "runs": runs,
            "fidelity": manifest.fidelity.model_dump(),
            "batch": manifest.batch,
            "ezkl": ezkl_api.EZKL_VERSION,
            "evm": [EVM_VERSION, OPTIMIZER_RUNS],
        }
    )


def cached_row(circuit: Circuit, key: str) -> CompareRow | None:
    try:
        document = CompareCache.model_validate_json((circuit.paths.root / ROW_CACHE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return document.row.model_copy(update={"cached": True}) if document.key == key else None


def provable_sample(circuit: Circuit) -> Dataset:
    """The first held-out input inside the range proving accepts (a held-out set may reach
    past what calibration saw); the first calibration input if none is."""
    manifest, info = circuit.manifest, circuit.info
    for key in ("heldout", "calibration"):
        if key not in manifest.files:
            continue
        data = load_dataset(circuit.paths.root / manifest.files[key].path, info.input_shapes)
        for index in range(sample_count(data)):
            try:
                check_range(sample(data, index), info.input_range, key)
            except InputRangeError:
                continue
            return sample(data, index)
    raise CircuitError(f"no held-out or calibration input of {circuit.name} is inside its accepted range")


@dataclass
class Measured:
    """A built row's circuit and the figures its runs have collected so far."""

    plan: PlannedRow
    circuit: Circuit
    folder: Path
    prove_runs: list[dict[str, float]] = field(default_factory=list)
    setup_runs: list[float] = field(default_factory=list)


class Comparison(contextlib.AbstractContextManager["Comparison"]):
    """Builds and measures planned rows: one scratch folder and one lazy anvil for them all.

    `use_cache=False` measures even rows whose figures are cached (a benchmark wants
    figures from this run); `time_setup` also times a key setup per run, and the median
    lands in `setup_seconds` by circuit name (a row's fields stay what compare reports).
    """

    def __init__(
        self,
        workdir: Path,
        runs: int = 3,
        reporter: Reporter | None = None,
        *,
        use_cache: bool = True,
        time_setup: bool = False,
    ) -> None:
        if runs < 1:
            raise SettingsError(f"--runs must be at least 1, not {runs}")
        self.workdir, self.runs = Path(workdir), runs
        self.reporter = reporter or Reporter()
        self.use_cache, self.time_setup = use_cache, time_setup
        self._stack = contextlib.ExitStack()
        self._scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="prover-compare-")))
        self._chain: Chain | None = None
        self.setup_seconds: dict[str, float] = {}

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stack.close()

    def chain(self) -> Chain:
        if self._chain is None:
            self._chain = self._stack.enter_context(measurement_chain())
        return self._chain

    def build(self, plan: PlannedRow) -> Circuit:
        """The row's circuit, built (or found cached) by the ordinary pipeline."""
        manifest = build_model(
            plan.model,
            self.workdir,
            overrides=plan.variant.overrides,
            reporter=self.reporter,
            circuit_name=plan.circuit,
            batch=plan.variant.batch,
        )
        return open_circuit(manifest.name, self.workdir)

    def row(self, plan: PlannedRow) -> CompareRow:
        """One row: cached if its artifacts are unchanged, else built and measured now."""
        circuit = self.build(plan)
        key = row_key(circuit, self.runs)
        if self.use_cache and (row := cached_row(circuit, key)) is not None:
            return row
        (row,) = self.measure([circuit], [plan])
        write_json_atomic(circuit.paths.root / ROW_CACHE_FILE, CompareCache(key=key, row=row).model_dump(mode="json"))
        return row

    def measure(
        self, circuits: list[Circuit], plans: list[PlannedRow], *, interleave: bool = False
    ) -> list[CompareRow]:
        """The measuring loop: `runs` proofs of each circuit, each in a fresh child process
        (rows in turn, or round by round alternating the order), then verification and gas."""
        rows = [self._prepare(circuit, plan) for circuit, plan in zip(circuits, plans, strict=True)]
        schedule = (
            [(run, row) for run in range(self.runs) for row in (rows if run % 2 == 0 else rows[::-1])]
            if interleave
            else [(run, row) for row in rows for run in range(self.runs)]
        )
        for run, row in schedule:
            with timed_stage(self.reporter, "prove", f"{row.circuit.name} run {run + 1}/{self.runs}") as outcome:
                row.prove_runs.append(
                    prove_in_child(
                        row.circuit.workdir, row.circuit.name, row.folder / "input.json", row.folder / "proof.json"
                    )
                )
                outcome.detail = f"{row.prove_runs[-1]['prove_s']:.3f}s"
                if self.time_setup:
                    row.setup_runs.append(self._setup_time(row))
                    outcome.detail += f", setup {row.setup_runs[-1]:.3f}s"
        for row in rows:
            if row.setup_runs:
                self.setup_seconds[row.circuit.name] = round(statistics.median(row.setup_runs), 4)
        return [self._finish(row) for row in rows]

    def _prepare(self, circuit: Circuit, plan: PlannedRow) -> Measured:
        folder = self._scratch / circuit.name
        folder.mkdir(exist_ok=True)
        write_input(folder / "input.json", provable_sample(circuit))
        return Measured(plan, circuit, folder)

    def _setup_time(self, row: Measured) -> float:
        """Setup of a copy, so the built keys stay as they are."""
        copy = candidate_paths(row.folder, "setup", row.circuit.paths)
        copy.compiled.write_bytes(row.circuit.paths.compiled.read_bytes())
        return timed_setup(copy, row.circuit.srs_path())

    def _finish(self, row: Measured) -> CompareRow:
        circuit, plan = row.circuit, row.plan
        manifest, info, fidelity = circuit.manifest, circuit.info, circuit.manifest.fidelity
        assert fidelity is not None
        proof_file = row.folder / "proof.json"
        with timed_stage(self.reporter, "verify", f"{circuit.name} off-chain and on anvil"):
            proof = circuit.read_proof(proof_file)
            if not circuit.verify(proof).valid:
                raise CircuitError(f"a proof of {circuit.name} does not verify off-chain")
            gas = measure_verifier_gas(self.chain(), circuit.paths, circuit.srs_path(), proof)
        config = manifest.config
        prove_runs = [run["prove_s"] for run in row.prove_runs]
        return CompareRow(
            model=plan.model,
            variant=plan.variant.label,
            circuit=circuit.name,
            input_visibility=config.input_visibility,
            param_visibility=config.param_visibility,
            output_visibility=config.output_visibility,
            settings=config.settings,
            batch=manifest.batch,
            logrows=info.logrows,
            rows=info.num_rows,
            prove_s=round(statistics.median(prove_runs), 4),
            prove_runs_s=[round(value, 4) for value in prove_runs],
            peak_rss_bytes=int(statistics.median(run["peak_rss_bytes"] for run in row.prove_runs)),
            pk_bytes=manifest.files["pk"].bytes,
            vk_bytes=manifest.files["vk"].bytes,
            proof_bytes=len(proof.raw),
            verify_gas=gas.verify_gas,
            gas_per_inference=round(gas.verify_gas / manifest.batch),
            deploy_gas=gas.deploy_gas,
            runtime_bytes=gas.runtime_bytes,
            fits_eip170=gas.fits_eip170,
            max_abs_error=fidelity.max_abs_error,
            agreement=fidelity.agreement,
            decision=fidelity.decision,
            heldout_inferences=fidelity.samples * manifest.batch,
        )


def compare(
    models: list[str],
    variants: list[str] | None = None,
    workdir: Path | str = ".",
    *,
    runs: int = 3,
    reporter: Reporter | None = None,
) -> list[CompareRow]:
    """Every (model, variant) row, in order: the library call behind `prover compare`."""
    reporter = reporter or Reporter()
    plans = plan_rows(models, list(variants or DEFAULT_VARIANTS), Path(workdir))
    rows = []
    reporter.items_started(len(plans), "rows")
    with Comparison(Path(workdir), runs, reporter) as comparison:
        try:
            for plan in plans:
                reporter.item_started(plan.label)
                rows.append(comparison.row(plan))
                row = rows[-1]
                reporter.item_finished(
                    plan.label,
                    None,
                    f"prove {row.prove_s:.3f}s, verifyProof {row.verify_gas:,} gas"
                    + (" (cached)" if row.cached else ""),
                )
        finally:
            reporter.items_finished()
    return rows
