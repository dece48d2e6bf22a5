"""What a comparison's rows say, as Markdown computed from those rows.

The compare notebook once carried prose written from an older run ("1.3x the gas",
"+130k gas") beside a table that printed 1.00x and +2k. Here every figure in the prose
is formatted from the rows it sits beside, by the same formatter as the table's cell,
and every direction ("more", "less", "about the same", "worse on", "better on") is
chosen from the data, so the words cannot drift from the numbers. The one fixed text is
what a variant buys that no column measures (a verifier shared by retrained weights,
private inputs). `tests/test_notebooks.py` parses the table and the prose of a real run
and checks them against each other.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from prover.measure.compare import CompareRow
from prover.measure.variants import FAST_SET, FULL_SET, VariantSet

Change = Literal["ratio", "difference", "points"]
Direction = Literal["more", "less", "same"]
#: what each variant token gives that no column of the table measures
BUYS = {
    "ezkl-default": "it is the baseline the tuner is measured against",
    "hashed-params": (
        "what it buys is not in the table: one verifier serves every retrained version (each pinned by its "
        "weights' commitment), and the weights need not be published"
    ),
    "hashed-inputs": (
        "what it buys: the contract checks one hash instead of every input, and the inputs can stay private"
    ),
    "batch": "what it buys: one verification shared by several results, for a consumer that can wait for them",
}


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant figures without an exponent: 3.04, 0.00195, 1,234."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


@dataclass(frozen=True)
class Quantity:
    """One measured column: its table header (with unit), its name in prose, how it compares."""

    header: str
    noun: str
    value: Callable[[CompareRow], float | None]
    text: Callable[[float], str]
    #: how two rows are compared: a ratio, a difference, or a difference in percentage points
    change: Change
    #: what follows a value in prose ("s", "MiB", "gas"); "%" sticks to the number
    unit: str = ""
    #: False where more is better (decision agreement)
    lower_is_better: bool = True


LOGROWS = Quantity("logrows", "logrows", lambda row: row.logrows, lambda v: f"{v:.0f}", "difference")
ROWS_USED = Quantity("rows used", "rows used", lambda row: row.rows, lambda v: f"{v:,.0f}", "ratio")
PROVE = Quantity(
    "proving time (s, median)", "proving time", lambda row: row.prove_s, lambda v: f"{v:.3f}", "ratio", "s"
)
MEMORY = Quantity(
    "peak memory (MiB)", "peak memory", lambda row: row.peak_rss_bytes / 2**20, lambda v: f"{v:,.0f}", "ratio", "MiB"
)
PROVING_KEY = Quantity("proving key (MB)", "proving key", lambda row: row.pk_bytes / 1e6, significant, "ratio", "MB")
PROOF = Quantity("proof (bytes)", "proof size", lambda row: row.proof_bytes, lambda v: f"{v:,.0f}", "ratio", "bytes")
VERIFY_GAS = Quantity(
    "verifyProof (gas)", "verifyProof gas", lambda row: row.verify_gas, lambda v: f"{v:,.0f}", "difference"
)
GAS_PER_INFERENCE = Quantity(
    "gas per inference", "gas per inference", lambda row: row.gas_per_inference, lambda v: f"{v:,.0f}", "ratio"
)
DEPLOY_GAS = Quantity(
    "verifier deploy (gas)", "verifier deploy gas", lambda row: row.deploy_gas, lambda v: f"{v:,.0f}", "ratio"
)
ERROR = Quantity("max abs error (output units)", "max abs error", lambda row: row.max_abs_error, significant, "ratio")
AGREEMENT = Quantity(
    "decision agreement (%)",
    "decision agreement",
    lambda row: None if row.agreement is None else 100 * row.agreement,
    lambda v: f"{v:.1f}",
    "points",
    "%",
    lower_is_better=False,
)
#: the table's measured columns, in order
TABLE = (
    LOGROWS,
    ROWS_USED,
    PROVE,
    MEMORY,
    PROVING_KEY,
    PROOF,
    VERIFY_GAS,
    GAS_PER_INFERENCE,
    DEPLOY_GAS,
    ERROR,
    AGREEMENT,
)
#: what each variant is compared on in prose (gas per inference only where a proof covers several)
COMPARED = (LOGROWS, PROVE, MEMORY, PROVING_KEY, VERIFY_GAS, GAS_PER_INFERENCE, ERROR, AGREEMENT)
#: the costs and the accuracy a trade-off is judged on (by ratio: 1.0x is no difference)
JUDGED = (PROVE, PROVING_KEY, GAS_PER_INFERENCE, ERROR, AGREEMENT)


def notebook_set(environ: Mapping[str, str] | None = None) -> VariantSet:
    """The compare notebook's set: fast, or full with PROVER_NOTEBOOK_FULL=1; COMPARE_MODELS,
    COMPARE_VARIANTS and COMPARE_RUNS (comma-separated, a number) override either."""
    environ = os.environ if environ is None else environ
    chosen = FULL_SET if environ.get("PROVER_NOTEBOOK_FULL", "").strip() not in ("", "0") else FAST_SET
    models = _listed(environ.get("COMPARE_MODELS")) or chosen.models
    variants = _listed(environ.get("COMPARE_VARIANTS")) or chosen.variants
    runs = int(environ["COMPARE_RUNS"]) if environ.get("COMPARE_RUNS", "").strip() else chosen.runs
    if (models, variants, runs) == (chosen.models, chosen.variants, chosen.runs):
        return chosen
    return VariantSet(f"{chosen.name}, overridden", models, variants, runs)


def _listed(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def cell(quantity: Quantity, row: CompareRow) -> str:
    value = quantity.value(row)
    return "-" if value is None else quantity.text(value)


def results_markdown(rows: Sequence[CompareRow], runs: int) -> str:
    """The rows as a Markdown table; each figure is formatted exactly as the prose quotes it."""
    headers = ["model", "variant", "inputs/params/outputs", *(quantity.header for quantity in TABLE)]
    lines = [
        f"**proofs side by side** ({runs} proving runs per row, medians; held-out errors in each model's output units)",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if index < 3 else "---:" for index in range(len(headers))) + "|",
    ]
    for row in rows:
        visibility = f"{row.input_visibility}/{row.param_visibility}/{row.output_visibility}"
        cells = [row.model, f"`{row.variant}`", visibility, *(cell(quantity, row) for quantity in TABLE)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def direction(quantity: Quantity, value: float, base: float) -> tuple[Direction, str]:
    """Which way `value` differs from `base`, and by how much as the prose words it.

    "same" when the shown change rounds to nothing, so a direction is never claimed
    that the printed figures cannot support; the amount is then "" for equal values,
    "about" for values that differ by less than the prose can show."""
    if value == base:
        return "same", ""
    if quantity.change == "ratio":
        if base == 0:
            return "more", ""
        ratio = value / base
        shown = f"{ratio if ratio >= 1 else 1 / ratio:.1f}"
        if shown == "1.0":
            return "same", "about"
        return ("more" if ratio > 1 else "less"), f"{shown}x"
    shown = quantity.text(abs(value - base))
    if float(shown.replace(",", "")) == 0:
        return "same", "about"
    amount = f"{shown} points" if quantity.change == "points" else shown
    return ("more" if value > base else "less"), amount


def segment(quantity: Quantity, row: CompareRow, base: CompareRow) -> str | None:
    """`proving time 6.309 s vs 0.238 s (26.5x more)`; None if either row lacks the figure."""
    value, reference = quantity.value(row), quantity.value(base)
    if value is None or reference is None:
        return None
    way, amount = direction(quantity, value, reference)
    change = f"{amount} the same".strip() if way == "same" else f"{amount} {way}".strip()
    return f"{quantity.noun} {_with_unit(quantity, value)} vs {_with_unit(quantity, reference)} ({change})"


def _with_unit(quantity: Quantity, value: float) -> str:
    text = quantity.text(value)
    if quantity.unit == "%":
        return f"{text}%"
    return f"{text} {quantity.unit}".rstrip()


def trade_off(row: CompareRow, base: CompareRow) -> str:
    """`**hashed-params** is worse on proving time and proving key; better on max abs error.`"""
    worse: list[str] = []
    better: list[str] = []
    for judged in JUDGED:
        quantity = VERIFY_GAS if judged is GAS_PER_INFERENCE and row.batch == base.batch else judged
        if quantity.change == "difference":  # a few gas more is not a cost: judge by the ratio
            quantity = replace(quantity, change="ratio")
        value, reference = quantity.value(row), quantity.value(base)
        if value is None or reference is None:
            continue
        way, _ = direction(quantity, value, reference)
        if way != "same":
            (worse if (way == "more") == quantity.lower_is_better else better).append(quantity.noun)
    parts = []
    if worse:
        parts.append(f"worse on {_joined(worse)}")
    if better:
        parts.append(f"better on {_joined(better)}")
    verdict = "; ".join(parts) if parts else f"about the same as {base.variant} on every cost and on accuracy"
    buys = [BUYS[token] for token in _tokens(row.variant) if token in BUYS]
    return f"**{row.variant}** is {verdict}" + (f". {_capitalised('; '.join(buys))}" if buys else "") + "."


def _tokens(variant: str) -> list[str]:
    return ["batch" if token.startswith("batch-") else token for token in variant.split("+")]


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def best_of(rows: Sequence[CompareRow]) -> list[str]:
    """`fastest to prove: **tuned** (proving time 0.238 s)` and the like, over one model's
    rows; every variant whose figure prints as the best one is named."""
    picks = (
        ("fastest to prove", PROVE),
        ("least gas per inference", GAS_PER_INFERENCE),
        ("smallest proving key", PROVING_KEY),
        ("closest to the float model", ERROR),
    )
    lines = []
    for words, quantity in picks:
        measured = [(value, row) for row in rows if (value := quantity.value(row)) is not None]
        if measured:
            best = min(value for value, _ in measured)
            tied = [f"**{row.variant}**" for value, row in measured if quantity.text(value) == quantity.text(best)]
            lines.append(f"{words}: {', '.join(tied)} ({quantity.noun} {_with_unit(quantity, best)})")
    return lines


def against(row: CompareRow, base: CompareRow) -> str:
    """Every compared figure of `row` beside `base`'s; figures printed alike are only named."""
    changed, alike = [], []
    for quantity in COMPARED:
        if quantity is GAS_PER_INFERENCE and row.batch == base.batch:
            continue  # the same as verifyProof gas
        value, reference = quantity.value(row), quantity.value(base)
        if value is None or reference is None:
            continue
        if quantity.text(value) == quantity.text(reference):
            alike.append(quantity.noun)
        elif (text := segment(quantity, row, base)) is not None:
            changed.append(text)
    if alike:
        changed.append(f"the same {_joined(alike)}")
    return f"**{row.variant}**: " + "; ".join(changed) + "."


def findings_markdown(rows: Sequence[CompareRow]) -> str:
    """Per model: the baseline's figures, every other variant against it, the best of the
    run and each variant's trade-off. The baseline is `tuned` if measured, else the first row."""
    sections = []
    for model in dict.fromkeys(row.model for row in rows):
        own = [row for row in rows if row.model == model]
        base = next((row for row in own if row.variant == "tuned"), own[0])
        headline = ", ".join(
            text for quantity in (LOGROWS, PROVE, VERIFY_GAS, ERROR, AGREEMENT) if (text := _figure(quantity, base))
        )
        lines = [f"### {model}", "", f"**{base.variant}**: {headline}."]
        others = [row for row in own if row is not base]
        if others:
            lines += ["", f"Against **{base.variant}**:", ""]
            lines += [f"- {against(row, base)}" for row in others]
            lines += ["", "Best in this run:", ""]
            lines += [f"- {line}" for line in best_of(own)]
            lines += ["", "Trade-offs:", ""]
            lines += [f"- {trade_off(row, base)}" for row in others]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _figure(quantity: Quantity, row: CompareRow) -> str | None:
    value = quantity.value(row)
    return None if value is None else f"{quantity.noun} {_with_unit(quantity, value)}"
