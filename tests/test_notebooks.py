"""The notebooks execute headlessly at small sizes, so they never rot."""

import os
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel():
    """One Python kernel for all notebooks: each notebook starts from an empty namespace
    (``%reset -f``), but the kernel's imports and XLA compilations are paid once, not per notebook."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(NOTEBOOKS[0].parent), env={**os.environ, "JAXLMG_QUICK": "1", "MPLBACKEND": "Agg"})
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, kernel):
    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f\nimport matplotlib.pyplot as _plt; _plt.close('all'); del _plt"))
    client = NotebookClient(nb, km=kernel, timeout=900, kernel_name="python3")
    try:
        client.execute()
    finally:
        if client.kc is not None:  # the kernel lives on for the next notebook; this client's threads do not
            client.kc.stop_channels()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert len(nb.cells) == n_cells + 1 and all(
        c.get("execution_count") for c in nb.cells if c.cell_type == "code")  # every cell ran


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3
