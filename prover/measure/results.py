"""Comparison rows written to a file: CSV for spreadsheets, JSON for programs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from prover.artifacts import write_bytes_atomic, write_json_atomic
from prover.errors import ProverError
from prover.measure.compare import CompareRow


def check_output_path(out: Path) -> None:
    """Before any work: the results file must be .csv or .json in an existing folder."""
    if out.suffix.lower() not in (".csv", ".json"):
        raise ProverError(f"--out {out}: write .csv or .json", hint="e.g. --out results.csv")
    if not out.parent.resolve().is_dir():
        raise ProverError(f"--out {out}: folder {out.parent} does not exist")


def write_rows(rows: list[CompareRow], out: Path) -> None:
    """CSV (one line per row, prove runs space-separated) or JSON (a list of rows), atomically."""
    check_output_path(out)
    documents = [row.model_dump(mode="json") for row in rows]
    if out.suffix.lower() == ".json":
        write_json_atomic(out, documents)
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CompareRow.model_fields), lineterminator="\n")
    writer.writeheader()
    for document in documents:
        document["prove_runs_s"] = " ".join(str(value) for value in document["prove_runs_s"])
        writer.writerow(document)
    write_bytes_atomic(out, buffer.getvalue().encode())
