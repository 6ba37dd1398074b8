"""The example notebook runs top to bottom, and is committed with its outputs.

``python -m tests.analysis.test_notebook`` re-executes it in place (run from the
repository root after the example dataset changes), with volatile metadata stripped.
"""

import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]

NOTEBOOK = Path(__file__).resolve().parents[2] / "analysis" / "notebooks" / "explore.ipynb"
KERNEL = "relu-phase-test"


def execute(nb, kernels_dir):
    """Run ``nb`` in a kernel of this very interpreter (a kernel spec named ``python3``
    could start any Python on the machine), from the notebook's folder."""
    spec = Path(kernels_dir) / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(dict(argv=argv, display_name=KERNEL, language="python")))
    client = NotebookClient(
        nb, timeout=300, kernel_name=KERNEL, record_timing=False, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    import os

    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(kernels_dir)
    try:
        client.execute()
    finally:
        if old is None:
            del os.environ["JUPYTER_PATH"]
        else:
            os.environ["JUPYTER_PATH"] = old
    nb.metadata["kernelspec"] = dict(display_name="Python 3", language="python", name="python3")
    nb.metadata.pop("widgets", None)
    nb.metadata.get("language_info", {}).pop("version", None)
    return nb


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _images(nb):
    return [o for o in _outputs(nb) if "image/png" in o.get("data", {})]


def test_notebook_runs_top_to_bottom_and_draws_each_figure_once(tmp_path):
    nb = execute(nbformat.read(NOTEBOOK, as_version=4), tmp_path)
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    # one heatmap and one probes figure (one regularizer in each example), the step figure
    # and the time-data figure, each drawn once
    assert len(_images(nb)) == 4


def test_the_committed_notebook_shows_its_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert len(_images(nb)) == 4
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")
    assert not any("execution" in c.metadata for c in nb.cells)  # no timestamps
    assert "version" not in nb.metadata.get("language_info", {})


def test_the_data_path_is_a_parameter():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "path = " in tagged[0].source
    assert (NOTEBOOK.parent / "../../data/example.nc").resolve().is_file()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        nbformat.write(execute(nbformat.read(NOTEBOOK, as_version=4), tmp), NOTEBOOK)
    print(f"wrote {NOTEBOOK}")


def test_the_readmes_notebook_block_runs_as_written_in_a_clone():
    """The README's "In a notebook" block, run from the repository root: every file it
    opens is one a clone has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## In a notebook") :]
    block = section[
        section.index("```python") + len("```python") : section.index("```\n", section.index("```python") + 9)
    ]
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
        plt.close("all")
