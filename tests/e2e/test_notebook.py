"""The analyst notebook runs top to bottom on the sample data (generating it and training a
small model itself), and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "misclassification_review.ipynb"
CELL_TIMEOUT_S = 300


def _read():
    import nbformat

    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_is_stored_without_outputs():
    nb = _read()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters' holds the paths"


@pytest.mark.slow
@pytest.mark.timeout(CELL_TIMEOUT_S * 2)
def test_notebook_runs_top_to_bottom_on_the_sample(tmp_path):
    """Fresh paths: the notebook generates the sample, trains, reviews, exports, imports."""
    from nbclient import NotebookClient

    nb = _read()
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = "\n".join(
        [
            "from pathlib import Path",
            f"MODEL_DIR = Path({str(tmp_path / 'model')!r})",
            f"DATA_PATH = Path({str(tmp_path / 'sample.csv')!r})",
            f"OUT_DIR = Path({str(tmp_path / 'review')!r})",
            "SAMPLE_ROWS = 700",
            "TOP = 8",
            "DEMO_ACCEPT_TOP = 2",
        ]
    )
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in errors if o.output_type == "error"]
    out = tmp_path / "review"
    assert (tmp_path / "model" / "metadata.json").is_file()
    for name in ("relabel.csv", "report.html", "sample.corrected.csv", "worst_errors.csv"):
        assert (out / name).is_file(), name
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "posts changed" in printed and "held-out test posts" in printed
