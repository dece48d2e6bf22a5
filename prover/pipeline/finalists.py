"""The tuner's last step: ezkl's own settings as a candidate, keys and proofs for every
finalist, and a choice that depends only on what is deterministic.

ezkl's calibrated settings (plain gen_settings + calibrate_settings('resources'), what a
user gets from ezkl itself) are judged by the same bounds as every tuned layout and, if
they keep them, set the ceiling: no tuned layout with a larger proving key (proving time
grows with it: both scale with 2^logrows times columns) can win. Among the rest the
objective decides on proving-key bytes and verifyProof gas, both the same on every run;
measured proving times are recorded for people but decide nothing, so a noisy machine
cannot change the circuit.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prover import ezkl_api
from prover.artifacts import CircuitPaths, TrialRecord
from prover.config import CircuitConfig, Layout
from prover.datasets import sample, to_input_json
from prover.errors import CircuitError, SettingsError
from prover.evm.client import Chain, measurement_chain
from prover.evm.verifier import measure_verifier_gas
from prover.pipeline.budget import calibrate_cost, prove_cost, setup_cost, witness_cost
from prover.pipeline.cost import timed_setup
from prover.pipeline.export import inspect_onnx
from prover.pipeline.fidelity import circuit_outputs
from prover.pipeline.search import Search, output_scales
from prover.pipeline.sizing import candidate_paths, read_facts, size_layout, witness_all
from prover.pipeline.srs import dev_srs
from prover.progress import timed_stage
from prover.proving.proofs import Proof
from prover.proving.prove import ProvingFiles, prove_sample, verify_proof

#: ezkl's settings are measured unless estimated at more than this multiple of every tuned
#: finalist: pk size and proving time track the cost model within ~30% (budget.py), so a 2x
#: estimate is a measured loss for ezkl's settings, and measuring them costs the most
BASELINE_SKIP_RATIO = 2.0


@dataclass
class Finalist:
    """A sized candidate ready for keys: its folder holds settings.json and network.compiled."""

    layout: Layout
    paths: CircuitPaths
    source: str  # "tuned" or "ezkl"
    trial: TrialRecord | None = None


def layout_of(settings: Path, margin: int) -> Layout:
    """The Layout a settings.json describes (ezkl's own, or ours read back)."""
    run_args = json.loads(settings.read_text())["run_args"]
    return Layout(
        input_scale=run_args["input_scale"],
        param_scale=run_args["param_scale"],
        scale_rebase_multiplier=run_args["scale_rebase_multiplier"],
        decomp_base=run_args["decomp_base"],
        decomp_legs=run_args["decomp_legs"],
        num_inner_cols=run_args["num_inner_cols"],
        lookup_safety_margin=margin,
        lookup_range=tuple(run_args["lookup_range"]),
        logrows=run_args["logrows"],
    )


def ezkl_settings(onnx: Path, calibration: Path, out: Path, config: CircuitConfig, log: Path) -> None:
    """Plain ezkl: gen_settings (our visibilities, dynamic axes fixed to 1) and its
    'resources' calibration; pinned to --logrows if one is given, never below its need."""
    ezkl_api.gen_default_settings(onnx, out, config, log, inspect_onnx(onnx).symbols)
    ezkl_api.calibrate_default(calibration, onnx, out, log)
    if config.logrows is not None:
        document = json.loads(out.read_text())
        needed = int(document["run_args"]["logrows"])
        if config.logrows < needed:
            raise SettingsError(
                f"logrows {config.logrows} is below the {needed} this circuit needs",
                hint="drop --logrows to let the calibration choose",
            )
        document["run_args"]["logrows"] = config.logrows
        out.write_text(ezkl_api.canonical_settings(document))


def ezkl_baseline(search: Search) -> tuple[Finalist | None, str | None]:
    """ezkl's calibrated settings, judged and checked on the stress set.

    Returns the finalist (None if it cannot be one) and ezkl's own error if ezkl itself
    failed, which is the reason given when nothing else fits either.
    """
    paths = candidate_paths(search.scratch, "ezkl", search.paths)
    calibration = paths.root / "calibration.json"
    calibration.write_text(json.dumps(to_input_json(search.data.calibration)))
    samples = len(search.data.calibration[0])
    try:
        ezkl_settings(paths.onnx, calibration, paths.settings, search.config, paths.log)
        rows = read_facts(paths.settings).num_rows
        search.budget.charge(calibrate_cost(rows, samples))
        layout = layout_of(paths.settings, search.config.lookup_safety_margin)
        ezkl_api.compile_circuit(paths.onnx, paths.compiled, paths.settings, paths.log)
        judgement = search.bounds.judge(
            circuit_outputs(paths, search.data.heldout, output_scales(paths)), search.reference
        )
        search.budget.charge(witness_cost(rows, len(search.reference)))
    except (CircuitError, SettingsError) as exc:
        search.record("ezkl", None, f"ezkl failed: {exc.message}", source="ezkl")
        return None, exc.message
    if judgement.failure is not None:
        search.record_judged("ezkl", layout, judgement, source="ezkl")
        return None, None
    if layout.logrows > search.config.max_logrows:
        search.record(
            "ezkl", layout, f"needs logrows {layout.logrows} > max {search.config.max_logrows}", source="ezkl"
        )
        return None, None
    try:
        seen = witness_all(paths, search.stress)
        search.budget.charge(witness_cost(rows, len(search.stress[0])))
        low, high = layout.lookup_range
        if seen.lookup_min < low or seen.lookup_max > high:
            raise CircuitError(f"lookups reach [{seen.lookup_min}, {seen.lookup_max}] beyond its [{low}, {high}]")
    except CircuitError as exc:
        search.record_judged("ezkl", layout, judgement, source="ezkl")
        return _resized_baseline(search, layout, f"ezkl's range misses the stress set ({exc.message})"), None
    trial = search.record_judged("ezkl", layout, judgement, source="ezkl")
    return Finalist(layout, paths, "ezkl", trial), None


def _resized_baseline(search: Search, layout: Layout, why: str) -> Finalist | None:
    """ezkl's scales and layout with lookup range and logrows sized for the stress set."""
    paths = candidate_paths(search.scratch, "ezkl-resized", search.paths)
    try:
        sized = size_layout(paths, search.config, layout, search.stress, search.config.max_logrows)
    except SettingsError as exc:
        search.record("ezkl", layout, f"{why}; not sized: {exc.message}", source="ezkl")
        return None
    search.record("ezkl", sized, f"{why}: resized")
    return Finalist(sized, paths, "tuned")


@contextlib.contextmanager
def _chain_if(needed: bool) -> Iterator[Chain | None]:
    if not needed:
        yield None
        return
    with measurement_chain() as chain:
        yield chain


def measure(search: Search, finalists: list[Finalist]) -> list[Finalist]:
    """Keys for every finalist; a proof and its verifyProof gas where the objective counts gas.

    Every finalist is set up (the pk's size is what it costs to prove); a finalist whose
    proof does not verify or whose verifier will not deploy is recorded and dropped.
    """
    kept = []
    needs_gas = search.config.objective != "prove"
    with _chain_if(needs_gas) as chain:
        for finalist in _worth_measuring(search, finalists):
            layout, paths = finalist.layout, finalist.paths
            with timed_stage(search.reporter, "finalist", f"{finalist.source}: {layout.short()}") as outcome:
                search.budget.charge(setup_cost(layout.logrows, layout.num_inner_cols))
                if needs_gas:
                    search.budget.charge(prove_cost(layout.logrows, layout.num_inner_cols))
                srs = Path(dev_srs(layout.logrows).path)
                try:
                    facts: dict[str, object] = {"setup_s": round(timed_setup(paths, srs), 4)}
                    gas = None
                    if chain is not None:
                        proof = prove_once(search, finalist)
                        gas = measure_verifier_gas(chain, paths, srs, proof.proof)
                        facts |= {"prove_s": round(proof.prove_s, 4), "proof_bytes": proof.proof_bytes}
                        facts["verify_gas"] = gas.comparable_gas
                except CircuitError as exc:
                    search.record("finalist", layout, exc.message, source=finalist.source)
                    outcome.status = "pruned"
                    continue
                status = "measured"
                if gas is not None and not gas.fits_eip170 and search.config.onchain:
                    status = f"verifier {gas.runtime_bytes:,} bytes > EIP-170"
                pk_bytes = paths.pk.stat().st_size
                finalist.trial = search.record(
                    "finalist", layout, status, source=finalist.source, pk_bytes=pk_bytes, **facts
                )
                outcome.detail = f"logrows {layout.logrows}, pk {pk_bytes / 1e6:.1f} MB" + (
                    f", gas {gas.comparable_gas:,}" if gas else ""
                )
                kept.append(finalist)
    return kept


def _worth_measuring(search: Search, finalists: list[Finalist]) -> list[Finalist]:
    """All tuned finalists; ezkl's settings only if they might be as cheap to prove.

    Keys for ezkl's settings cost as much as the proofs they make (often logrows 15+ for a
    model that fits in 2^8 rows). When the cost model puts them at several times every
    tuned finalist, their proving key would be the larger one anyway, so they are left
    unmeasured: a decision on estimates from sizes, the same on every run.
    """
    tuned = [f for f in finalists if f.source == "tuned"]
    if not tuned:
        return finalists
    dearest = max(setup_cost(f.layout.logrows, f.layout.num_inner_cols) for f in tuned)
    kept = []
    for finalist in finalists:
        estimate = setup_cost(finalist.layout.logrows, finalist.layout.num_inner_cols)
        if finalist.source == "ezkl" and estimate > BASELINE_SKIP_RATIO * dearest:
            search.record(
                "finalist",
                finalist.layout,
                f"not set up: estimated {estimate / dearest:.0f}x the tuned finalists' proving cost",
                source="ezkl",
            )
            continue
        kept.append(finalist)
    return kept


@dataclass(frozen=True)
class ProofCheck:
    proof: Proof
    prove_s: float

    @property
    def proof_bytes(self) -> int:
        return len(self.proof.raw)


def prove_once(search: Search, finalist: Finalist) -> ProofCheck:
    """One proof of the first held-out sample with the finalist's keys; it must verify."""
    paths = finalist.paths
    srs = Path(dev_srs(finalist.layout.logrows).path)
    files = ProvingFiles(paths.compiled, paths.pk, srs, paths.log, output_scales(paths))
    proof_file = paths.root / "measure.proof.json"
    result = prove_sample(files, sample(search.data.heldout, 0), proof_file, keep_witness=False)
    if not verify_proof(proof_file, paths.settings, paths.vk, srs, paths.log).valid:
        raise CircuitError("its proof does not verify")
    return ProofCheck(result.proof, result.prove_seconds)


def objective_key(objective: str, trials: list[TrialRecord]) -> Callable[[TrialRecord], tuple[float, ...]]:
    """prove: smallest proving key; gas: cheapest verifyProof; balanced: sum of both ratios
    to the best. Ties go to fewer logrows. Nothing here is a measured time."""
    best_pk = min(t.pk_bytes or math.inf for t in trials)
    best_gas = min(t.verify_gas or math.inf for t in trials)

    def logrows(trial: TrialRecord) -> int:
        return trial.layout.logrows if trial.layout else 0

    if objective == "prove":
        return lambda t: (t.pk_bytes or math.inf, t.verify_gas or 0, logrows(t))
    if objective == "gas":
        return lambda t: (t.verify_gas or math.inf, t.pk_bytes or math.inf, logrows(t))
    return lambda t: (
        round((t.pk_bytes or math.inf) / best_pk + (t.verify_gas or math.inf) / best_gas, 6),
        t.pk_bytes or math.inf,
        logrows(t),
    )


def choose(search: Search, measured: list[Finalist]) -> Finalist:
    """The objective's best among finalists no larger to prove than ezkl's own settings."""
    deployable = [f for f in measured if f.trial is not None and "EIP-170" not in f.trial.status]
    if not deployable:
        search.reporter.warn("no finalist's verifier fits EIP-170's 24,576 bytes: deploy with `--reusable`")
    pool = deployable or measured
    baseline = [f for f in pool if f.source == "ezkl"]
    if baseline and baseline[0].trial is not None:
        ceiling = baseline[0].trial.pk_bytes or math.inf
        for finalist in pool:
            if finalist.trial is not None and (finalist.trial.pk_bytes or 0) > ceiling:
                finalist.trial.status += ": larger to prove than ezkl's own settings"
        pool = [f for f in pool if f.trial is not None and (f.trial.pk_bytes or 0) <= ceiling]
    trials = [f.trial for f in pool if f.trial is not None]
    key = objective_key(search.config.objective, trials)
    return min(pool, key=lambda f: key(f.trial) if f.trial is not None else (math.inf,))
