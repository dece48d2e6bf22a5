"""Everything the CLI draws with rich: the one progress renderer and the tables.

The only place below the command modules that imports rich (import-linter checks it):
the library reports through `prover.progress.Reporter`, and `RichReporter` turns that into
spinners for stages and a progress bar for items, on stderr.

Results (tables, verdicts, what a command found or made) go to `stdout`, so
`prover models | grep fee` and `prover inspect fee > notes.txt` work as with forge and
cast; progress, warnings and errors go to `err`, on stderr. Piped, rich drops colour.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.status import Status
from rich.table import Table
from rich.text import Text

from prover.artifacts import Manifest, TuningReport
from prover.progress import Reporter, StageStatus

if TYPE_CHECKING:
    from prover.registry.versions import AuditReport

err = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)
_VISIBILITY = {"public": "pub", "private": "priv", "fixed": "fixed", "hashed": "hash"}


class RichReporter(Reporter):
    """Stages: a spinner while one runs, then one line with its status and time. Items: a
    progress bar; stages inside an item show in the bar's text, and only those that did
    work print a line above it.

    Stages nest (the tuner reports inside the settings stage): rich allows one live
    spinner, so the inner one replaces the outer until it finishes.
    """

    def __init__(self) -> None:
        self._status: Status | None = None
        self._open: list[str] = []
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._item = ""
        self._failed = 0
        self._warned: set[str] = set()

    # -- stages --------------------------------------------------------------------------

    def _spin(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._open and self._progress is None:
            self._status = err.status(self._open[-1], spinner="dots")
            self._status.start()

    def stage_started(self, stage: str, detail: str) -> None:
        self._open.append(f"{stage} {detail}".strip())
        if self._progress is not None:
            self._describe(f"{self._item}: {self._open[-1]}" if self._item else self._open[-1])
        self._spin()

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None:
        if self._open:
            self._open.pop()
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._progress is not None:
            if status != "cached":
                mark = {"done": "[green]·[/]", "pruned": "[dim]·[/]"}.get(status, "[red]✗[/]")
                self._progress.console.print(f"  {mark} {stage:<9} {seconds:6.2f}s  [dim]{detail}[/]")
            self._describe(self._item or "")
            return
        mark = {"done": "[green]✓[/]", "cached": "[dim]·[/]"}.get(status, "[red]✗[/]")
        shown = status if status != "done" else f"{seconds:6.2f}s"
        err.print(f"{mark} {stage:<9} {shown:>8}  [dim]{detail}[/]")
        self._spin()

    # -- items ---------------------------------------------------------------------------

    def items_started(self, total: int, what: str) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        self._failed = 0
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        )
        self._task = self._progress.add_task(what if what != "proofs" else "proving", total=total, failed=0)
        self._item = ""
        self._progress.start()

    def item_started(self, label: str) -> None:
        self._item = label
        self._describe(label)

    def item_finished(self, label: str, error: str | None, detail: str = "") -> None:
        if self._progress is None or self._task is None:
            return
        if error is not None:
            self._failed += 1
            self._progress.console.print(Text.assemble(("✗ ", "red"), error), soft_wrap=True)
        elif detail:
            self._progress.console.print(f"[green]✓[/] {label}: {detail}")
        self._progress.update(self._task, advance=1, failed=self._failed)

    def items_finished(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress, self._task, self._item = None, None, ""

    def _describe(self, text: str) -> None:
        if self._progress is not None and self._task is not None and text:
            self._progress.update(self._task, description=text)

    # -- lines ---------------------------------------------------------------------------

    def note(self, message: str) -> None:
        (self._progress.console if self._progress is not None else err).print(escape(message), soft_wrap=True)

    def warn(self, message: str) -> None:
        if message in self._warned:  # the same warning for every circuit of a run says nothing new
            return
        self._warned.add(message)
        console = self._progress.console if self._progress is not None else err
        console.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)


def print_error(message: str, hint: str | None) -> None:
    """`error:` and `hint:` lines on stderr. Messages quote paths, names and
    `pip install 'pkg[extra]'`: their brackets are text, never rich markup."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)


def warn(message: str) -> None:
    """A one-off warning outside any reporter's run."""
    RichReporter().warn(message)


