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
    "02_gibbs_and_tempering.ipynb": [
        ("md", """# Gibbs chains, tempering and diagnostics

A thin mirror of `experiments/gibbs_convergence.py`: many vmapped block-Gibbs chains from v = 0
converge to the exact P(v) at the rate of the exact p₀Tᵗ; on a bimodal RBM plain Gibbs stays in
its start mode while parallel tempering finds both, and R-hat on the β = 1 chains says so."""),
        ("code", """import jax, jax.numpy as jnp, numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rbm_jax import RBMParams, diagnostics, exact, gibbs

jax.config.update("jax_enable_x64", True)  # exact references in float64 (the library never sets this)
kw, kb, kc = jax.random.split(jax.random.key(0), 3)
params = RBMParams(2 * jax.random.normal(kw, (6, 4)), 2 * jax.random.normal(kb, (6,)),
                   2 * jax.random.normal(kc, (4,)))"""),
        ("code", """n_chains, n_sweeps = 5000, 10
_, trace = gibbs.sample_chains(jax.random.key(1), params, jnp.zeros((n_chains, 6)), n_sweeps,
                               transform=gibbs.keep_v)            # [n_sweeps, n_chains, 6]
T = exact.gibbs_transition_matrix(params)
p = exact.marginal_v_table(params)
dist = jnp.zeros_like(p).at[0].set(1.0)
sampled, exact_tv = [], []
for t in range(n_sweeps):
    dist = dist @ T
    exact_tv.append(float(exact.total_variation(dist, p)))
    sampled.append(float(exact.total_variation(exact.empirical_distribution(trace[t]), p)))
fig, ax = plt.subplots(figsize=(4, 3))
ax.semilogy(range(1, n_sweeps + 1), sampled, "o", label="5,000 chains")
ax.semilogy(range(1, n_sweeps + 1), exact_tv, "-", label="exact")
ax.legend(); ax.set_xlabel("sweeps"); ax.set_ylabel("TV to P(v)")
assert abs(sampled[0] - exact_tv[0]) < 0.05"""),
        ("md", "## A bimodal RBM: Gibbs against parallel tempering (diagnostics on the β = 1 rung only)"),
        ("code", """w, n = 6.0, 12
bimodal = RBMParams(jnp.full((n, 1), w), jnp.full((n,), -w / 2), jnp.array([-w * n / 2]))
v0 = jnp.zeros((4, n)).at[2:].set(1.0)   # two chains start in each mode
_, g_fe = gibbs.sample_chains(jax.random.key(2), bimodal, v0, 400, transform=gibbs.keep_free_energy)
_, pt_fe = gibbs.sample_pt(jax.random.key(3), bimodal, v0, 400, n_temps=8, beta_min=0.05,
                           transform=gibbs.pt_keep_target_v)
pt_on = (pt_fe.sum(-1) > n / 2).astype(jnp.float64)           # [draws, chains]: in the all-on half?
_, g_v = gibbs.sample_chains(jax.random.key(2), bimodal, v0, 400, transform=gibbs.keep_v)
g_on = (g_v.sum(-1) > n / 2).astype(jnp.float64)
print("R-hat, Gibbs:", float(diagnostics.rhat(g_on)), " PT:", float(diagnostics.rhat(pt_on)))
print("mass of the all-on half, Gibbs:", float(g_on.mean()), " PT:", float(pt_on.mean()))
assert float(diagnostics.rhat(g_on)) > 1.5 and float(diagnostics.rhat(pt_on)) < 1.1"""),
    ],
    "03_backprop_by_hand.ipynb": [
        ("md", """# The notes' MLP, backpropagated by hand

A thin mirror of `experiments/grad_check.py`: the notes' network and numbers, its six chain-rule
factors, the manual gradient against `jax.grad`, and a `gradcheck` report catching a wrong one."""),
        ("code", """import jax, jax.numpy as jnp
from rbm_jax import gradcheck, mlp

jax.config.update("jax_enable_x64", True)
params, x, t = mlp.seed_example()
fwd = mlp.forward(params, x)
print("h1", fwd.h1, "a1", fwd.a1, "h2", fwd.h2, "y", fwd.y)
factors = mlp.chain_factors(params, x, t)
for name, value in factors._asdict().items():
    print(f"{name:>8}:", value.tolist())
dW1 = mlp.manual_grads(params, x, t).W1
print("dJ/dW1 =", dW1.tolist(), " (the notes: [[-1/8, -1/16], [0, 0]])")
assert jnp.allclose(dW1, jnp.array([[-1 / 8, -1 / 16], [0, 0]]), atol=0)
assert jnp.allclose(mlp.chain_rule_dJ_dW1(factors), dW1, atol=1e-15)"""),
        ("md", "## gradcheck: the manual gradient against autodiff and finite differences"),
        ("code", """report = gradcheck.compare_grads(mlp.manual_grads, mlp.loss, params, x, t, fd=True)
print(report)
assert report.ok

def forgot_sigmoid_prime(p, x, t):   # a classic mistake: the factor (3) left out
    g = mlp.manual_grads(p, x, t)
    return jax.tree.map(lambda a: a / 0.25, g)

bad = gradcheck.compare_grads(forgot_sigmoid_prime, mlp.loss, params, x, t)
print(bad)
assert not bad.ok"""),
    ],
    "04_training_and_likelihood.ipynb": [
        ("md", """# Training an RBM and measuring its likelihood honestly

A thin mirror of `experiments/train_rbm.py` at toy size: bars-and-stripes 3×3, CD-1 against
parallel tempering, the exact log-likelihood per epoch, and AIS checked against the exact log Z."""),
        ("code", """import jax, jax.numpy as jnp, numpy as np, optax
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rbm_jax import ais, data, exact, rbm, train

X = data.bars_and_stripes(3)              # 14 distinct 3×3 patterns; optimum -ln 14
p0 = rbm.init_params(jax.random.key(0), 9, 9, data=X, weight_scale=0.5)
fig, ax = plt.subplots(figsize=(5, 3))
final = {}
for method in ("cd", "pt"):
    params, hist = train.fit(jax.random.key(1), p0, X, method=method, n_epochs=300, batch_size=7,
                             optimizer=optax.sgd(0.2), metrics_every=20,
                             betas=[1.0, 0.6, 0.3] if method == "pt" else None)
    ok = ~np.isnan(hist["log_likelihood"])
    ax.plot(hist["epoch"][ok], hist["log_likelihood"][ok], label=method)
    final[method] = params
ax.axhline(data.bars_and_stripes_optimal_log_likelihood(3), ls="--", color="k", label="optimum")
ax.legend(); ax.set_xlabel("epoch"); ax.set_ylabel("exact log-likelihood")"""),
        ("code", """params = final["pt"]
est = ais.log_partition(jax.random.key(2), params, n_betas=3000, data=X)
log_z = float(exact.log_partition(params))
print(f"AIS log Z = {float(est.log_z):.4f} ± {float(est.stderr):.4f}, exact {log_z:.4f}")
assert abs(float(est.log_z) - log_z) < max(3 * float(est.stderr), 0.05)"""),
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
