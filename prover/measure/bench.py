"""`prover bench`: ezkl's default calibration against the tuned circuit, side by side.

A use of the comparison: the two variants `ezkl-default` and `tuned` of one model,
measured in one run by the same loop as `prover compare`, in rounds that alternate which
goes first, never from cache, with setup timed too. Ratios are baseline / tuned: above 1
means tuned is better; the targets are the ones the tuner was built to reach.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prover.measure.child import idle_child_rss
from prover.measure.compare import CompareRow, Comparison
from prover.measure.variants import plan_rows
from prover.progress import Reporter
from prover.proving.circuit import Circuit

TARGETS = {"prove_speedup": 10.0, "pk_shrink": 20.0, "agreement": 1.0}
GAS_TARGETS = {"fee": 350_000}
#: (label in the report, variant measured)
PAIR = (("baseline", "ezkl-default"), ("tuned", "tuned"))


def summary(row: CompareRow, circuit: Circuit, setup_s: float) -> dict[str, Any]:
    """One side of the report: the row's figures plus the layout and mean error it came from."""
    fidelity = circuit.manifest.fidelity
    assert fidelity is not None
    return {
        "circuit": row.circuit,
        "settings": row.settings,
        "layout": circuit.info.layout.model_dump(),
        "logrows": row.logrows,
        "num_rows": row.rows,
        "prove_s": row.prove_s,
        "prove_runs_s": row.prove_runs_s,
        "peak_rss_bytes": row.peak_rss_bytes,
        "setup_s": setup_s,
        "pk_bytes": row.pk_bytes,
        "vk_bytes": row.vk_bytes,
        "verify_gas": row.verify_gas,
        "max_abs_error": row.max_abs_error,
        "mean_abs_error": fidelity.mean_abs_error,
        "agreement": row.agreement,
    }


def run_bench(name: str, workdir: Path, runs: int, reporter: Reporter | None = None) -> dict[str, Any]:
    """Build both circuits (cached), then measure them side by side; the report as JSON-able data."""
    reporter = reporter or Reporter()
    plans = plan_rows([name], [variant for _, variant in PAIR], Path(workdir))
    with Comparison(Path(workdir), runs, reporter, use_cache=False, time_setup=True) as comparison:
        circuits = [comparison.build(plan) for plan in plans]
        idle_rss = idle_child_rss()
        rows = comparison.measure(circuits, plans, interleave=True)
        setups = comparison.setup_seconds
    baseline, tuned = (summary(row, circuit, setups[circuit.name]) for row, circuit in zip(rows, circuits, strict=True))
    return report(name, runs, idle_rss, baseline, tuned)


def report(name: str, runs: int, idle_rss: int, base: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """Ratios and targets from the two summaries."""
    ratios = {
        key: round(base[key] / best[key], 2)
        for key in ("prove_s", "peak_rss_bytes", "pk_bytes", "setup_s", "verify_gas", "logrows")
        if best[key]
    }
    targets: dict[str, dict[str, Any]] = {
        "prove_speedup": {"target": TARGETS["prove_speedup"], "measured": ratios.get("prove_s")},
        "pk_shrink": {"target": TARGETS["pk_shrink"], "measured": ratios.get("pk_bytes")},
        "agreement": {"target": TARGETS["agreement"], "measured": best["agreement"]},
    }
    if name in GAS_TARGETS:
        targets["verify_gas"] = {"target": GAS_TARGETS[name], "measured": best["verify_gas"]}
    for key, entry in targets.items():
        measured = entry["measured"]
        entry["met"] = measured is not None and (
            measured <= entry["target"] if key == "verify_gas" else measured >= entry["target"]
        )
    return {
        "model": name,
        "runs": runs,
        "idle_child_rss_bytes": idle_rss,
        "baseline": base,
        "tuned": best,
        "ratios": ratios,
        "targets": targets,
    }
