"""The settings tuner: the cheapest circuit that keeps the user's accuracy bounds.

ezkl's calibration searches tied input/param scales and leaves decomposition, columns
and the rebase multiplier at what it was given; those decide rows, logrows and the
verifier's shape, i.e. cost. The search here runs in phases, each paying only for
what the one before could not decide:

1. scales: every (input scale, param scale, rebase multiplier) in a grid around the
   configured scale, compiled with a generous decomposition; witness-only fidelity on
   a held-out subset prunes most, the survivors are judged on the whole held-out set.
2. layout: for each surviving scale, the fewest decomposition bits that never overflow
   on a stress set (binary search), then every base/legs/columns split of those bits,
   ranked by the logrows and rows gen_settings reports (milliseconds each).
3. finalists: the best layout per column count is sized (lookup range, MockProver-
   checked logrows), set up and proved for real; the objective picks among them.

Every candidate and why it stopped is recorded in the manifest's `tuning` section.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prover.artifacts import CircuitPaths, TrialRecord, TuningReport
from prover.config import CircuitConfig, Layout
from prover.datasets import Dataset, sample
from prover.errors import CircuitError, SettingsError
from prover.evm.client import Chain, measurement_chain
from prover.evm.verifier import measure_verifier_gas
from prover.pipeline.cost import proving_cost
from prover.pipeline.export import run_onnx
from prover.pipeline.fidelity import DecisionFn, circuit_outputs
from prover.pipeline.sizing import (
    PROBE_LOOKUP_RANGE,
    candidate_paths,
    compile_for,
    fits,
    size_layout,
    stress_set,
    write_settings,
)
from prover.pipeline.srs import dev_srs
from prover.progress import Reporter, timed_stage

SCALE_OFFSETS = (-2, -1, 0, 1, 2)
PARAM_EXTRA = (0, 2)
REBASE_MULTIPLIERS = (1, 10)
GENEROUS = (12, 4)  # decomposition base 2^12, 4 legs: wide enough to judge scales alone
BASE_BITS = range(6, 13)
MAX_LEGS = 6
COLUMNS = (1, 2, 4)
MARGIN_STEPS = (1, 2, 4)  # multiples of the configured margin tried for free headroom
SUBSET = 48
FULL_CHECKS = 4
PROOF_RUNS = 3
DEFAULT_RELATIVE_ERROR = 0.01


@dataclass(frozen=True)
class TuningData:
    calibration: Dataset
    heldout: Dataset
    decision_name: str | None
    decide: DecisionFn | None


@dataclass
class _Judged:
    layout: Layout
    max_abs_error: float
    agreement: float | None


class _Search:
    """State of one tuning run: data, bounds, scratch space and the trial log."""

    def __init__(self, paths: CircuitPaths, config: CircuitConfig, data: TuningData, scratch: Path) -> None:
        self.paths, self.config, self.data, self.scratch = paths, config, data, scratch
        self.reference = run_onnx(paths.onnx, data.heldout)
        self.trials: list[TrialRecord] = []
        span = float(self.reference.max() - self.reference.min()) or 1.0
        self.max_error = config.max_error
        if self.max_error is None and data.decide is None:
            self.max_error = DEFAULT_RELATIVE_ERROR * span  # nothing to agree on: bound the error
        self.min_agreement = config.min_agreement if data.decide is not None else None
        self.stress = stress_set(data.calibration, config.lookup_safety_margin)
        self.arithmetic = arithmetic_twin(config)

    def label(self, layout: Layout) -> CircuitPaths:
        name = (
            f"s{layout.input_scale}p{layout.param_scale}m{layout.scale_rebase_multiplier}"
            f"b{layout.decomp_base}l{layout.decomp_legs}c{layout.num_inner_cols}"
        )
        return candidate_paths(self.scratch, name, self.paths)

    def judge(self, layout: Layout, data: Dataset, reference: np.ndarray) -> tuple[float, float | None]:
        """Max abs error and decision agreement of the circuit's witnesses on `data`."""
        paths = self.label(layout)
        compile_for(paths, self.arithmetic, layout)
        quantized = circuit_outputs(paths, data, _output_scales(paths))
        error = float(np.abs(quantized - reference).max())
        agreement = None
        if self.data.decide is not None:
            agreement = float((self.data.decide(quantized) == self.data.decide(reference)).mean())
        return error, agreement

    def verdict(self, error: float, agreement: float | None) -> str:
        if self.max_error is not None and error > self.max_error:
            return f"max error {error:.4g} > {self.max_error:.4g}"
        if agreement is not None and self.min_agreement is not None and agreement < self.min_agreement:
            return f"agreement {agreement:.2%} < {self.min_agreement:.2%}"
        return "passed"

    def record(self, phase: str, layout: Layout, status: str, **facts: object) -> TrialRecord:
        trial = TrialRecord(phase=phase, layout=layout, status=status, **facts)
        self.trials.append(trial)
        return trial


