"""Every notebook under notebooks/ runs top to bottom, shows its figures and states only what it computes.

Each notebook tells its part of the lecture notes in markdown between the cells and ends with a cell of
asserted facts. The convention checked here: every number the markdown states in **bold** is a result,
and it appears, as written, in that final facts cell, which asserts it against the value its cells
computed (to the stated rounding) beside the claims the text draws (with tolerances from the sample
sizes). Execution raises on any failed assertion, so a number the text states that the cells do not
compute fails the test.
"""

from __future__ import annotations

import os
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The lecture notes' five parts, in order (see README "Notebooks").
PARTS = ("monte_carlo", "markov_chains", "conditionals", "backprop", "training")


def test_the_five_notebooks_mirror_the_notes_in_order():
    assert len(NOTEBOOKS) == len(PARTS)
    for i, (path, part) in enumerate(zip(NOTEBOOKS, PARTS), 1):
        assert path.name.startswith(f"0{i}_") and part in path.name, path.name


def bold_numbers(markdown: str) -> list[str]:
    """The numbers inside **bold** spans, as written (a leading '-' or '−' kept as '-')."""
    found = []
    for span in re.findall(r"\*\*(.+?)\*\*", markdown):
        found += [n.replace("−", "-") for n in re.findall(r"[-−]?\d+(?:\.\d+)?(?:e-?\d+)?", span)]
    return found


def test_bold_numbers_are_found():
    assert bold_numbers("a **5.089** and **-0.5** but not 3; **1e-12**, **0.0025** (one)") == [
        "5.089", "-0.5", "1e-12", "0.0025"]


@pytest.fixture(scope="module")
def jax_cache_for_kernels():
    """Kernels share the suite's persistent compilation cache (tests/conftest.py), through JAX's env vars.

    Every program is cached, however fast it compiled (min compile time 0): a notebook's many small
    eager operations then load from the cache too, which roughly halves a warm run."""
    saved = {k: os.environ.get(k) for k in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")}
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(ROOT / ".jax_cache")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_shows_figures_and_asserts_what_it_states(path, tmp_path, jax_cache_for_kernels):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any failure
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # Figures are embedded: at least one PNG, and no figure left un-shown (a bare Figure repr).
    images = [o for o in outputs if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    assert not any("<Figure size" in o.get("text", "") or "<Figure size" in str(o.get("data", {}).get("text/plain", ""))
                   for o in outputs if o not in images), f"{path.name} has a figure that was not shown"
    # Every code cell shows something: a figure, a number, a table.
    for i, cell in enumerate(code):
        assert cell.get("outputs"), f"{path.name}: code cell {i} shows nothing"
    # The story is told in markdown between the cells, not in one line at the top.
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= len(code) - 1 and sum(len(c.source) for c in markdown) > 1500, path.name
    # The last cell asserts the facts, and every bold number of the markdown is among them.
    facts = code[-1].source
    assert facts.startswith("# Facts") and "assert" in facts, f"{path.name}: no final cell of asserted facts"
    stated = [n for c in markdown for n in bold_numbers(c.source)]
    assert stated, f"{path.name} states no result"
    missing = [n for n in stated if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", facts)]
    assert not missing, f"{path.name}: the text states {missing} but the facts cell does not assert them"


def test_notebooks_are_what_tools_make_notebooks_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(tmp_path)
    for path in NOTEBOOKS:
        made = nbformat.read(tmp_path / path.name, as_version=4)
        kept = nbformat.read(path, as_version=4)
        assert [(c.cell_type, c.source) for c in made.cells] == [(c.cell_type, c.source) for c in kept.cells], path.name
