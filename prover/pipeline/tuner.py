"""The settings tuner: the cheapest circuit that keeps the accuracy bounds, never worse than ezkl's.

ezkl's calibration searches tied input/param scales and leaves decomposition, columns
and the rebase multiplier at what it was given; those decide rows, logrows and the
verifier's shape, i.e. cost. The search here runs in phases, each paying only for
what the one before could not decide:

0. ezkl: plain gen_settings + calibrate_settings('resources'), what a user would get
   from ezkl itself, judged like every other candidate (finalists.py). If it keeps the
   bounds it is a finalist, and no tuned layout larger to prove can win against it.
1. scales: (input scale, param scale, rebase multiplier) choices, cheapest first,
   compiled with a generous decomposition; witness-only fidelity on a held-out subset
   prunes most, the survivors are judged on the whole held-out set. The search goes
   on past the configured scale (up to +8 bits) until enough choices pass.
2. layout: for each passing scale choice, the fewest decomposition bits that never
   overflow on the stress set (binary search, plus headroom for the lookup margin),
   then every base/legs split of them at one column and the best three at 2 and 4
   columns, ranked by the logrows (lookups aside) and rows that gen_settings reports.
3. sizing: per column count, layouts are sized in rank order (lookup range from the
   stress witnesses, MockProver-checked logrows) until one fits; a layout that
   overflows gets one more decomposition leg, one that needs too many logrows gives
   way to the next scale choice.
4. finalists: the best sized layout per column count and ezkl's settings get keys
   (and a proof and its gas if the objective counts gas); the objective picks on those
   deterministic figures, and the winner's proof must verify.

A work budget (budget.py, estimated from circuit sizes, never a clock) ends the search
early, keeping the best so far; the search never ends without a candidate while one
is still untried. Every candidate and why it stopped is in the manifest's `tuning`
section, also when tuning fails.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from prover.artifacts import CircuitPaths, TuningReport
from prover.config import CircuitConfig, Layout
from prover.errors import CircuitError, SettingsError
from prover.pipeline.bounds import Judgement, bound_records
from prover.pipeline.budget import compile_cost, mock_cost, witness_cost
from prover.pipeline.finalists import Finalist, choose, ezkl_baseline, measure, prove_once
from prover.pipeline.search import Search, TuningData
from prover.pipeline.sizing import (
    PROBE_LOGROWS,
    PROBE_LOOKUP_RANGE,
    LayoutOverflow,
    TooManyRows,
    fits,
    read_facts,
    size_layout,
    stress_set,
    write_settings,
)
from prover.progress import Reporter, timed_stage

#: part of the settings stage's fingerprint: a build tuned by an older search is tuned again
TUNER_VERSION = "3"
SCALE_OFFSETS = (-2, -1, 0, 1, 2, 4, 6, 8)
PARAM_EXTRA = (0, 2)
REBASE_MULTIPLIERS = (1, 10)
GENEROUS = (12, 4)  # decomposition base 2^12, 4 legs: wide enough to judge scales alone
BASE_BITS = range(6, 13)
MAX_LEGS = 6
COLUMNS = (1, 2, 4)
MARGIN_STEPS = (1, 2, 4)  # multiples of the configured margin tried for free headroom
SUBSET = 48
SCALE_CHOICES = 3  # passing scale choices carried through layout and sizing
SIZING_TRIES = 3  # layouts per column count sized before that column count gives up


class TuningFailed(SettingsError):
    """No candidate fits; `report` says what was tried (saved in the manifest)."""

    def __init__(self, message: str, report: TuningReport, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


@dataclass
class _Judged:
    layout: Layout
    judgement: Judgement


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
                            logrows=PROBE_LOGROWS,
                        )
                    )
    return sorted(layouts, key=lambda layout: (layout.input_scale + layout.param_scale, layout.scale_rebase_multiplier))


def passing_scales(search: Search) -> Iterator[_Judged]:
    """Phase 1, lazily: scale choices within bounds, cheapest first; stops when the budget is
    spent and something already fits."""
    count = len(search.reference)
    subset_index = np.unique(np.linspace(0, count - 1, min(SUBSET, count)).astype(int))
    subset = [array[subset_index] for array in search.data.heldout]
    seen: dict[tuple[object, ...], Layout] = {}
    for layout in scale_grid(search.config):
        if search.searching_budget_spent and search.has_candidate:
            search.record("scales", layout, "not tried: tuning budget spent")
            continue
        try:
            circuit = search.circuit_identity(layout)
            if circuit in seen:
                search.record("scales", layout, f"same circuit as {seen[circuit].short()}")
                continue
            seen[circuit] = layout
            judgement = search.judge(layout, subset, search.reference[subset_index])
            if judgement.failure is None and len(subset_index) < count:
                judgement = search.judge(layout, search.data.heldout, search.reference)
        except CircuitError as exc:
            search.record("scales", layout, f"witness failed: {exc.message}")
            continue
        search.record_judged("scales", layout, judgement)
        if judgement.failure is None:
            yield _Judged(layout, judgement)


def decomposition_bits(search: Search, layout: Layout) -> int | None:
    """Fewest total decomposition bits (base bits x legs) with no overflow on the stress set."""
    low, high = BASE_BITS.start * 2, GENEROUS[0] * GENEROUS[1]
    probe = search.label(layout)

    def ok(bits: int) -> bool:
        legs = max(2, math.ceil(bits / GENEROUS[0]))
        base_bits = math.ceil(bits / legs)
        trial = layout.model_copy(update={"decomp_base": 1 << base_bits, "decomp_legs": legs})
        result = fits(probe, search.arithmetic, trial, search.stress)
        rows = read_facts(probe.settings).num_rows
        search.budget.charge(compile_cost(rows) + witness_cost(rows, len(search.stress[0])))
        return result

    if not ok(high):
        return None
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if ok(middle) else (middle + 1, high)
    if search.config.coverage == "calibration":
        low += math.ceil(math.log2(search.config.lookup_safety_margin))  # the margin, as for lookups
    return low


_Ranked = tuple[tuple[int, int], Layout]  # ((estimated logrows, rows), layout)


def ranked_layouts(search: Search, judged: _Judged, bits: int) -> list[_Ranked]:
    """Phase 2: base/legs/columns splits of `bits`, ranked by estimated logrows, then rows.

    Every base is compiled at one column; more columns only for the bases that ranked
    best there (a split's rank barely moves with the column count, and each compile of a
    large graph costs as much as a witness).
    """
    splits = [(base_bits, math.ceil(bits / base_bits)) for base_bits in BASE_BITS]
    splits = [(base_bits, legs) for base_bits, legs in splits if legs <= MAX_LEGS]
    ranked = [_estimate(search, judged, base_bits, legs, COLUMNS[0]) for base_bits, legs in splits]
    ranked.sort(key=lambda item: item[0])
    best_bases = [(layout.decomp_base.bit_length() - 1, layout.decomp_legs) for _, layout in ranked[:SIZING_TRIES]]
    for columns in COLUMNS[1:]:
        ranked += [_estimate(search, judged, base_bits, legs, columns) for base_bits, legs in best_bases]
    return sorted(ranked, key=lambda item: item[0])


def _estimate(
    search: Search, judged: _Judged, base_bits: int, legs: int, columns: int
) -> tuple[tuple[int, int], Layout]:
    """One split's rows and logrows from gen_settings (lookups aside: sizing finds them)."""
    layout = judged.layout.model_copy(
        update={
            "decomp_base": 1 << base_bits,
            "decomp_legs": legs,
            "num_inner_cols": columns,
            "lookup_range": PROBE_LOOKUP_RANGE,
            "logrows": PROBE_LOGROWS,
        }
    )
    facts = write_settings(search.label(layout), search.config, layout)
    search.budget.charge(compile_cost(facts.num_rows))
    # the probe's lookup range is a placeholder (sizing finds the real one): rank by the rest
    logrows = replace(facts, lookup_bits=0).min_logrows(layout)
    search.record(
        "layout",
        layout.model_copy(update={"logrows": logrows}),
        "estimated",
        num_rows=facts.num_rows,
        max_abs_error=judged.judgement.max_abs_error,
        agreement=judged.judgement.agreement,
    )
    return (logrows, facts.num_rows), layout


