"""Figures of a comparison for the notebooks, readable at a glance and checked for it.

Needs matplotlib (the `notebooks` extra); nothing else in the library imports this
module. Figures are made with matplotlib's object API (no pyplot state), each with a
title, axis labels that carry their units and a legend in place of labels beside the
points: the compare notebook's first plot wrote a label next to every point and they
piled up unreadably. One variant keeps one colour and marker in every figure.
`figure_report` says what a reader would check (titles, labels, legends) and
`overlapping_text` finds any two pieces of text that cover each other; the tests assert
there are none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FormatStrFormatter, Formatter, FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import Bbox

from prover.measure.compare import CompareRow

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: a log axis only when the values span more than this factor
_LOG_SPAN = 8.0


def _style(rows: Sequence[CompareRow]) -> dict[str, tuple[str, str]]:
    """Variant -> (colour, marker), in order of first appearance, the same in every figure."""
    variants = list(dict.fromkeys(row.variant for row in rows))
    return {v: (_COLOURS[i % len(_COLOURS)], _MARKERS[i % len(_MARKERS)]) for i, v in enumerate(variants)}


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)  # a canvas that can measure text, for `overlapping_text`
    return figure


def _scale(axis: Axes, which: str, values: Sequence[float], formatter: Formatter | None = None) -> bool:
    """A plain-numbered log scale (0.2, 0.5, 1, 2 rather than 2x10^-1) when the values
    span orders of magnitude, linear with a few ticks otherwise; ticks written by
    `formatter` (default %g). True if the axis is logarithmic."""
    ticks = getattr(axis, f"{which}axis")
    positive = [value for value in values if value > 0]
    if len(positive) < len(values) or not positive or max(positive) / min(positive) < _LOG_SPAN:
        ticks.set_major_locator(MaxNLocator(nbins=5))
        if formatter is not None:
            ticks.set_major_formatter(formatter)
        return False
    getattr(axis, f"set_{which}scale")("log")
    decades = math.log10(max(positive) / min(positive))
    ticks.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2 else (1.0,), numticks=12))
    ticks.set_major_formatter(formatter or FormatStrFormatter("%g"))
    ticks.set_minor_formatter(NullFormatter())
    return True


def _gas(value: float, _position: float | None = None) -> str:
    """Gas on an axis: 150k, 1.2M."""
    if value == 0:
        return "0"
    return f"{value / 1e6:g}M" if value >= 1e6 else f"{value / 1e3:g}k"


def _log_note(is_log: bool) -> str:
    return ", log scale" if is_log else ""


def cost_against_accuracy(rows: Sequence[CompareRow], units: Mapping[str, str] | None = None) -> Figure:
    """Per model, two panels sharing the error axis: proving time, and verifyProof gas per
    inference, against the largest held-out error (in the model's output units, from
    `units`). The bottom left of a panel is cheap and faithful."""
    style, units = _style(rows), units or {}
    models = list(dict.fromkeys(row.model for row in rows))
    figure = _new_figure(11, 3.6 * len(models) + 0.8)
    grid = figure.subplots(len(models), 2, squeeze=False)
    for (time_axis, gas_axis), model in zip(grid, models, strict=True):
        own = [row for row in rows if row.model == model]
        for row in own:
            _point(time_axis, style, row, row.prove_s, row.max_abs_error)
            _point(gas_axis, style, row, row.gas_per_inference, row.max_abs_error)
        time_log = _scale(time_axis, "x", [row.prove_s for row in own])
        gas_log = _scale(gas_axis, "x", [float(row.gas_per_inference) for row in own], FuncFormatter(_gas))
        unit = units.get(model, "model output units")
        for axis in (time_axis, gas_axis):
            error_log = _scale(axis, "y", [row.max_abs_error for row in own])
            axis.set_ylabel(f"max |circuit − float| on held-out data\n({unit}{_log_note(error_log)})")
        time_axis.set_xlabel(f"proving time (s, median{_log_note(time_log)})")
        gas_axis.set_xlabel(f"verifyProof gas per inference (gas{_log_note(gas_log)})")
        time_axis.set_title(f"{model}: proving time against accuracy")
        gas_axis.set_title(f"{model}: gas against accuracy")
        for axis in (time_axis, gas_axis):
            axis.grid(alpha=0.3)
            axis.margins(0.15)
    figure.suptitle("Cost against accuracy (lower left: cheaper and more faithful)")
    figure.legend(handles=_handles(style), title="variant", loc="outside right upper")
    return figure


def _point(axis: Axes, style: Mapping[str, tuple[str, str]], row: CompareRow, x: float, y: float) -> None:
    """A hollow marker, so a variant hidden under another's point still shows its outline."""
    colour, marker = style[row.variant]
    axis.scatter(x, y, s=80, marker=marker, facecolors="none", edgecolors=colour, linewidths=2, zorder=3)


def _handles(style: Mapping[str, tuple[str, str]]) -> list[Line2D]:
    return [
        Line2D([], [], color=colour, marker=marker, markerfacecolor="none", markeredgewidth=2, linestyle="", label=name)
        for name, (colour, marker) in style.items()
    ]