def show_table(title: str, rows: list[tuple[str, str]]) -> None:
    """Two columns, label and value."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    stdout.print(table)


def print_wide(table: Table) -> None:
    """Full width even where the console is narrower (a pipe, CI, a note): squeezed
    columns would show "4…" instead of numbers; a terminal wraps long lines instead."""
    needed = Measurement.get(stdout, stdout.options.update(max_width=1000), table).maximum
    Console(highlight=False, width=max(stdout.width, needed)).print(table)


def _input_text(row: dict[str, Any]) -> str:
    """`[8]` for a reference model; `int64[1, 8], float32[1, 2]` for an ONNX one."""
    if row["source"] == "reference":
        return str(row["input_shape"])
    shapes, kinds = row.get("input_shape") or [], row.get("input_types") or []
    return ", ".join(f"{kind}{shape}" for kind, shape in zip(kinds, shapes, strict=False)) or "-"


def models_table(rows: list[dict[str, Any]]) -> Table:
    """Reference models and the user's built ONNX circuits, one row each."""
    table = Table(title="models", title_justify="left", box=None, pad_edge=False)
    for column in ("name", "source", "inputs", "decision", "state", "description"):
        table.add_column(column)
    for row in rows:
        state = "[green]built[/]" if row["built"] else "[dim]not built[/]"
        table.add_row(
            f"[bold]{row['name']}[/]",
            row["source"],
            _input_text(row),
            row["decision"] or "-",
            state,
            row["description"],
        )
    return table


def print_fidelity(manifest: Manifest) -> None:
    """The circuit's errors per output beside the bound each was held to, then agreement."""
    report = manifest.fidelity
    if report is None:
        return
    verdict = {True: " [green]within bounds[/]", False: " [red]outside bounds[/]", None: ""}[report.within_bounds]
    stdout.print(
        f"fidelity on {report.samples} {report.dataset} samples: max |err| {report.max_abs_error:.4g}, "
        f"mean |err| {report.mean_abs_error:.4g}{verdict}"
    )
    for output in report.outputs:
        if output.relative is not None:
            used = f", {output.bound_used:.0%} of it used" if output.bound_used is not None else ""
            bound = f" (bound {output.relative:.3g} of each sample's |value|{used}"
        elif output.bound is not None:
            bound = f" (bound {output.bound:.3g}"
        else:
            bound = " (no bound"
        stdout.print(
            f"  {output.name}: max |err| {output.max_abs_error or 0:.4g}{bound}, max |value| {output.magnitude:.4g})"
        )
    if report.agreement is not None:
        stdout.print(
            f"  {report.decision} agreement {report.agreement:.1%} where the float margin is clear"
            + (f"; {report.disagreements} decisions differ, near-ties counted" if report.disagreements else "")
        )


def results_table(rows: list[Any], runs: int) -> Table:
    """Comparison rows (`prover.measure.compare.CompareRow`) side by side."""
    table = Table(title=f"proofs side by side ({runs} proving runs per row, medians)", title_justify="left")
    columns = (
        "model",
        "variant",
        "in/params/out",
        "logrows",
        "rows",
        "prove s",
        "peak MiB",
        "pk MB",
        "vk KB",
        "proof B",
        "verify gas",
        "gas/inf",
        "deploy gas",
        "code B",
        "max |err|",
        "agree",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:3] else "right")
    for row in rows:
        visibility = "/".join(
            _VISIBILITY[v] for v in (row.input_visibility, row.param_visibility, row.output_visibility)
        )
        code = f"{row.runtime_bytes:,}" + ("" if row.fits_eip170 else " [red]>EIP-170[/]")
        table.add_row(
            row.model,
            row.variant + (" [dim]·[/]" if row.cached else ""),
            visibility,
            str(row.logrows),
            f"{row.rows:,}",
            f"{row.prove_s:.3f}",
            f"{row.peak_rss_bytes / 2**20:.0f}",
            f"{row.pk_bytes / 1e6:.1f}",
            f"{row.vk_bytes / 1e3:.1f}",
            f"{row.proof_bytes:,}",
            f"{row.verify_gas:,}",
            f"{row.gas_per_inference:,}",
            f"{row.deploy_gas:,}",
            code,
            f"{row.max_abs_error:.3g}",
            f"{row.agreement:.1%}" if row.agreement is not None else "-",
        )
    return table


def print_tuning(report: TuningReport, every: bool) -> None:
    """What the tuner tried, under which bounds, and what won (or why nothing did)."""
    phases: dict[str, int] = {}
    for trial in report.trials:
        phases[trial.phase] = phases.get(trial.phase, 0) + 1
    stdout.print(
        f"tried {', '.join(f'{count} {phase}' for phase, count in phases.items())} candidates in "
        f"{report.seconds:.1f} s (work {report.work_s:.0f} of {report.budget_s:.0f} s budgeted; "
        f"objective {report.objective}, coverage {report.coverage})"
    )
    bounds = [f"{o.name} <= {o.bound:.3g}" for o in report.outputs if o.bound is not None]
    if report.outputs and report.outputs[0].relative is not None:
        stdout.print(f"bounds: max |err| <= {report.outputs[0].relative:.3g} of each sample's |value| per output")
    elif bounds:
        stdout.print("bounds: max |err| " + ", ".join(bounds))
    if report.decision:
        stdout.print(f"bounds: {report.decision} agreement >= {report.min_agreement or 0:.0%} (near-ties aside)")
    print_wide(trials_table(report, every))
    if report.chosen is not None:
        stdout.print(f"chosen ({report.winner}): {report.chosen.short()}")
    if report.failure:
        stdout.print(f"[red]failed:[/] {report.failure}")