def size_with_fallback(search: Search, layout: Layout) -> Layout:
    """Size `layout`; if the stress set overflows its decomposition, once more with a leg more."""
    try:
        return _size(search, layout)
    except LayoutOverflow as exc:
        if layout.decomp_legs >= MAX_LEGS:
            raise
        search.record("finalist", layout, f"not sized: {exc.message}; one more leg")
        return _size(search, layout.model_copy(update={"decomp_legs": layout.decomp_legs + 1}))


def _size(search: Search, layout: Layout) -> Layout:
    """size_layout, charged to the budget: compiles, stress witnesses, a MockProver or two."""
    paths = search.label(layout)
    try:
        return size_layout(paths, search.config, layout, search.stress, search.config.max_logrows)
    finally:
        facts = read_facts(paths.settings) if paths.settings.exists() else None
        if facts is not None:
            logrows = min(facts.min_logrows(layout), search.config.max_logrows)
            search.budget.charge(
                2 * compile_cost(facts.num_rows)
                + witness_cost(facts.num_rows, len(search.stress[0]))
                + 2 * mock_cost(logrows, layout.num_inner_cols)
            )


def search_layouts(search: Search) -> list[Finalist]:
    """Phases 1-3: sized layouts, the best per column count over the scale choices tried."""
    best: dict[int, Finalist] = {}
    choices = 0
    for judged in passing_scales(search):
        with timed_stage(search.reporter, "tune", "layouts") as outcome:
            bits = decomposition_bits(search, judged.layout)
            if bits is None:
                search.record("layout", judged.layout, "overflows even the widest decomposition")
                continue
            ranked = ranked_layouts(search, judged, bits)
            for columns in COLUMNS:
                tries = [layout for _, layout in ranked if layout.num_inner_cols == columns][:SIZING_TRIES]
                for layout in tries:
                    if search.searching_budget_spent and (best or search.has_candidate):
                        search.record("finalist", layout, "not sized: tuning budget spent")
                        break
                    try:
                        sized = size_with_fallback(search, layout)
                    except TooManyRows as exc:
                        search.record("finalist", layout, f"not sized: {exc.message}")
                        break  # its lookups or rows are too wide for max_logrows: the next split will not help
                    except SettingsError as exc:
                        search.record("finalist", layout, f"not sized: {exc.message}")
                        continue
                    search.record("finalist", sized, "sized")
                    current = best.get(columns)
                    if current is None or (sized.logrows, sized.input_scale) < (
                        current.layout.logrows,
                        current.layout.input_scale,
                    ):
                        best[columns] = Finalist(sized, search.label(sized), "tuned")
                    break
            scales = judged.layout
            sized_now = ", ".join(f"{f.layout.logrows} at {cols} cols" for cols, f in sorted(best.items()))
            outcome.detail = (
                f"scales {scales.input_scale}/{scales.param_scale} x{scales.scale_rebase_multiplier}; "
                f"best logrows {sized_now or 'none yet'}"
            )
        choices += 1
        search.has_candidate = search.has_candidate or bool(best)
        if choices >= SCALE_CHOICES or (search.searching_budget_spent and best):
            break
    return [best[columns] for columns in sorted(best)]