def arithmetic_twin(config: CircuitConfig) -> CircuitConfig:
    """`config` with hashed visibilities made plain: the same fixed-point arithmetic
    without the Poseidon hashes, which dominate witness time (fee's 161 hashed params
    made every witness several times slower). Phases 1 and 2 judge scales and
    decompositions on it; phase 3 sizes and proves the real circuit, so a twin that
    misjudged would still fail there, not in a user's proof."""
    plain = {"input_visibility": "public", "output_visibility": "public", "param_visibility": "fixed"}
    return config.model_copy(
        update={field: value for field, value in plain.items() if getattr(config, field) == "hashed"}
    )


def _output_scales(paths: CircuitPaths) -> list[int]:
    return list(json.loads(paths.settings.read_text())["model_output_scales"])


def scale_grid(config: CircuitConfig) -> list[Layout]:
    """Scale candidates, cheapest-looking first (smaller scales need smaller decompositions)."""
    layouts = []
    for offset in SCALE_OFFSETS:
        scale = config.input_scale + offset
        for extra in PARAM_EXTRA:
            for multiplier in REBASE_MULTIPLIERS:
                if scale >= 0 and scale + extra <= 24:
                    layouts.append(
                        Layout(
                            input_scale=scale,
                            param_scale=scale + extra,
                            scale_rebase_multiplier=multiplier,
                            decomp_base=1 << GENEROUS[0],
                            decomp_legs=GENEROUS[1],
                            lookup_safety_margin=config.lookup_safety_margin,
                            lookup_range=PROBE_LOOKUP_RANGE,
                            logrows=20,
                        )
                    )
    return sorted(layouts, key=lambda layout: (layout.input_scale + layout.param_scale, layout.scale_rebase_multiplier))


def search_scales(search: _Search) -> list[_Judged]:
    """Phase 1: witness fidelity, subset first, whole held-out set for the survivors."""
    count = len(search.reference)
    subset_index = np.unique(np.linspace(0, count - 1, min(SUBSET, count)).astype(int))
    subset = [array[subset_index] for array in search.data.heldout]
    passed: list[_Judged] = []
    for layout in scale_grid(search.config):
        if len(passed) >= FULL_CHECKS:
            search.record("scales", layout, "not tried: enough cheaper scales passed")
            continue
        try:
            error, agreement = search.judge(layout, subset, search.reference[subset_index])
            status = search.verdict(error, agreement)
            if status == "passed":
                error, agreement = search.judge(layout, search.data.heldout, search.reference)
                status = search.verdict(error, agreement)
        except CircuitError as exc:
            search.record("scales", layout, f"witness failed: {exc.message}")
            continue
        search.record("scales", layout, status, max_abs_error=error, agreement=agreement)
        if status == "passed":
            passed.append(_Judged(layout, error, agreement))
    return passed


