"""Both notebooks execute top to bottom in a real kernel; any failing cell fails the suite.

They run against a copy of the session's built workdir (through $PROVER_WORKDIR, which the
notebooks read), and the comparison runs on the suite's small variant set, so the
circuits `prover compare` built in test_compare are reused, not rebuilt.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import SMALL_VARIANTS
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT_S = 600


def execute(name: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return notebook


def text_of(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images_in(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.mark.parametrize("name", ["quickstart.ipynb", "compare_proofs.ipynb"])
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


@pytest.mark.notebook
def test_quickstart_runs_from_training_to_onchain_verification(
    compare_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = execute("quickstart.ipynb", {"PROVER_WORKDIR": str(compare_workdir)}, monkeypatch)
    output = text_of(notebook)
    assert "valid: True" in output
    assert "verifyProof: True" in output
    assert "proof with a changed output accepted: False" in output
    assert (compare_workdir / "circuits" / "fee_quickstart" / "manifest.json").exists()


@pytest.mark.notebook
def test_compare_notebook_plots_the_small_variant_set(compare_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = execute(
        "compare_proofs.ipynb",
        {
            "PROVER_WORKDIR": str(compare_workdir),
            "COMPARE_MODELS": "fee",
            "COMPARE_VARIANTS": SMALL_VARIANTS,
            "COMPARE_RUNS": "1",
        },
        monkeypatch,
    )
    output = text_of(notebook)
    assert "proofs side by side" in output
    assert "batch of 2:" in output and "hashed-inputs:" in output
    assert images_in(notebook) == 3