def widest_margin(search: Search, chosen: Finalist) -> Layout:
    """The largest safety margin the chosen layout holds at the same logrows: free headroom."""
    best = chosen.layout
    kinds, coverage = search.signature.input_types, search.config.coverage
    for step in MARGIN_STEPS[1:]:
        margin = search.config.lookup_safety_margin * step
        wider = chosen.layout.model_copy(update={"lookup_safety_margin": margin})
        stress = stress_set(search.data.calibration, search.data.heldout, margin, kinds, coverage)
        try:
            best = size_layout(chosen.paths, search.config, wider, stress, chosen.layout.logrows)
        except SettingsError:
            search.record("finalist", wider, "margin does not fit at the same logrows")
            break
    stress = stress_set(search.data.calibration, search.data.heldout, best.lookup_safety_margin, kinds, coverage)
    return size_layout(chosen.paths, search.config, best, stress, best.logrows)


def tune(
    paths: CircuitPaths, config: CircuitConfig, data: TuningData, scratch: Path, reporter: Reporter
) -> tuple[TuningReport, CircuitPaths]:
    """Run the search; returns the report and the candidate folder holding the chosen settings.

    TuningFailed (with the report) if nothing fits: with ezkl's own reason when plain ezkl
    fails on this model too.
    """
    start = time.perf_counter()
    search = Search(paths, config, data, scratch, reporter)
    report = TuningReport(
        objective=config.objective,
        outputs=bound_records(search.bounds),
        max_error=config.max_error,
        max_rel_error=config.max_rel_error if config.max_error is None else None,
        decision=data.decision.name if data.decision else None,
        min_agreement=config.min_agreement if data.decision else None,
        coverage=config.coverage,
        budget_s=config.tune_budget,
    )
    with timed_stage(reporter, "tune", "ezkl's own settings") as outcome:
        baseline, ezkl_error = ezkl_baseline(search)
        search.has_candidate = baseline is not None
        status = search.trials[-1].status if search.trials else ""
        logrows = baseline.layout.logrows if baseline is not None else None
        outcome.detail = f"ezkl's settings (logrows {logrows}): {status}" if logrows else f"ezkl's settings: {status}"
    finalists = search_layouts(search)
    if baseline is not None:
        finalists.append(baseline)
    winner = _measure_and_choose(search, finalists)
    report.work_s = round(search.budget.spent, 2)
    report.seconds = round(time.perf_counter() - start, 2)
    report.trials = search.trials  # the model copied the list it was given
    if winner is None:
        report.failure = _failure(search, ezkl_error)
        raise TuningFailed(report.failure, report, hint=_failure_hint(search, ezkl_error))
    if winner.source == "tuned" and winner.paths.root.name != "ezkl":
        winner.layout = widest_margin(search, winner)
    report.chosen, report.winner = winner.layout, "ezkl" if winner.source == "ezkl" else "tuned"
    return report, winner.paths