def decomposition_bits(search: _Search, layout: Layout) -> int | None:
    """Fewest total decomposition bits (base bits x legs) with no overflow on the stress set."""
    low, high = BASE_BITS.start * 2, GENEROUS[0] * GENEROUS[1]
    probe = search.label(layout)

    def ok(bits: int) -> bool:
        legs = max(2, math.ceil(bits / GENEROUS[0]))
        base_bits = math.ceil(bits / legs)
        return fits(
            probe,
            search.arithmetic,
            layout.model_copy(update={"decomp_base": 1 << base_bits, "decomp_legs": legs}),
            search.stress,
        )

    if not ok(high):
        return None
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if ok(middle) else (middle + 1, high)
    return low


def layouts_for(search: _Search, judged: _Judged, bits: int) -> list[tuple[tuple[int, int, float], Layout]]:
    """Phase 2: every base/legs/columns split of `bits`, ranked by estimated logrows, rows."""
    ranked = []
    for base_bits in BASE_BITS:
        legs = math.ceil(bits / base_bits)
        if legs > MAX_LEGS:
            continue
        for columns in COLUMNS:
            layout = judged.layout.model_copy(
                update={
                    "decomp_base": 1 << base_bits,
                    "decomp_legs": legs,
                    "num_inner_cols": columns,
                    "lookup_range": PROBE_LOOKUP_RANGE,
                    "logrows": 20,
                }
            )
            facts = write_settings(search.label(layout), search.config, layout)
            logrows = facts.min_logrows(layout)
            search.record(
                "layout",
                layout.model_copy(update={"logrows": logrows}),
                "estimated",
                num_rows=facts.num_rows,
                max_abs_error=judged.max_abs_error,
                agreement=judged.agreement,
            )
            ranked.append(((logrows, facts.num_rows, judged.max_abs_error), layout))
    return ranked


def pick_finalists(ranked: list[tuple[tuple[int, int, float], Layout]]) -> list[Layout]:
    """The best-ranked layout for each column count: columns trade proving time for gas."""
    best: dict[int, tuple[tuple[int, int, float], Layout]] = {}
    for key, layout in ranked:
        current = best.get(layout.num_inner_cols)
        if current is None or key < current[0]:
            best[layout.num_inner_cols] = (key, layout)
    return [layout for _, layout in sorted(best.values(), key=lambda item: item[0])]


@contextlib.contextmanager
def _chain_if(needed: bool) -> Iterator[Chain | None]:
    if not needed:
        yield None
        return
    with measurement_chain() as chain:
        yield chain


def measure_finalists(search: _Search, finalists: list[Layout], reporter: Reporter) -> list[TrialRecord]:
    """Phase 3: size, set up and prove each finalist; gas on an embedded anvil if it matters."""
    measured = []
    first = sample(search.data.heldout, 0)
    with _chain_if(search.config.objective != "prove") as chain:
        for layout in finalists:
            paths = search.label(layout)
            with timed_stage(reporter, "finalist", layout.short()) as outcome:
                try:
                    sized = size_layout(paths, search.config, layout, search.stress, search.config.max_logrows)
                except SettingsError as exc:
                    search.record("finalist", layout, f"not sized: {exc.message}")
                    outcome.status = "pruned"
                    continue
                srs = Path(dev_srs(sized.logrows).path)
                cost = proving_cost(paths, srs, first, _output_scales(paths), PROOF_RUNS)
                gas_cost = measure_verifier_gas(chain, paths, srs, cost.proof) if chain is not None else None
                gas = gas_cost.verify_gas if gas_cost is not None else None
                oversize = gas_cost is not None and not gas_cost.fits_eip170 and search.config.onchain
                status = f"verifier {gas_cost.runtime_bytes:,} bytes > EIP-170" if oversize and gas_cost else "measured"
                measured.append(
                    search.record(
                        "finalist",
                        sized,
                        status,
                        num_rows=None,
                        setup_s=round(cost.setup_s, 4),
                        prove_s=round(cost.prove_s, 4),
                        pk_bytes=cost.pk_bytes,
                        proof_bytes=cost.proof_bytes,
                        verify_gas=gas,
                    )
                )
                outcome.detail = f"logrows {sized.logrows}, prove {cost.prove_s:.3f}s" + (
                    f", gas {gas:,}" if gas else ""
                )
    return measured