def gas_against_batch(rows: Sequence[CompareRow]) -> Figure | None:
    """verifyProof gas per inference and per proof against inferences per proof, per model
    (its `tuned` row is the batch of one); None if no model was measured at two batch sizes."""
    series = {}
    for model in dict.fromkeys(row.model for row in rows):
        picked = [row for row in rows if row.model == model and (row.variant == "tuned" or _only_batch(row.variant))]
        if len({row.batch for row in picked}) >= 2:
            series[model] = sorted(picked, key=lambda row: row.batch)
    if not series:
        return None
    figure = _new_figure(8, 4.4)
    axis = figure.subplots()
    for index, (model, picked) in enumerate(series.items()):
        colour = _COLOURS[index % len(_COLOURS)]
        batches = [row.batch for row in picked]
        axis.plot(
            batches,
            [row.gas_per_inference for row in picked],
            color=colour,
            marker="o",
            label=f"{model}: per inference",
        )
        axis.plot(
            batches,
            [row.verify_gas for row in picked],
            color=colour,
            linestyle="--",
            marker=".",
            label=f"{model}: per proof",
        )
    axis.set_xticks(sorted({row.batch for picked in series.values() for row in picked}))
    axis.set_xlabel("inferences per proof (count)")
    axis.set_ylabel("verifyProof gas (gas)")
    axis.yaxis.set_major_formatter(FuncFormatter(_gas))
    axis.set_ylim(bottom=0)
    axis.set_title("Gas against batch size: one proof, one verification, for N inferences")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return figure


def _only_batch(variant: str) -> bool:
    return variant.startswith("batch-") and "+" not in variant


def time_against_logrows(rows: Sequence[CompareRow]) -> Figure:
    """Median proving time against logrows k (a circuit of 2^k rows), one panel per model,
    every row a point in its variant's style."""
    style = _style(rows)
    models = list(dict.fromkeys(row.model for row in rows))
    figure = _new_figure(5 * len(models) + 1.8, 4.4)
    for axis, model in zip(figure.subplots(1, len(models), squeeze=False)[0], models, strict=True):
        own = [row for row in rows if row.model == model]
        for row in own:
            _point(axis, style, row, row.logrows, row.prove_s)
        is_log = _scale(axis, "y", [row.prove_s for row in own])
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.margins(x=0.2, y=0.15)
        axis.set_xlabel("circuit size: logrows k ($2^k$ rows)")
        axis.set_ylabel(f"proving time (s, median{_log_note(is_log)})")
        axis.set_title(f"{model}: proving time against circuit size")
        axis.grid(alpha=0.3)
    figure.legend(handles=_handles(style), title="variant", loc="outside right upper")
    return figure


def _texts(figure: Figure) -> list[tuple[str, Text]]:
    """Every piece of text drawn, with the group it belongs to (a legend's texts may touch
    each other's frame, nothing else may touch anything)."""
    found: list[tuple[str, Text]] = []
    # matplotlib has getters for these texts' strings but not for the artists themselves
    if (suptitle := getattr(figure, "_suptitle", None)) is not None:
        found.append(("suptitle", suptitle))
    for number, axis in enumerate(figure.axes):
        titles = [getattr(axis, name, None) for name in ("title", "_left_title", "_right_title")]
        found += [(f"axes {number} title", title) for title in titles if isinstance(title, Text)]
        found += [(f"axes {number} label", label) for label in (axis.xaxis.label, axis.yaxis.label)]
        box = axis.get_window_extent()
        for which, ticks in (("x", axis.get_xticklabels(which="both")), ("y", axis.get_yticklabels(which="both"))):
            for text in ticks:
                centre = text.get_window_extent().get_points().mean(axis=0)
                inside = (
                    box.x0 - 1 <= centre[0] <= box.x1 + 1 if which == "x" else box.y0 - 1 <= centre[1] <= box.y1 + 1
                )
                if inside:
                    found.append((f"axes {number} {which} ticks", text))
        found += [(f"axes {number} text", text) for text in axis.texts]
    for number, legend in enumerate(_legends(figure)):
        found += [(f"legend {number}", text) for text in (*legend.get_texts(), legend.get_title())]
    return [(group, text) for group, text in found if text.get_visible() and text.get_text().strip()]


def _legends(figure: Figure) -> list[Legend]:
    legends = list(figure.legends)
    legends += [legend for axis in figure.axes if (legend := axis.get_legend()) is not None]
    return legends


def overlapping_text(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of texts (or a text and a legend it is not part of) whose boxes overlap once
    drawn: [] for a figure whose every label can be read."""
    figure.draw_without_rendering()
    texts = [(group, text.get_text(), text.get_window_extent()) for group, text in _texts(figure)]
    boxes = texts + [
        (f"legend {n}", "legend frame", legend.get_window_extent()) for n, legend in enumerate(_legends(figure))
    ]
    clashes = []
    for (group_a, text_a, box_a), (group_b, text_b, box_b) in combinations(boxes, 2):
        if group_a == group_b and (group_a.startswith("legend") or text_a == text_b):
            continue
        if _overlap_area(box_a, box_b) > 1.0:
            clashes.append((f"{group_a}: {text_a}", f"{group_b}: {text_b}"))
    return clashes


def _overlap_area(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def figure_report(figure: Figure) -> dict[str, Any]:
    """What a reader checks at a glance, as plain data (the tests read it from a notebook)."""
    figure.draw_without_rendering()
    return {
        "title": figure.get_suptitle(),
        "legends": len(_legends(figure)),
        "axes": [
            {"title": axis.get_title(), "xlabel": axis.get_xlabel(), "ylabel": axis.get_ylabel()}
            for axis in figure.axes
            if axis.get_visible()
        ],
        "overlaps": overlapping_text(figure),
    }