def trials_table(report: TuningReport, every: bool) -> Table:
    """The tuner's candidates and why each stopped; only ezkl's and the finalists unless `every`."""
    table = Table(title="tuning: candidates and why each stopped", title_justify="left")
    for column in ("phase", "scales", "decomp", "cols", "logrows", "max |err|", "pk MB", "gas", "status"):
        table.add_column(column, justify="left" if column in ("phase", "scales", "decomp", "status") else "right")
    for trial in report.trials:
        if not every and trial.phase not in ("ezkl", "finalist"):
            continue
        layout = trial.layout
        table.add_row(
            trial.phase + (" (ezkl)" if trial.source == "ezkl" and trial.phase != "ezkl" else ""),
            f"{layout.input_scale}/{layout.param_scale} x{layout.scale_rebase_multiplier}" if layout else "-",
            f"{layout.decomp_base}^{layout.decomp_legs}" if layout else "-",
            str(layout.num_inner_cols) if layout else "-",
            str(layout.logrows) if layout and trial.phase != "scales" else "-",
            f"{trial.max_abs_error:.3g}" if trial.max_abs_error is not None else "-",
            f"{trial.pk_bytes / 1e6:.1f}" if trial.pk_bytes else "-",
            f"{trial.verify_gas:,}" if trial.verify_gas else "-",
            f"[green]{trial.status}[/]" if trial.status == "chosen" else trial.status,
        )
    return table


def bench_table(result: dict[str, Any]) -> Table:
    table = Table(
        title=f"{result['model']}: ezkl default vs tuned ({result['runs']} runs, medians)", title_justify="left"
    )
    for column in ("", "baseline", "tuned", "baseline / tuned"):
        table.add_column(column, justify="right")
    rows = [
        ("logrows", "logrows", "{}"),
        ("prove s", "prove_s", "{:.3f}"),
        ("peak RSS MiB", "peak_rss_bytes", None),
        ("setup s", "setup_s", "{:.2f}"),
        ("pk MB", "pk_bytes", None),
        ("verifyProof gas", "verify_gas", "{:,}"),
        ("max |err|", "max_abs_error", "{:.4g}"),
        ("agreement", "agreement", "{:.1%}"),
    ]
    for label, key, fmt in rows:
        base, tuned = result["baseline"][key], result["tuned"][key]
        if key == "peak_rss_bytes":
            shown = (f"{base / 2**20:.0f}", f"{tuned / 2**20:.0f}")
        elif key == "pk_bytes":
            shown = (f"{base / 1e6:.1f}", f"{tuned / 1e6:.1f}")
        else:
            assert fmt is not None
            shown = (fmt.format(base) if base is not None else "-", fmt.format(tuned) if tuned is not None else "-")
        ratio = result["ratios"].get(key)
        table.add_row(label, *shown, f"{ratio:.2f}x" if ratio else "")
    return table


def audit_table(name: str, report: AuditReport) -> Table:
    """A registration field by field: on chain, recomputed locally, and whether they match."""
    registered = datetime.fromtimestamp(report.registered_at, UTC).isoformat(timespec="seconds")
    table = Table(
        title=f"{name}: model {report.model_id} version {report.version}, registered {registered}"
        + (", REVOKED" if report.revoked else ""),
        title_justify="left",
    )
    for column in ("field", "on chain", "local", ""):
        table.add_column(column)
    for row in report.rows:
        mark = "[green]match[/]" if row.matches else "[bold red]MISMATCH[/]"
        table.add_row(row.field, _short(row.onchain), _short(row.local), mark)
    return table


def _short(value: str) -> str:
    return value if len(value) <= 20 else f"{value[:10]}…{value[-8:]}"


def demo_table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def print_demo(title: str, columns: list[str], rows: list[list[str]], facts: list[str]) -> None:
    """A demo's table at its natural width: piped (`make demo`), rich would squeeze it into
    80 columns and break every number in two."""
    table = demo_table(title, columns, rows)
    console = stdout
    if not stdout.is_terminal:  # a terminal wraps by its own width; a pipe has none
        natural = stdout.measure(table, options=stdout.options.update(max_width=1000)).maximum
        console = Console(highlight=False, width=max(stdout.width, natural))
    console.print(table)
    for fact in facts:
        console.print(fact)