def objective_key(objective: str, trials: list[TrialRecord]) -> Callable[[TrialRecord], tuple[float, ...]]:
    """prove: fastest proof; gas: cheapest verifyProof; balanced: sum of both ratios to the best."""
    best_prove = min(t.prove_s or math.inf for t in trials)
    best_gas = min(t.verify_gas or math.inf for t in trials)
    if objective == "prove":
        return lambda t: (t.prove_s or math.inf, t.pk_bytes or 0)
    if objective == "gas":
        return lambda t: (t.verify_gas or math.inf, t.prove_s or math.inf)
    return lambda t: ((t.prove_s or math.inf) / best_prove + (t.verify_gas or math.inf) / best_gas, t.pk_bytes or 0)


def widest_margin(search: _Search, chosen: Layout) -> tuple[Layout, CircuitPaths]:
    """The largest safety margin the chosen layout holds at the same logrows: free headroom."""
    paths = search.label(chosen)
    best = chosen
    for step in MARGIN_STEPS[1:]:
        margin = search.config.lookup_safety_margin * step
        wider = chosen.model_copy(update={"lookup_safety_margin": margin})
        try:
            sized = size_layout(
                paths, search.config, wider, stress_set(search.data.calibration, margin), chosen.logrows
            )
        except SettingsError:
            search.record("finalist", wider, "margin does not fit at the same logrows")
            break
        best = sized
    size_layout(
        paths, search.config, best, stress_set(search.data.calibration, best.lookup_safety_margin), best.logrows
    )
    return best, paths


def tune(
    paths: CircuitPaths, config: CircuitConfig, data: TuningData, scratch: Path, reporter: Reporter
) -> tuple[TuningReport, CircuitPaths]:
    """Run the search; returns the report and the candidate folder holding the chosen settings."""
    start = time.perf_counter()
    search = _Search(paths, config, data, scratch)
    with timed_stage(reporter, "tune", "scales") as outcome:
        passed = search_scales(search)
        outcome.detail = f"{len(passed)} scale choices within bounds"
    if not passed:
        raise SettingsError(
            "no scale in the search keeps the accuracy bounds "
            f"(max error {search.max_error}, agreement {search.min_agreement})",
            hint="loosen --max-error / --min-agreement, or raise the input scale",
        )
    ranked = []
    with timed_stage(reporter, "tune", "layouts") as outcome:
        for judged in passed:
            bits = decomposition_bits(search, judged.layout)
            if bits is None:
                search.record("layout", judged.layout, "overflows even the widest decomposition")
                continue
            ranked.extend(layouts_for(search, judged, bits))
        outcome.detail = f"{len(ranked)} layouts estimated"
    measured = measure_finalists(search, pick_finalists(ranked), reporter)
    if not measured:
        raise SettingsError("no layout could be sized within max_logrows", hint="raise --max-logrows")
    deployable = [trial for trial in measured if trial.status == "measured"]
    if not deployable:
        reporter.warn("no finalist's verifier fits EIP-170's 24,576 bytes: deploy with `--reusable`")
    candidates = deployable or measured
    winner = min(candidates, key=objective_key(config.objective, candidates))
    chosen, chosen_paths = widest_margin(search, winner.layout)
    winner.status = "chosen"
    report = TuningReport(
        objective=config.objective,
        max_error=search.max_error,
        min_agreement=search.min_agreement,
        decision=data.decision_name,
        chosen=chosen,
        seconds=round(time.perf_counter() - start, 2),
        trials=search.trials,
    )
    return report, chosen_paths