def _measure_and_choose(search: Search, finalists: list[Finalist]) -> Finalist | None:
    """Keys for the finalists, the objective's pick, and a proof of it that must verify."""
    measured = measure(search, finalists)
    while measured:
        winner = choose(search, measured)
        try:
            if winner.trial is not None and winner.trial.prove_s is None:
                winner.trial.prove_s = round(prove_once(search, winner).prove_s, 4)
        except CircuitError as exc:
            if winner.trial is not None:
                winner.trial.status = exc.message
            measured.remove(winner)
            continue
        if winner.trial is not None:
            winner.trial.status = "chosen"
        return winner
    return None


def _failure(search: Search, ezkl_error: str | None) -> str:
    if ezkl_error is not None and not any(t.status == "passed" for t in search.trials if t.phase == "scales"):
        return f"no settings fit this model, and plain ezkl fails on it too: {ezkl_error}"
    if not any(t.status == "passed" for t in search.trials if t.phase in ("scales", "ezkl")):
        return f"no scale in the search keeps the accuracy bounds ({search.bounds.describe()})"
    return f"no layout within the bounds could be sized within {search.config.max_logrows} logrows"


def _failure_hint(search: Search, ezkl_error: str | None) -> str:
    if ezkl_error is not None and "scales" not in _failure(search, ezkl_error):
        return "see circuits/<name>/ezkl.log; check the model runs in onnxruntime with your data"
    if "accuracy" in _failure(search, ezkl_error):
        return "loosen --max-rel-error / --max-error / --min-agreement, or raise --input-scale"
    return "raise --max-logrows, or loosen the bounds so smaller scales pass"
