"""Regenerates notebooks/*.ipynb from the cell sources below (kept short: notebooks are thin mirrors).

    python tools/make_notebooks.py
"""

from __future__ import annotations

import pathlib

import nbformat

NB_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"

NOTEBOOKS = {
    "01_rbm_notes.ipynb": [
        ("md", """# The notes' RBM, checked by enumeration

A thin mirror of `experiments/notes_walkthrough.py`: a small random RBM, the notes'
formula P(v|h) = Π σ((2v−1) ⊙ (b + Wh)) against the brute-force ratio P(v,h)/P(h), the exact
log Z, and the Gibbs transition operator T(v'|v) converging to P(v)."""),
        ("code", """import itertools
import jax, jax.numpy as jnp, numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rbm_jax import RBMParams, exact, rbm

jax.config.update("jax_enable_x64", True)  # a reference check: float64 (the library never sets this)
kw, kb, kc = jax.random.split(jax.random.key(0), 3)
n_visible, n_hidden = 4, 3
params = RBMParams(jax.random.normal(kw, (n_visible, n_hidden)),
                   jax.random.normal(kb, (n_visible,)),
                   jax.random.normal(kc, (n_hidden,)))
V = exact.configurations(n_visible, jnp.float64)
H = exact.configurations(n_hidden, jnp.float64)"""),
        ("md", "## P(v|h): the notes' formula against P(v, h) / P(h)"),
        ("code", """neg_e = -rbm.energy(params, V[:, None], H[None])      # [2**n_v, 2**n_h]
joint = jnp.exp(neg_e - jax.nn.logsumexp(neg_e))
brute = joint / joint.sum(axis=0, keepdims=True)       # P(v, h) / P(h)
notes = jnp.exp(rbm.log_prob_v_given_h(params, V[:, None], H[None]))
err = float(jnp.max(jnp.abs(notes - brute)))
print(f"max |notes - brute| over all (v, h): {err:.2e}")
assert err < 1e-12"""),
        ("md", "## log Z: smaller layer enumerated vs the full joint"),
        ("code", """log_z = exact.log_partition(params)
print(float(log_z), float(jax.nn.logsumexp(neg_e)))
assert abs(log_z - jax.nn.logsumexp(neg_e)) < 1e-12"""),
        ("md", "## The transition operator T(v'|v) of one Gibbs sweep"),
        ("code", """T = exact.gibbs_transition_matrix(params)
p = exact.marginal_v_table(params)
print("stationarity error", float(jnp.max(jnp.abs(p @ T - p))))
dist = jnp.zeros_like(p).at[0].set(1.0)
tv = []
for t in range(1, 16):
    dist = dist @ T
    tv.append(float(exact.total_variation(dist, p)))
fig, ax = plt.subplots(figsize=(4, 3))
ax.semilogy(range(1, 16), tv, "o-")
ax.set_xlabel("sweeps t"); ax.set_ylabel("TV(δ₀Tᵗ, P(v))")
fig.tight_layout()
assert tv[-1] < tv[0]"""),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [
            nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
            for kind, src in cells
        ]
        nbformat.write(nb, NB_DIR / name)
        print("wrote", NB_DIR / name)


if __name__ == "__main__":
    main()
