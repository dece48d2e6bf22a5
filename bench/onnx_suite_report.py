"""The suite's rows, totals and table: what issue 12's "Done when" is judged on.

Totals are counted against plain ezkl on purpose: a model ezkl itself cannot prove says
nothing about the toolkit, so coverage, accuracy and speed are all "of the models plain
ezkl builds, proves and verifies".
"""

from __future__ import annotations

import io
import math
from typing import Any

from rich.console import Console
from rich.table import Table

#: a pipeline's error within this share of each output's magnitude counts as accurate
REL_BOUND = 0.01


def succeeded(part: dict[str, Any] | None) -> bool:
    return bool(part and part.get("built") and part.get("proved") and part.get("verified"))


def speedup(row: dict[str, Any]) -> float | None:
    """ezkl's prove seconds over the toolkit's, where both proved and verified."""
    ezkl, prover = row.get("ezkl"), row.get("prover")
    if not (succeeded(ezkl) and succeeded(prover)):
        return None
    assert ezkl is not None and prover is not None
    if not ezkl.get("prove_s") or not prover.get("prove_s"):
        return None
    return float(ezkl["prove_s"]) / float(prover["prove_s"])


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage, accuracy and speed of the toolkit on the models plain ezkl proves."""
    baseline = [row for row in rows if succeeded(row.get("ezkl"))]
    proven = [row for row in baseline if succeeded(row.get("prover"))]
    accurate = [
        row for row in proven if row["prover"].get("rel_error") is not None and row["prover"]["rel_error"] <= REL_BOUND
    ]
    speedups = [s for s in (row.get("speedup") for row in proven) if s is not None]
    fast = [row for row in proven if row.get("speedup") is not None and row["speedup"] >= 1.0]
    done = [row for row in accurate if row.get("speedup") is not None and row["speedup"] >= 1.0]
    ezkl_accurate = [
        row for row in baseline if row["ezkl"].get("rel_error") is not None and row["ezkl"]["rel_error"] <= REL_BOUND
    ]
    return {
        "models": len(rows),
        "ezkl_ok": len(baseline),
        "ezkl_within_1pct": len(ezkl_accurate),
        "prover_ok": len(proven),
        "prover_ok_anywhere": sum(succeeded(row.get("prover")) for row in rows),
        "prover_within_1pct": len(accurate),
        "prover_no_slower": len(fast),
        "prover_all_criteria": len(done),
        "geomean_speedup": math.exp(sum(math.log(s) for s in speedups) / len(speedups)) if speedups else None,
        "speedup_models": len(speedups),
        "ezkl_failed": [row["model"] for row in rows if not succeeded(row.get("ezkl"))],
        "prover_failed": [row["model"] for row in baseline if not succeeded(row.get("prover"))],
    }


def _state(part: dict[str, Any] | None) -> str:
    if not part:
        return "-"
    if succeeded(part):
        return "ok"
    return f"✗ {part.get('failed_step') or '?'}"


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _mb(value: Any) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def _pct(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}%" if value < 10 else f"{value:.0f}x"


HEADERS = (
    "model",
    "ezkl",
    "k",
    "pk MB",
    "prove s",
    "rel err",
    "prover",
    "k",
    "pk MB",
    "prove s",
    "rel err",
    "speedup",
)


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    cells = []
    for row in rows:
        line = [row["model"]]
        for key in ("ezkl", "prover"):
            part = row.get(key) or {}
            line += [
                _state(part),
                _num(part.get("logrows"), "d"),
                _mb(part.get("pk_bytes")),
                _num(part.get("prove_s"), ".2f"),
                _pct(part.get("rel_error")),
            ]
        line.append(_num(row.get("speedup"), ".1f"))
        cells.append(line)
    return cells


def failures(rows: list[dict[str, Any]]) -> list[str]:
    """Every failing pipeline of every model, one line each (the reference's too)."""
    lines = []
    for row in rows:
        for key in ("reference", "ezkl", "prover"):
            part = row.get(key) or {}
            error = part.get("error")
            if error is None and key != "reference" and part and not succeeded(part):
                error = "did not finish"
            if error:
                lines.append(f"{row['model']} [{key}] {error}")
            mismatch = part.get("mismatch")
            if mismatch:
                lines.append(f"{row['model']} [{key}] outputs differ in size from onnxruntime: {mismatch}")
    return lines


def summary_lines(total: dict[str, Any]) -> list[str]:
    geo = total["geomean_speedup"]
    base = total["ezkl_ok"]
    return [
        f"models: {total['models']}; plain ezkl builds+proves+verifies {base} "
        f"({total['ezkl_within_1pct']} within 1% of onnxruntime)",
        f"of those {base}: prover builds+proves+verifies {total['prover_ok']}, "
        f"within 1% {total['prover_within_1pct']}, "
        f"no slower than ezkl {total['prover_no_slower']}, all three {total['prover_all_criteria']}",
        f"geometric-mean prove speedup (ezkl s / prover s) over {total['speedup_models']} models both ran: "
        + ("-" if geo is None else f"{geo:.2f}x"),
    ]


def render(rows: list[dict[str, Any]], total: dict[str, Any], width: int = 160) -> str:
    """The table, the failures and the totals as text (no colour: it also goes to a file)."""
    cells = table_rows(rows)
    table = Table(title="ONNX suite: plain ezkl vs prover build (default settings)", show_lines=False)
    for index, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if index in (0, 1, 6) else "right", no_wrap=True)
    for line in cells:
        table.add_row(*line)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, highlight=False, force_terminal=False)
    console.print(table)
    for text in [*failures(rows), *summary_lines(total)]:
        console.print(text, soft_wrap=True, markup=False)
    return buffer.getvalue()
