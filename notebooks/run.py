"""Run notebooks headless (what `make notebooks` calls), each beside an HTML of its run.

    python notebooks/run.py notebooks/quickstart.ipynb notebooks/compare_proofs.ipynb

Progress is one line as each cell starts and one as it ends, with the seconds it took;
what a cell prints (the library's PrintReporter lines, say) is echoed as it arrives,
indented, so a long build is never silent. The executed notebook is written as
`NAME.html` next to it (or into --out-dir); the `.ipynb` file itself is only read, so
the committed notebooks stay without outputs. Exit status 1 if a cell fails, after the
HTML up to the failure is written. The kernel starts in the notebook's folder and
inherits this environment (PROVER_WORKDIR, PROVER_NOTEBOOK_FULL, COMPARE_*).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter


class ProgressClient(NotebookClient):
    """A NotebookClient that echoes each cell's start, its streamed output and its end."""

    def __init__(self, notebook: nbformat.NotebookNode, name: str, echo: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(notebook, **kwargs)
        self.name, self.echo = name, echo
        self.code_cells = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        self.started = 0.0
        self.on_cell_start = self._started
        self.on_cell_executed = self._ended

    def _position(self, cell_index: int) -> str:
        return f"{self.name} [{self.code_cells.index(cell_index) + 1}/{len(self.code_cells)}]"

    def _started(self, cell: nbformat.NotebookNode, cell_index: int) -> None:
        if cell.cell_type != "code":
            return
        self.started = time.perf_counter()
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        self.echo(f"{self._position(cell_index)} {first[:80]}")

    def _ended(self, cell: nbformat.NotebookNode, cell_index: int, execute_reply: dict[str, Any]) -> None:
        if cell.cell_type != "code":
            return
        status = execute_reply.get("content", {}).get("status", "ok")
        seconds = time.perf_counter() - self.started
        self.echo(f"{self._position(cell_index)} {'done' if status == 'ok' else status} in {seconds:.1f} s")

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        if msg["msg_type"] == "stream":
            for line in msg["content"].get("text", "").splitlines():
                self.echo(f"    {line}")
        return super().output(outs, msg, display_id, cell_index)


def execute(
    path: Path,
    echo: Callable[[str], None] = print,
    timeout: int | None = None,
    extra_cells: tuple[str, ...] = (),
) -> tuple[nbformat.NotebookNode, BaseException | None]:
    """Run one notebook top to bottom (plus `extra_cells`, code appended at the end) in a
    fresh kernel started in its folder; returns it with its outputs, and the error if a cell failed."""
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in extra_cells]  # type: ignore[no-untyped-call]
    client = ProgressClient(
        notebook,
        path.stem,
        echo,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        echo(f"{path.stem}: a cell failed after {time.perf_counter() - started:.1f} s")
        return notebook, error
    echo(f"{path.stem}: every cell ran, {time.perf_counter() - started:.1f} s in all")
    return notebook, None


def write_html(notebook: nbformat.NotebookNode, target: Path) -> Path:
    body, _ = HTMLExporter().from_notebook_node(notebook)  # type: ignore[no-untyped-call]
    target.write_text(body, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out-dir", type=Path, help="where the HTML files go (default: beside each notebook)")
    parser.add_argument("--timeout", type=int, help="seconds any one cell may take (default: no limit)")
    args = parser.parse_args(argv)
    failed = False
    for path in args.notebooks:
        notebook, error = execute(path, timeout=args.timeout)
        html = write_html(notebook, (args.out_dir or path.parent) / f"{path.stem}.html")
        print(f"{path.stem}: wrote {html}", flush=True)
        failed |= error is not None
        if error is not None:
            last = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()[-1]  # without terminal colours
            print(f"{path.stem}: {last}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.exit(main())
