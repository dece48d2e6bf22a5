"""The notebooks run top to bottom, and what they say is what they measured.

Both notebooks execute in a real kernel through `notebooks/run.py` (what `make notebooks`
calls); any failing cell fails the suite. They run against a copy of the session's built
workdir (through $PROVER_WORKDIR, which the notebooks read), and the comparison runs on
the suite's small variant set, so the circuits `prover compare` built in test_compare are
reused, not rebuilt.

What they say: the compare notebook's prose is rendered from its rows. The checks below
parse the rendered Markdown table and the prose *independently* of the code that wrote
them and hold every figure in the prose to the table's cell, every ratio and difference
to the cells it compares, every "more"/"less"/"worse"/"better" to the direction of the
data, and every "best" to the table's minimum. Markdown cells state no figures at all
(a figure there cannot come from the run). Every figure has a title, axis labels with
units, a legend and no two pieces of text over each other.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
from conftest import SMALL_VARIANTS
from matplotlib.figure import Figure

from prover.measure.compare import CompareRow
from prover.measure.findings import findings_markdown, notebook_set, results_markdown
from prover.measure.plots import (
    cost_against_accuracy,
    figure_report,
    gas_against_batch,
    overlapping_text,
    time_against_logrows,
)
from prover.measure.variants import FAST_SET, FULL_SET

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT_S = 600
NAMES = ["quickstart.ipynb", "compare_proofs.ipynb"]


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebook_runner", NOTEBOOKS / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute(
    name: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, extra_cells: tuple[str, ...] = ()
) -> tuple[nbformat.NotebookNode, list[str]]:
    """Run a notebook as `make notebooks` does; returns it with its outputs and the progress lines."""
    for key, value in environment.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    progress: list[str] = []
    notebook, error = _runner().execute(
        NOTEBOOKS / name, echo=progress.append, timeout=CELL_TIMEOUT_S, extra_cells=extra_cells
    )
    if error is not None:
        raise error
    return notebook, progress


def outputs(notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [output for cell in notebook.cells for output in cell.get("outputs", [])]


def text_of(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(
        output.get("text", "") or output.get("data", {}).get("text/plain", "") for output in outputs(notebook)
    )


def markdown_of(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        output["data"]["text/markdown"] for output in outputs(notebook) if "text/markdown" in output.get("data", {})
    ]


def images_in(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for output in outputs(notebook))


# --- the prose against the table, parsed independently of prover.measure.findings -------------

#: the prose's name of a figure -> the table column it quotes
COLUMN = {
    "logrows": "logrows",
    "proving time": "proving time (s, median)",
    "peak memory": "peak memory (MiB)",
    "proving key": "proving key (MB)",
    "verifyProof gas": "verifyProof (gas)",
    "gas per inference": "gas per inference",
    "max abs error": "max abs error (output units)",
    "decision agreement": "decision agreement (%)",
}
HIGHER_IS_BETTER = {"decision agreement"}
#: figures compared as a difference (exact integers, or percentage points); the rest as ratios
DIFFERENCES = {"logrows", "verifyProof gas", "decision agreement"}
#: what a trade-off is judged on (gas per inference where the batch sizes differ)
JUDGED = {"proving time", "proving key", "verifyProof gas", "gas per inference", "max abs error", "decision agreement"}
NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"
SEGMENT = re.compile(
    rf"(?P<noun>[A-Za-z ]+?) (?P<a>{NUMBER})%?(?: [A-Za-z]+)? vs (?P<b>{NUMBER})%?(?: [A-Za-z]+)? \((?P<change>[^)]*)\)"
)
Table = dict[tuple[str, str], dict[str, str]]


def parse_table(markdown: str) -> Table:
    """`| model | variant | ... |` rows -> {(model, variant): {header: cell text}}."""
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, body = split[0], split[2:]
    table = {}
    for cells in body:
        row = dict(zip(header, cells, strict=True))
        table[(row["model"], row["variant"].strip("`"))] = row
    return table


def bounds(text: str) -> tuple[float, float]:
    """A printed figure -> the interval of values that print as it."""
    plain = text.replace(",", "").rstrip("%")
    value = float(plain)
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    half = 0.5 * 10.0**-decimals
    return value - half, value + half


def ratio_bounds(a: str, b: str) -> tuple[float, float]:
    (a_lo, a_hi), (b_lo, b_hi) = bounds(a), bounds(b)
    return a_lo / b_hi, (a_hi / b_lo if b_lo > 0 else float("inf"))


def check_change(noun: str, a: str, b: str, change: str) -> None:
    """`(26.5x more)`, `(426 more)`, `(0.2 points less)`, `(the same)`, `(about the same)`
    hold for the printed a and b."""
    where = f"{noun} {a} vs {b} ({change})"
    (a_lo, a_hi), (b_lo, b_hi) = bounds(a), bounds(b)
    if change == "the same":
        assert float(a.replace(",", "")) == float(b.replace(",", "")), where
        return
    if noun in DIFFERENCES:
        low, high = a_lo - b_hi, a_hi - b_lo
        if change == "about the same":
            assert low <= 0.05 and high >= -0.05, where
            return
        match = re.fullmatch(rf"({NUMBER})(?: points)? (more|less)", change)
        assert match, where
        amount_lo, amount_hi = bounds(match.group(1))
        if match.group(2) == "less":
            low, high = -high, -low
        assert low <= amount_hi and high >= amount_lo and amount_hi > 0, where
        return
    low, high = ratio_bounds(a, b)
    if change == "about the same":
        assert low <= 1.05 and high >= 1 / 1.05, where
        return
    if change == "more":  # against zero
        assert float(b) == 0 and float(a) > 0, where
        return
    match = re.fullmatch(rf"({NUMBER})x (more|less)", change)
    assert match, where
    shown_lo, shown_hi = bounds(match.group(1))
    if match.group(2) == "less":
        low, high = 1 / high, (1 / low if low > 0 else float("inf"))
    assert low <= shown_hi and high >= shown_lo >= 1, where


def judged_direction(noun: str, value: str, base: str) -> str:
    """Whether `value` is "worse", "better" or "same" as `base` as a trade-off is judged: by the ratio (by percentage
    points for agreement); within 5% (or 0.05 points) is the same."""
    if float(base.replace(",", "")) == 0:
        return "same" if float(value.replace(",", "")) == 0 else "worse"
    if noun in HIGHER_IS_BETTER:
        low, high = bounds(value)[0] - bounds(base)[1], bounds(value)[1] - bounds(base)[0]
        if low <= 0.05 and high >= -0.05:
            return "same"
        return "better" if low > 0 else "worse"
    low, high = ratio_bounds(value, base)
    if low <= 1.05 and high >= 1 / 1.05:
        return "same"
    return "worse" if low > 1 else "better"


def check_findings(prose: str, table: Table) -> int:
    """Every line of every model's section is one of the forms findings are written in,
    and every figure, comparison, direction and "best" in it holds for the table.
    Returns how many figures were checked."""
    checked = 0
    sections = re.split(r"^### ", prose, flags=re.MULTILINE)[1:]
    assert sections, prose
    for section in sections:
        model, *lines = [line for line in section.splitlines() if line.strip()]
        rows = {variant: cells for (name, variant), cells in table.items() if name == model}
        assert rows, f"{model} has no rows in the table"
        headline = re.fullmatch(r"\*\*(.+?)\*\*: (.+)\.", lines[0])
        assert headline, lines[0]
        base = rows[headline.group(1)]
        for item in headline.group(2).split(", "):
            noun, value = re.fullmatch(rf"([A-Za-z ]+?) ({NUMBER})%?(?: [A-Za-z]+)?", item).groups()  # type: ignore[union-attr]
            assert base[COLUMN[noun]] == value, (model, item)
            checked += 1
        part = ""
        for line in lines[1:]:
            if line in ("Against **" + headline.group(1) + "**:", "Best in this run:", "Trade-offs:"):
                part = line.split(" ")[0].rstrip(":")
                continue
            assert line.startswith("- "), line
            if part == "Against":
                variant, body = re.fullmatch(r"- \*\*(.+?)\*\*: (.+)\.", line).groups()  # type: ignore[union-attr]
                row = rows[variant]
                for item in body.split("; "):
                    if item.startswith("the same "):
                        for noun in re.split(r", | and ", item.removeprefix("the same ")):
                            assert row[COLUMN[noun]] == base[COLUMN[noun]], (model, variant, noun)
                            checked += 1
                        continue
                    match = SEGMENT.fullmatch(item)
                    assert match, (model, variant, item)
                    noun, a, b = match.group("noun", "a", "b")
                    assert row[COLUMN[noun]] == a and base[COLUMN[noun]] == b, (model, variant, item)
                    check_change(noun, a, b, match.group("change"))
                    checked += 1
            elif part == "Best":
                named, noun, value = re.fullmatch(  # type: ignore[union-attr]
                    rf"- [a-z ]+: ((?:\*\*[^*]+\*\*(?:, )?)+) \(([A-Za-z ]+?) ({NUMBER})%?(?: [A-Za-z]+)?\)", line
                ).groups()
                column = COLUMN[noun]
                best = min(float(r[column].replace(",", "")) for r in rows.values())
                assert float(value.replace(",", "")) == best, (model, line)
                # exactly the variants whose figure prints as the best one
                assert re.findall(r"\*\*([^*]+)\*\*", named) == [v for v, r in rows.items() if r[column] == value], line
                checked += 1
            elif part == "Trade-offs":
                variant, verdict, rest = re.fullmatch(r"- \*\*(.+?)\*\* is (.+?)(?:\. (.*))?\.", line).groups()  # type: ignore[union-attr]
                assert rest is None or not re.search(r"\d", rest), line
                named = {"worse": set(), "better": set()}
                if not verdict.startswith("about the same as "):
                    for clause in verdict.split("; "):
                        way, nouns = re.fullmatch(r"(worse|better) on (.+)", clause).groups()  # type: ignore[union-attr]
                        named[way] |= set(re.split(r", | and ", nouns))
                row = rows[variant]
                per_inference = row["gas per inference"] != row["verifyProof (gas)"] or (
                    base["gas per inference"] != base["verifyProof (gas)"]
                )
                for noun in JUDGED - {"verifyProof gas" if per_inference else "gas per inference"}:
                    if row[COLUMN[noun]] == "-" or base[COLUMN[noun]] == "-":
                        continue
                    way = judged_direction(noun, row[COLUMN[noun]], base[COLUMN[noun]])
                    said = next((w for w, nouns in named.items() if noun in nouns), "same")
                    assert said == way, (model, variant, noun, said, way)
                    checked += 1
            else:
                raise AssertionError(f"a line outside every part: {line}")
    return checked


# --- fast checks of the writers, on rows made up to cover every direction ----------------------


def made_up(model: str, variant: str, **changes: Any) -> CompareRow:
    figures: dict[str, Any] = {
        "model": model,
        "variant": variant,
        "circuit": model,
        "input_visibility": "public",
        "param_visibility": "fixed",
        "output_visibility": "public",
        "settings": "tuned",
        "batch": 1,
        "logrows": 10,
        "rows": 900,
        "prove_s": 0.238,
        "prove_runs_s": [0.238],
        "peak_rss_bytes": 80 * 2**20,
        "pk_bytes": 3_040_000,
        "vk_bytes": 1_000,
        "proof_bytes": 5_000,
        "verify_gas": 548_645,
        "gas_per_inference": 548_645,
        "deploy_gas": 4_000_000,
        "runtime_bytes": 20_000,
        "fits_eip170": True,
        "max_abs_error": 0.0031,
        "agreement": 1.0,
        "decision": "fee bucket",
        "heldout_inferences": 400,
    }
    return CompareRow(**{**figures, **changes})


MADE_UP = [
    made_up("fee", "tuned"),
    # the figures the old prose got wrong: ezkl-default's gas 1.00x, hashed inputs *less* gas
    made_up(
        "fee",
        "ezkl-default",
        logrows=15,
        prove_s=6.309,
        pk_bytes=46e6,
        verify_gas=549_071,
        gas_per_inference=549_071,
        max_abs_error=0.002,
        agreement=0.9975,
    ),
    made_up("fee", "hashed-params", logrows=12, prove_s=5.983, verify_gas=550_588, gas_per_inference=550_588),
    made_up("fee", "hashed-inputs", prove_s=0.241, verify_gas=493_000, gas_per_inference=493_000),
    made_up("fee", "batch-4", batch=4, logrows=12, prove_s=1.2, verify_gas=640_000, gas_per_inference=160_000),
    made_up("digits", "tuned", logrows=13, max_abs_error=0.0, agreement=None, prove_s=0.9),
    made_up(
        "digits",
        "hashed-params+batch-2",
        batch=2,
        logrows=14,
        max_abs_error=0.36,
        agreement=None,
        prove_s=11.0,
        peak_rss_bytes=2**30,
        verify_gas=600_000,
        gas_per_inference=300_000,
    ),
]


def test_findings_agree_with_the_table_they_sit_beside() -> None:
    table = parse_table(results_markdown(MADE_UP, 3))
    assert len(table) == len(MADE_UP)
    prose = findings_markdown(MADE_UP)
    assert check_findings(prose, table) > 40
    assert "verifyProof gas 549,071 vs 548,645 (426 more)" in prose
    assert "verifyProof gas 493,000 vs 548,645 (55,645 less)" in prose
    assert "**ezkl-default** is worse on proving time, proving key and decision agreement" in prose
    assert "**hashed-inputs** is better on verifyProof gas" in prose
    assert "max abs error 0.360 vs 0 (more)" in prose  # no ratio to a zero


@pytest.mark.parametrize(
    ("true", "false"),
    [
        ("(426 more)", "(426 less)"),  # a direction
        ("(55,645 less)", "(75,000 more)"),  # the old prose's "+75k" for hashed inputs
        ("(26.5x more)", "(1.3x more)"),  # a ratio
        ("proving key 46.0 MB", "proving key 46.1 MB"),  # a figure the table does not print
        ("**hashed-inputs** is better on verifyProof gas", "**hashed-inputs** is worse on verifyProof gas"),
        ("fastest to prove: **tuned**", "fastest to prove: **hashed-inputs**"),
    ],
)
def test_the_check_catches_prose_that_contradicts_the_table(true: str, false: str) -> None:
    table = parse_table(results_markdown(MADE_UP, 3))
    prose = findings_markdown(MADE_UP)
    assert true in prose
    with pytest.raises(AssertionError):
        check_findings(prose.replace(true, false), table)


def assert_readable(report: dict[str, Any]) -> None:
    """A title, axis labels that each name a unit in parentheses, a legend, no overlaps."""
    assert report["axes"], report
    for axes in report["axes"]:
        assert axes["title"].strip(), report
        for label in (axes["xlabel"], axes["ylabel"]):
            assert re.search(r"\([^)]*[a-z%][^)]*\)", label), (label, report)
    assert report["legends"] >= 1, report
    assert report["overlaps"] == [], report["overlaps"]


@pytest.mark.parametrize(
    "rows",
    [
        MADE_UP,
        MADE_UP[:5],
        MADE_UP[:1],
        # figures far apart: log axes, long tick labels
        [
            made_up("fee", "tuned", prove_s=0.004, gas_per_inference=90_000, max_abs_error=1e-6),
            made_up("fee", "ezkl-default", prove_s=480.0, gas_per_inference=4_000_000, max_abs_error=12.0),
            made_up("fee", "batch-64", batch=64, prove_s=100.0, gas_per_inference=9_000, logrows=22),
        ],
    ],
    ids=["two-models", "fast-set", "one-row", "wide-ranges"],
)
def test_figures_are_readable_at_a_glance(rows: list[CompareRow]) -> None:
    figures = [
        cost_against_accuracy(rows, {"fee": "% per step"}),
        gas_against_batch(rows),
        time_against_logrows(rows),
    ]
    for figure in figures:
        if figure is not None:
            assert_readable(figure_report(figure))
    assert figures[1] is None or len({row.batch for row in rows}) > 1


def test_overlapping_labels_are_found() -> None:
    figure = Figure()
    axis = figure.subplots()
    for label in ("tuned\n548k gas", "hashed-inputs\n493k gas"):
        axis.annotate(label, (1, 1))  # the old plot's labels, on one point
    assert overlapping_text(figure)


def test_the_notebook_set_is_fast_unless_asked() -> None:
    assert notebook_set({}) == FAST_SET
    assert notebook_set({"PROVER_NOTEBOOK_FULL": "1"}) == FULL_SET
    assert notebook_set({"PROVER_NOTEBOOK_FULL": "0"}) == FAST_SET
    small = notebook_set({"COMPARE_MODELS": "fee", "COMPARE_VARIANTS": SMALL_VARIANTS, "COMPARE_RUNS": "1"})
    assert (small.models, small.variants, small.runs) == (("fee",), tuple(SMALL_VARIANTS.split(",")), 1)
    assert set(FAST_SET.models) < set(FULL_SET.models) and set(FAST_SET.variants) <= set(FULL_SET.variants)


# --- the committed notebooks --------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


@pytest.mark.parametrize("name", NAMES)
def test_markdown_cells_state_no_figures(name: str) -> None:
    """A figure written in a Markdown cell cannot come from the run it sits in: digits may
    appear only in code spans (`batch-4`), section numbers, and the one paragraph that
    says where the run times were measured."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for paragraph in cell.source.split("\n\n"):
            if paragraph.startswith("*Measured on "):
                assert name == "compare_proofs.ipynb" and "min" in paragraph, paragraph
                continue
            text = re.sub(r"`[^`]*`", "", paragraph)
            text = re.sub(r"^#+ \d+\. ", "", text, flags=re.MULTILINE)
            assert not re.search(r"\d", text), paragraph


