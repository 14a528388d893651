"""The four notebooks under notebooks/: committed without outputs, and executed top to bottom
(nbclient, a kernel running this venv's Python) against the two-span run of the e2e fixtures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = (
    "01_data_and_schema.ipynb",
    "02_data_evolution.ipynb",
    "03_model_evaluation.ipynb",
    "04_lineage.ipynb",
)
KERNEL = "ml-lifecycle-test"


def _parameter_cells(notebook) -> list:
    return [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_valid_without_outputs_and_one_parameter_cell(name):
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    code = [c for c in notebook.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{name}: code cells {dirty} keep outputs; clear them before committing"
    [parameters] = _parameter_cells(notebook)
    assert parameters is code[0], f"{name}: the parameters cell must be the first code cell"
    assert 'CONFIG = "../lifecycle.yaml"' in parameters.source


@pytest.fixture(scope="module")
def venv_kernel(tmp_path_factory):
    """A kernelspec running this interpreter: the user's own `python3` kernel may be another Python."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "ml-lifecycle venv",
                "language": "python",
            }
        )
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root))
        yield KERNEL


def _outputs(notebook) -> tuple[str, int]:
    """All text the notebook printed or displayed as text, and how many images it drew."""
    texts, images = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output["text"])
            data = output.get("data", {})
            texts.append(data.get("text/plain", ""))
            images += "image/png" in data
    return "\n".join(texts), images


@pytest.mark.e2e
def test_notebooks_run_top_to_bottom_on_a_two_span_run(taxi_config, two_span_runs, venv_kernel, tmp_path):
    from nbclient import NotebookClient

    from ml_lifecycle.metadata.client import MetadataClient

    client = MetadataClient.from_config(taxi_config)
    version = client.pushed_models()[-1].version
    results = {}
    for name in NOTEBOOKS:
        notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
        [parameters] = _parameter_cells(notebook)
        parameters.source = f"CONFIG = {str(REPO / 'lifecycle.yaml')!r}\nWORK_DIR = {taxi_config.work_dir!r}"
        # Raises CellExecutionError, naming the cell and the traceback, on the first failing cell.
        NotebookClient(
            notebook,
            timeout=300,
            kernel_name=venv_kernel,
            resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        ).execute()
        nbformat.write(notebook, tmp_path / name)  # kept for a look when an assertion below fails
        results[name] = _outputs(notebook)

    text, images = results["01_data_and_schema.ipynb"]
    assert "span 2: ExampleStatistics" in text and "no anomalies in any split" in text
    assert images == 3  # histograms, top values, missing values
    text, images = results["02_data_evolution.ipynb"]
    assert "2 span(s) with statistics, 2 drift report(s)" in text
    assert images == 6  # scores, score/threshold + PSI, quantiles, counts, missing, concept checks
    text, images = results["03_model_evaluation.ipynb"]
    assert all(run.run_id in text for run in two_span_runs)
    assert f"slice features from the config: {list(taxi_config.dataset.evaluation.slice_features)}" in text
    assert images == 2 + len(taxi_config.dataset.evaluation.slice_features)  # runs, slice bars, heatmaps
    text, images = results["04_lineage.ipynb"]
    assert f"PushedModel version {version}" in text
    assert "span-1/data.csv" in text or "span-2/data.csv" in text
    assert f"diff {two_span_runs[0].run_id} -> {two_span_runs[1].run_id}" in text
    assert images == 2  # the lineage graph, the diff's drift bars