@pytest.mark.notebook
def test_quickstart_runs_from_training_to_onchain_verification(
    compare_workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    committed = (NOTEBOOKS / "quickstart.ipynb").read_bytes()
    notebook, progress = execute("quickstart.ipynb", {"PROVER_WORKDIR": str(compare_workdir)}, monkeypatch)
    output = text_of(notebook)
    assert "valid: True" in output
    assert "verifyProof: True" in output
    assert "proof with a changed output accepted: False" in output
    assert re.search(r"within the bound 0\.005", output)
    assert re.search(r"this run took \d+ s", output)
    assert (compare_workdir / "circuits" / "fee_quickstart" / "manifest.json").exists()
    # what `make notebooks` shows and writes: a line per cell, an HTML, the .ipynb untouched
    assert any(line.startswith("quickstart [1/") for line in progress) and progress[-1].startswith("quickstart: ")
    html = _runner().write_html(notebook, tmp_path / "quickstart.html")
    assert "verifyProof: True" in html.read_text()
    assert (NOTEBOOKS / "quickstart.ipynb").read_bytes() == committed


INSPECT_FIGURES = """
import json
from prover.measure.plots import figure_report
print("FIGURES " + json.dumps([figure_report(figure) for figure in FIGURES]))
"""


@pytest.mark.notebook
def test_compare_notebook_says_what_it_measured(compare_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook, _ = execute(
        "compare_proofs.ipynb",
        {
            "PROVER_WORKDIR": str(compare_workdir),
            "COMPARE_MODELS": "fee",
            "COMPARE_VARIANTS": SMALL_VARIANTS,
            "COMPARE_RUNS": "1",
        },
        monkeypatch,
        extra_cells=(INSPECT_FIGURES,),
    )
    output = text_of(notebook)
    assert "fast, overridden set: fee x tuned, hashed-inputs, batch-2; 1 proving run(s) per row" in output
    assert re.search(r"this run took \d+ s", output)
    table_markdown, prose = markdown_of(notebook)
    assert "proofs side by side" in table_markdown
    table = parse_table(table_markdown)
    assert sorted(variant for _, variant in table) == sorted(SMALL_VARIANTS.split(","))
    assert check_findings(prose, table) >= 15
    assert "- **batch-2**: " in prose and "- **hashed-inputs**: " in prose
    assert images_in(notebook) == 3
    reports = json.loads(next(line for line in output.splitlines() if line.startswith("FIGURES "))[8:])
    assert len(reports) == 3
    for report in reports:
        assert_readable(report)
