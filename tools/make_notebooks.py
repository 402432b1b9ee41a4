"""Regenerates notebooks/*.ipynb from the cell sources below.

    python tools/make_notebooks.py

Each notebook tells one part of the lecture notes in markdown between its cells and ends with a
"# Facts" cell asserting every number its markdown states in bold (tests/test_notebooks.py checks
the convention). After editing a source here, regenerate, run `make notebooks`, and make the text's
numbers and the facts cell agree with what the cells print.
"""

from __future__ import annotations

import pathlib

import nbformat

NB_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"

NOTEBOOKS = {
    "01_monte_carlo_and_importance_sampling.ipynb": [
        ("md", r'''# 1 · Monte Carlo and importance sampling

The lecture notes open the sampling part with one line,

$$\hat{x} = \frac{1}{n}\sum_{i=1}^{n} p(x)\,f(x),$$

an estimate of an expectation $E_p[f]$ from $n$ draws. This notebook takes the line apart on a
distribution we can also enumerate, so every estimate has an exact answer beside it: the visible
marginal $P(v)$ of a small random RBM (8 visible, 4 hidden units, so $2^8 = 256$ states), with
$f(v)$ = the number of units that are on. Everything runs in float64 with fixed seeds; the last cell
asserts every number the text states.'''),
        ("code", r'''%matplotlib inline
import jax, jax.numpy as jnp, numpy as np
import matplotlib.pyplot as plt
from rbm_jax import RBMParams, exact, montecarlo, rbm

jax.config.update("jax_enable_x64", True)  # a reference check in float64 (the library never sets this)
kw, kb, kc = jax.random.split(jax.random.key(0), 3)
params = RBMParams(jax.random.normal(kw, (8, 4)), 0.5 * jax.random.normal(kb, (8,)), jax.random.normal(kc, (4,)))
V = exact.configurations(8, jnp.float64)        # all 2**8 = 256 visible states, enumeration order
p = exact.marginal_v_table(params)              # exact P(v), [256]
f = V.sum(-1)                                   # f(v) = number of units on
exact_mean = float(p @ f)
exact_sd = float(jnp.sqrt(p @ (f - exact_mean) ** 2))
print(f"E_P[f] = {exact_mean:.4f} (exact, 256 states);  sd of f = {exact_sd:.4f}")'''),
        ("md", r'''Enumerating the 256 states gives the exact answer, $E_P[f] =$ **5.089**, and the spread of $f$,
$\mathrm{sd}(f) =$ **1.175**. A Monte Carlo estimate should land within a few $\mathrm{sd}(f)/\sqrt{n}$ of it.

## Plain Monte Carlo: draws from $p$ itself

With $x_i \sim p$ the estimate is $\frac1n\sum f(x_i)$ — no $p(x)$ inside the sum; the draws
already carry it. `exact.sample_exact` gives independent draws from $P(v)$.'''),
        ("code", r'''n = 1000
x = exact.sample_exact(jax.random.key(1), params, n)       # n independent draws from P(v)
mc = montecarlo.monte_carlo_mean(x.sum(-1))
print(f"(1/n) Σ f(x_i), x_i ~ P, n = {n}: {float(mc.mean):.4f} ± {float(mc.stderr):.4f}")
print(f"error {float(mc.mean) - exact_mean:+.4f} = {(float(mc.mean) - exact_mean) / float(mc.stderr):+.2f} standard errors;"
      f" sd/√n from the exact sd: {exact_sd / np.sqrt(n):.4f}")'''),
        ("md", r'''With $n = 1000$ draws the estimate is **5.123** with a standard error of **0.035**, about one
standard error from the exact value; the standard error $\mathrm{sd}(f)/\sqrt n$ computed from the
exact spread is **0.037**. The running mean below shows the $1/\sqrt n$ law: it wanders inside the
band exact $\pm 2\,\mathrm{sd}/\sqrt n$, which narrows tenfold for every hundredfold more draws.'''),
        ("code", r'''running = np.cumsum(np.asarray(x.sum(-1))) / np.arange(1, n + 1)
ns = np.arange(1, n + 1)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(ns, running, lw=1, label="running Monte Carlo mean")
ax.fill_between(ns, exact_mean - 2 * exact_sd / np.sqrt(ns), exact_mean + 2 * exact_sd / np.sqrt(ns),
                color="C1", alpha=0.2, label="exact ± 2 sd/√n")
ax.axhline(exact_mean, color="k", lw=0.8, label="exact E_P[f]")
ax.set_xscale("log"); ax.set_ylim(3, 7); ax.set_xlabel("draws n"); ax.set_ylabel("estimate of E_P[f]")
ax.legend(fontsize=8); fig.tight_layout(); plt.show()'''),
        ("md", r'''## The notes' formula is importance sampling with the proposal left out

Draw $x_i$ **uniformly** instead, $q(x) = 1/256$. Then $\frac1n \sum p(x_i) f(x_i)$, the notes' line
as written, is $E_q[p f] = \frac{1}{256} E_p[f]$: it comes out 256 times too small. The correct
estimate divides by the proposal, $\frac1n\sum \frac{p(x_i)}{q(x_i)} f(x_i)$ — importance sampling.'''),
        ("code", r'''u = V[jax.random.randint(jax.random.key(2), (n,), 0, 256)]  # x_i uniform on the 256 states: q = 1/256
log_p = exact.log_marginal_v(params, u)
log_q = jnp.full((n,), -jnp.log(256.0))
notes_formula = float(jnp.mean(jnp.exp(log_p) * u.sum(-1)))   # (1/n) Σ p(x_i) f(x_i), as the notes write it
is_est = montecarlo.importance_sampling(u.sum(-1), log_p, log_q)  # (1/n) Σ p(x_i)/q(x_i) f(x_i)
print(f"the notes' (1/n) Σ p f, x uniform : {notes_formula:.4f}   (× 256 = {256 * notes_formula:.4f})")
print(f"importance sampling, q uniform    : {float(is_est.mean):.4f} ± {float(is_est.stderr):.4f}"
      f"  ({(float(is_est.mean) - exact_mean) / float(is_est.stderr):+.2f} SE);  Kish ESS {float(is_est.ess):.0f} of {n}")'''),
        ("md", r'''As written, the notes' sum gives **0.0177**; times 256 it is the importance-sampling estimate
**4.535**, with a standard error of **0.322** — nine times that of plain Monte Carlo with the same
1000 draws, and **1.7** standard errors below the exact value. The uniform proposal wastes most draws
where $P$ is small: the weights $p/q$ of only about **186** draws' worth count (Kish's effective
sample size $(\sum w)^2/\sum w^2$).

## When $Z$ is unknown: self-normalised importance sampling

An RBM gives $P(v)$ only up to its normaliser, $P(v) = e^{-F(v)}/Z$. Normalising the weights by
their own sum, $\sum w_i f(x_i) / \sum w_i$ with $w = e^{-F}/q$, cancels $Z$.'''),
        ("code", r'''log_p_tilde = -rbm.free_energy(params, u)      # log P(v) + log Z: what an RBM gives without Z
snis = montecarlo.self_normalized_importance_sampling(u.sum(-1), log_p_tilde, log_q)
print(f"self-normalised IS, Z unknown    : {float(snis.mean):.4f} ± {float(snis.stderr):.4f}"
      f"  ({(float(snis.mean) - exact_mean) / float(snis.stderr):+.2f} SE)")
w = np.exp(np.asarray(log_p - log_q))
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(w, bins=60, color="C2")
ax.set_yscale("log"); ax.set_xlabel("importance weight p(x)/q(x), x uniform"); ax.set_ylabel("draws")
ax.set_title(f"{n} uniform draws: a few carry most of the weight", fontsize=10)
fig.tight_layout(); plt.show()
print(f"largest weight {w.max():.1f}; the top 10% of draws carry {np.sort(w)[-n // 10:].sum() / w.sum():.0%} of the weight")'''),
        ("md", r'''Self-normalised, the same uniform draws give **5.088** ± **0.080**, right on the exact 5.089;
this time its error is a small fraction of its standard error. The histogram shows why any importance
sampler is fragile: the largest single weight is **19.5** (out of a mean of 1), and the top tenth of
the draws carries **62**% of the total weight. A proposal close to $p$ keeps the weights even; the
AIS of notebook 5 builds one by annealing.'''),
        ("code", r'''# Facts: every number the text above states, asserted against what the cells computed.
stated = {  # name: (computed, as stated in the text, tolerance of the stated rounding)
    "E_P[f]": (exact_mean, 5.089, 5e-4), "sd(f)": (exact_sd, 1.175, 5e-4),
    "MC estimate": (float(mc.mean), 5.123, 5e-4), "MC SE": (float(mc.stderr), 0.035, 5e-4),
    "sd/sqrt(n)": (exact_sd / np.sqrt(n), 0.037, 5e-4),
    "notes' formula": (notes_formula, 0.0177, 5e-5), "IS estimate": (float(is_est.mean), 4.535, 5e-4),
    "IS SE": (float(is_est.stderr), 0.322, 5e-4),
    "IS error in SE": ((exact_mean - float(is_est.mean)) / float(is_est.stderr), 1.7, 0.05),
    "Kish ESS": (float(is_est.ess), 186, 0.5), "SNIS estimate": (float(snis.mean), 5.088, 5e-4),
    "SNIS SE": (float(snis.stderr), 0.080, 5e-4), "largest weight": (float(w.max()), 19.5, 0.05),
    "top-10% weight share (%)": (100 * np.sort(w)[-n // 10:].sum() / w.sum(), 62, 0.5),
}
for name, (value, text, tol) in stated.items():
    assert abs(value - text) <= tol, (name, value, text)
# The claims, with tolerances from the sample size n = 1000 (standard errors of the estimates):
assert abs(float(mc.mean) - exact_mean) < 1.0 * float(mc.stderr)            # "about one standard error"
assert abs(float(mc.stderr) - exact_sd / np.sqrt(n)) < 3 * exact_sd / np.sqrt(2 * n)  # SE estimate vs exact sd
assert abs(256 * notes_formula - float(is_est.mean)) < 1e-12                # the notes' sum × 256 = IS
assert 8.5 < float(is_est.stderr) / float(mc.stderr) < 9.5                  # "nine times"
assert abs(float(is_est.mean) - exact_mean) < 2 * float(is_est.stderr)      # IS unbiased: within 2 SE
assert abs(float(snis.mean) - exact_mean) < 0.1 * float(snis.stderr)        # "a small fraction of its SE"
assert abs(float(np.mean(w)) - 1) < 3 * float(np.std(w)) / np.sqrt(n)       # weights average to 1
print(f"all {len(stated)} stated numbers and 7 claims hold")'''),
    ],
    "02_markov_chains_gibbs_and_tempering.ipynb": [
        ("md", r'''# 2 · Markov chains: T(x'|x), stationarity, Gibbs and parallel tempering

When $p$ cannot be sampled directly, the notes turn to *Monte Carlo chains*: a transformation on
probabilities $T(x'|x)$ applied over and over. For an RBM, one block-Gibbs sweep $v \to h \to v'$ is
such a transformation,

$$T(v'|v) = \sum_h P(h|v)\,P(v'|h),$$

and for a model small enough to enumerate it is a matrix: `exact.gibbs_transition_matrix`. Here a
random RBM with 6 visible and 4 hidden units (weights and biases $\sim N(0, 2^2)$), so $T$ is
64 × 64, in float64.'''),
        ("code", r'''%matplotlib inline
import jax, jax.numpy as jnp, numpy as np
import matplotlib.pyplot as plt
from rbm_jax import RBMParams, diagnostics, exact, gibbs

jax.config.update("jax_enable_x64", True)  # exact references in float64 (the library never sets this)
kw, kb, kc = jax.random.split(jax.random.key(0), 3)
params = RBMParams(2 * jax.random.normal(kw, (6, 4)), 2 * jax.random.normal(kb, (6,)), 2 * jax.random.normal(kc, (4,)))
T = exact.gibbs_transition_matrix(params)   # T[i, j] = P(v_j | v_i) for one sweep v -> h -> v'
p = exact.marginal_v_table(params)          # exact P(v) over the 64 states
row_sum_error = float(jnp.max(jnp.abs(T.sum(1) - 1)))
stationarity_error = float(jnp.max(jnp.abs(p @ T - p)))
lam2 = float(np.sort(np.abs(np.linalg.eigvals(np.asarray(T))))[-2])
print(f"rows of T sum to 1: max error {row_sum_error:.1e};  P T = P: max error {stationarity_error:.1e};  |λ₂| = {lam2:.4f}")
fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), gridspec_kw={"width_ratios": [1, 1.3]})
axes[0].imshow(np.asarray(T), cmap="viridis"); axes[0].set_title("T(v'|v): rows v, columns v'", fontsize=10)
axes[1].bar(range(64), np.asarray(p)); axes[1].set_title("its stationary distribution P(v)", fontsize=10)
axes[1].set_xlabel("state index (enumeration order)")
fig.tight_layout(); plt.show()'''),
        ("md", r'''Each row of $T$ is a distribution over the next state (rows sum to 1 within **1e-12**), and $P(v)$ is
*stationary*: $PT = P$ to within **1e-12** as well. How fast a chain forgets its start is set by the
second-largest eigenvalue modulus, $|\lambda_2| =$ **0.405**: the distance to $P$ falls roughly like
$0.405^t$.

## Gibbs chains against the exact distribution

Start 2000 chains at $v = 0$ and run 8 sweeps. After $t$ sweeps the chains' exact law is
$\delta_0 T^t$; their histogram is a sample of it.'''),
        ("code", r'''n_chains, n_sweeps = 2000, 8
_, trace = gibbs.sample_chains(jax.random.key(1), params, jnp.zeros((n_chains, 6)), n_sweeps,
                               transform=gibbs.keep_v)                   # [n_sweeps, n_chains, 6]
dist = jnp.zeros_like(p).at[0].set(1.0)                                 # every chain starts at v = 0
exact_tv, sampled_tv = [], []
for t in range(n_sweeps):
    dist = dist @ T
    exact_tv.append(float(exact.total_variation(dist, p)))
    sampled_tv.append(float(exact.total_variation(exact.empirical_distribution(trace[t]), p)))
floor = float(0.5 * np.sum(np.sqrt(2 * np.asarray(p) * (1 - np.asarray(p)) / (np.pi * n_chains))))
sweeps = np.arange(1, n_sweeps + 1)
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.semilogy(sweeps, exact_tv, "-", label="exact: TV(δ₀Tᵗ, P)")
ax.semilogy(sweeps, sampled_tv, "o", label=f"{n_chains} chains: TV(histogram, P)")
ax.semilogy(sweeps, lam2 ** sweeps, ":", label="|λ₂|ᵗ")
ax.axhline(floor, color="gray", ls="--", lw=0.8, label=f"TV of a {n_chains}-draw histogram of P itself")
ax.set_xlabel("sweeps t"); ax.set_ylabel("total variation to P(v)"); ax.legend(fontsize=8)
fig.tight_layout(); plt.show()
print("exact  ", np.round(exact_tv, 3)); print("sampled", np.round(sampled_tv, 3)); print(f"floor   {floor:.3f}")'''),
        ("md", r'''After one sweep the exact total-variation distance is **0.556** and the 2000 chains measure **0.550**;
both fall at the rate $|\lambda_2|^t$ promises. From about 4 sweeps on the sampled curve stops
following the exact one and levels off near **0.028**, the distance at which even a 2000-draw
histogram of $P$ itself sits: past that point the chains have converged and only their number limits
what a histogram can show.

## A bimodal model: Gibbs stays where it starts, parallel tempering crosses

Twelve visible units and one hidden unit with weight $w = 6$ to each, biases $-w/2$ and $-wn/2$: the
free energy has two deep minima, all units off and all units on, separated by a barrier of about
$wn/4 = 18$ nats. By symmetry each half of the states holds half the mass (exact mass of the all-on
half: **0.5000**). To make the comparison fair, **every** chain of both samplers starts in the all-off
mode; parallel tempering (`gibbs.sample_pt`, 8 rungs from β = 1 down to 0.05) runs the same number
of steps, each of which costs 8 sweeps.'''),
        ("code", r'''w, n = 6.0, 12
bimodal = RBMParams(jnp.full((n, 1), w), jnp.full((n,), -w / 2), jnp.array([-w * n / 2]))
on_half = lambda v: (v.sum(-1) > n / 2)                 # noqa: E731  in the all-on half?
p_b = exact.marginal_v_table(bimodal)
exact_mass = float(p_b @ on_half(exact.configurations(n, jnp.float64)))
print(f"exact P(all-on half) = {exact_mass:.4f}")
m, steps = 400, 200
v0 = jnp.zeros((m, n))                                  # EVERY chain starts in the all-off mode
_, gibbs_v = gibbs.sample_chains(jax.random.key(2), bimodal, v0, steps, transform=gibbs.keep_v)
_, pt_v = gibbs.sample_pt(jax.random.key(3), bimodal, v0, steps, n_temps=8, beta_min=0.05,
                          transform=gibbs.pt_keep_target_v)  # the β = 1 rung of each of m PT systems
gibbs_on, pt_on = on_half(gibbs_v), on_half(pt_v)      # [steps, m]
gibbs_mass, pt_mass = float(gibbs_on[-1].mean()), float(pt_on[-1].mean())   # final states: m independent draws
se = np.sqrt(exact_mass * (1 - exact_mass) / m)
print(f"after {steps} steps, fraction of the {m} chains in the all-on half: Gibbs {gibbs_mass:.4f}, "
      f"PT {pt_mass:.4f} (binomial SE at the exact mass {se:.3f})")
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(np.asarray(gibbs_on.mean(1)), label="plain Gibbs")
ax.plot(np.asarray(pt_on.mean(1)), label="parallel tempering (β = 1 rung)")
ax.axhline(exact_mass, color="k", ls="--", lw=0.8, label="exact")
ax.set_xlabel("sweeps (PT: steps; each costs 8 sweeps)"); ax.set_ylabel(f"fraction of {m} chains in all-on half")
ax.legend(fontsize=8); fig.tight_layout(); plt.show()'''),
        ("md", r'''After 200 steps, plain Gibbs has **0.0025** of its 400 chains in the all-on half (one chain crossed)
where the exact answer is 0.5. Parallel tempering has **0.4625**, within **1.5** binomial standard errors
(**0.025** for 400 independent systems) of 0.5, and its curve reaches the right level within a few tens
of steps: hot rungs cross the barrier and swaps carry their states down to β = 1.

## What the diagnostics can and cannot see

R-hat compares chains with each other, and the effective sample size (ESS) measures how correlated each
chain is — both from the draws alone.'''),
        ("code", r'''units_on_gibbs = gibbs_v.sum(-1)[steps // 2:]        # second half: [100, m] draws of Σv per chain
units_on_pt = pt_v.sum(-1)[steps // 2:]
rhat_gibbs, rhat_pt = float(diagnostics.rhat(units_on_gibbs)), float(diagnostics.rhat(units_on_pt))
ess_gibbs, ess_pt = float(diagnostics.ess(units_on_gibbs)), float(diagnostics.ess(units_on_pt))
print(f"R-hat of Σv: Gibbs {rhat_gibbs:.3f}, PT {rhat_pt:.3f};  bulk ESS: Gibbs {ess_gibbs:.0f}, PT {ess_pt:.0f}"
      f"  (of {units_on_gibbs.size} draws)")'''),
        ("md", r'''Gibbs looks perfect: R-hat **1.002** and an ESS of **40727** from 40,000 draws. Every chain is
stuck in the same mode, so they agree with each other, and within that mode they mix fast. The answer
is still wrong by 0.5. Parallel tempering, which is right, gets the *worse* diagnostics: R-hat **1.054**
(above the usual 1.01 threshold) and an ESS of **5064**, because its chains really do travel between the
modes, slowly. Diagnostics can only flag disagreement between chains; a mode that no chain visits is
invisible to them. Only a reference — here the exact mass, in practice a sampler that can cross
barriers — reveals it.'''),
        ("code", r'''# Facts: every number the text above states, asserted against what the cells computed.
stated = {  # name: (computed, as stated in the text, tolerance)
    "|λ₂|": (lam2, 0.405, 5e-4), "exact TV after 1 sweep": (exact_tv[0], 0.556, 5e-4),
    "sampled TV after 1 sweep": (sampled_tv[0], 0.550, 5e-4), "finite-sample floor": (floor, 0.028, 5e-4),
    "exact mass": (exact_mass, 0.5000, 5e-5), "Gibbs mass": (gibbs_mass, 0.0025, 1e-6),
    "PT mass": (pt_mass, 0.4625, 1e-6), "PT error in SE": (abs(pt_mass - exact_mass) / se, 1.5, 0.05),
    "binomial SE": (se, 0.025, 5e-4), "R-hat Gibbs": (rhat_gibbs, 1.002, 5e-4),
    "ESS Gibbs": (ess_gibbs, 40727, 0.5), "R-hat PT": (rhat_pt, 1.054, 5e-4), "ESS PT": (ess_pt, 5064, 0.5),
}
for name, (value, text, tol) in stated.items():
    assert abs(value - text) <= tol, (name, value, text)
assert row_sum_error < 1e-12 and stationarity_error < 1e-12            # "within 1e-12"
# The sampled distance tracks the exact one within the n = 2000 sampling scale until it reaches the floor:
scale = float(2 * np.sum(np.sqrt(np.asarray(p) * (1 - np.asarray(p)) / n_chains)))  # 4 × the TV noise scale
assert all(abs(s - e) < scale for s, e in zip(sampled_tv, exact_tv))
assert all(e <= 1.5 * lam2 ** k for k, e in enumerate(exact_tv, 1))     # falls at the |λ₂|^t rate
assert all(s > 0.5 * floor for s in sampled_tv[3:]) and exact_tv[-1] < 0.1 * floor   # levels off at the floor
# Gibbs stuck (at most a Poisson handful of the 400 chains crossed); PT within 3 binomial SE of the exact mass.
assert gibbs_mass * m <= 3 and abs(pt_mass - exact_mass) < 3 * se
assert rhat_gibbs < 1.01 and rhat_pt > 1.01 and ess_gibbs > ess_pt
assert abs(float(pt_on[30:].mean()) - exact_mass) < 3 * se                   # "within a few tens of steps"
print(f"all {len(stated)} stated numbers and the claims hold")'''),
    ],
    "03_rbm_conditionals_by_enumeration.ipynb": [
        ("md", r'''# 3 · P(v|h), derived step by step and checked by enumeration

The notes derive the RBM's visible conditional from its joint distribution,

$$P(v,h) = \frac1Z e^{-E(v,h)}, \qquad E(v,h) = -b^\top v - c^\top h - v^\top W h,$$

down to one line: $P(v|h) = \prod_i \sigma\big((2v-1)\odot(b + Wh)\big)_i$. This notebook replays the
derivation on a random RBM small enough to enumerate (4 visible, 3 hidden: 16 × 8 = 128 joint states,
float64) and checks **each step** against the brute-force ratio $P(v,h)/P(h)$ over every pair $(v, h)$.'''),
        ("code", r'''%matplotlib inline
import jax, jax.numpy as jnp, numpy as np
import matplotlib.pyplot as plt
from rbm_jax import RBMParams, exact, rbm

jax.config.update("jax_enable_x64", True)  # a reference check in float64 (the library never sets this)
kw, kb, kc = jax.random.split(jax.random.key(0), 3)
n_visible, n_hidden = 4, 3
params = RBMParams(jax.random.normal(kw, (n_visible, n_hidden)), jax.random.normal(kb, (n_visible,)),
                   jax.random.normal(kc, (n_hidden,)))
W, b, c = params
V = exact.configurations(n_visible, jnp.float64)   # [16, 4]
H = exact.configurations(n_hidden, jnp.float64)    # [8, 3]
errors = {}                                         # step -> max |difference| over every (v, h)
print(f"{V.shape[0]} visible states × {H.shape[0]} hidden states; W =\n{np.round(np.asarray(W), 3)}")'''),
        ("md", r'''## The starting point: the joint and its normaliser

$Z$ summed over all 128 joint states agrees with `exact.log_partition` (which sums only the smaller
layer and integrates out the other) to round-off, and the ratio $P(v,h)/P(h)$ — the definition of the
conditional — is our reference.'''),
        ("code", r'''neg_E = V @ b[:, None] + (H @ c)[None, :] + V @ W @ H.T        # -E(v, h) = bᵀv + cᵀh + vᵀWh, [16, 8]
log_Z = jax.nn.logsumexp(neg_E)                                  # all 128 joint states
joint = jnp.exp(neg_E - log_Z)                                   # P(v, h)
errors["log Z: all joint states vs exact.log_partition"] = float(abs(log_Z - exact.log_partition(params)))
brute = joint / joint.sum(axis=0, keepdims=True)                  # P(v|h) = P(v, h) / P(h), column h
print(f"log Z = {float(log_Z):.6f};  P(h) = column sums;  every column of P(v|h) sums to 1: "
      f"{float(jnp.max(jnp.abs(brute.sum(0) - 1))):.1e}")'''),
        ("md", r'''## The notes' steps

1. *"We observe $h$, so terms dependent on $h$ are constants"*: $e^{c^\top h}/Z$ does not depend on $v$;
   drop it and renormalise over $v$ with a new constant $Z'(h)$.
2. The exponent $b^\top v + v^\top W h = \sum_i v_i a_i$ with $a_i = b_i + (Wh)_i$ is a sum over units,
   so its exponential is a product $\prod_i e^{v_i a_i}$. (The notes write this line as
   $\prod_i \exp(v_i)\exp(b_i + w_h)$; the factor meant is $\exp(v_i (b_i + (Wh)_i))$.)
3. The normaliser factorises too: $Z'(h) = \sum_v \prod_i e^{v_i a_i} = \prod_i (1 + e^{a_i})$.
4. *"Normalise"* one unit: $P(v_i = 1|h) = \frac{e^{a_i}}{e^0 + e^{a_i}} = \sigma(a_i)$.
5. Since $1 - \sigma(a) = \sigma(-a)$, both values of $v_i$ read $\sigma((2v_i - 1)\,a_i)$: the notes'
   formula (their $\oplus$ is the elementwise product $\odot$).
6. The library's `rbm.log_prob_v_given_h` computes the same thing in log space.'''),
        ("code", r'''# Step 1: the h-only factor exp(cᵀh) / Z is a constant given h: drop it, renormalise over v.
tilde = jnp.exp(V @ b[:, None] + V @ W @ H.T)                    # exp(bᵀv + vᵀWh), [16, 8]
step1 = tilde / tilde.sum(axis=0, keepdims=True)                 # = exp(bᵀv + vᵀWh) / Z'(h)
errors["1. drop exp(cᵀh)/Z, renormalise"] = float(jnp.max(jnp.abs(step1 - brute)))
# Step 2: the exponent is a sum over units, so the exponential is a product of per-unit factors.
a = b[:, None] + W @ H.T                                         # a_i(h) = b_i + (Wh)_i, [4, 8]
prod = jnp.prod(jnp.exp(V[:, :, None] * a[None]), axis=1)        # Π_i exp(v_i a_i)
errors["2. exp(Σ_i v_i a_i) = Π_i exp(v_i a_i)"] = float(jnp.max(jnp.abs(prod - tilde)))
# Step 3: Z'(h) factorises too: Σ_v Π_i exp(v_i a_i) = Π_i (1 + exp(a_i)).
errors["3. Z'(h) = Π_i (1 + e^{a_i})"] = float(jnp.max(jnp.abs(jnp.prod(1 + jnp.exp(a), 0) - tilde.sum(0))))
# Step 4: one unit normalised: P(v_i = 1|h) = e^{a_i} / (e^0 + e^{a_i}) = σ(a_i).
marginal_on = V.T @ brute                                        # Σ_v v_i P(v|h), [4, 8]
errors["4. P(v_i=1|h) = σ(b_i + (Wh)_i)"] = float(jnp.max(jnp.abs(jax.nn.sigmoid(a) - marginal_on)))
# Step 5: 1 − σ(a) = σ(−a), so both values of v_i read σ((2v_i − 1) a_i): the notes' formula.
notes = jnp.prod(jax.nn.sigmoid((2 * V[:, :, None] - 1) * a[None]), axis=1)
errors["5. P(v|h) = Π_i σ((2v−1) ⊙ (b + Wh))_i"] = float(jnp.max(jnp.abs(notes - brute)))
library = jnp.exp(rbm.log_prob_v_given_h(params, V[:, None], H[None]))
errors["6. rbm.log_prob_v_given_h (the library)"] = float(jnp.max(jnp.abs(library - brute)))
for name, e in errors.items():
    print(f"{name:<45} max error {e:.1e}")'''),
        ("md", r'''Every step matches the brute-force table to within **1e-12** over all 128 pairs — round-off. Steps
2 and 3 compare unnormalised exponentials (the largest is about $e^{6.5} \approx 640$), so their absolute
error is the largest; the probabilities themselves agree to a few $10^{-16}$.'''),
        ("code", r'''fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
im = axes[0].imshow(np.asarray(notes), aspect="auto", cmap="magma")
axes[0].set_xlabel("h (enumeration order)"); axes[0].set_ylabel("v (enumeration order)")
axes[0].set_title("P(v|h) by the notes' formula", fontsize=10); fig.colorbar(im, ax=axes[0])
names = list(errors)
axes[1].barh(range(len(names)), [max(e, 1e-18) for e in errors.values()], color="C0")
axes[1].axvline(np.finfo(np.float64).eps, color="k", ls="--", lw=0.8, label="float64 ε")
axes[1].set_xscale("log"); axes[1].set_yticks(range(len(names)), [s.split(" ", 1)[0] + " " + s.split(" ", 1)[1][:28] for s in names], fontsize=7)
axes[1].invert_yaxis(); axes[1].set_xlabel("max |step − brute force| over all (v, h)"); axes[1].legend(fontsize=8)
fig.tight_layout(); plt.show()'''),
        ("md", r'''By the symmetry of the energy in $v$ and $h$ the same derivation gives
$P(h|v) = \prod_j \sigma\big((2h-1)\odot(c + W^\top v)\big)_j$, checked the same way:'''),
        ("code", r'''# The same derivation with the roles swapped: P(h|v) = Π_j σ((2h−1) ⊙ (c + Wᵀv))_j.
brute_h = joint / joint.sum(axis=1, keepdims=True)               # P(h|v) = P(v, h) / P(v), row v
notes_h = jnp.prod(jax.nn.sigmoid((2 * H[None] - 1) * (c + V @ W)[:, None]), axis=2)
errors_h = float(jnp.max(jnp.abs(notes_h - brute_h)))
print(f"P(h|v): max error {errors_h:.1e}")'''),
        ("md", r'''It also agrees with the brute-force $P(v,h)/P(v)$ to within **1e-12**. Both conditionals factorise
over units, which is what makes block Gibbs sampling (notebook 2) a two-step sweep.'''),
        ("code", r'''# Facts: every number the text above states, asserted against what the cells computed.
# The text states one bound, 1e-12, for every step; float64 round-off is ~1e-16 per operation.
for name, e in errors.items():
    assert e < 1e-12, (name, e)
assert errors_h < 1e-12
# "the probabilities themselves agree to a few 1e-16"; steps 2 and 3 carry the largest absolute error:
assert max(errors[k] for k in errors if k[0] in "1456") < 1e-15
assert max(errors[k] for k in errors if k[0] in "23") == max(errors.values())
assert abs(float(tilde.max()) - 640) < 5   # the largest unnormalised exponential, about e^6.5 ≈ 640
print(f"all {len(errors) + 1} steps within 1e-12")'''),
    ],
    "04_backprop_by_hand.ipynb": [
        ("md", r'''# 4 · Backprop by hand, factor by factor, beside `jax.grad`

The notes' network: $h^{(1)} = W^{(1)}x + b^{(1)}$, $a^{(1)} = \mathrm{ReLU}(h^{(1)})$,
$h^{(2)} = W^{(2)\top}a^{(1)} + b^{(2)}$, $y = \sigma(h^{(2)})$, $J = \frac12(t-y)^2$, with
$W^{(1)} = \begin{bmatrix}0.75 & 0.5\\ -1 & 1\end{bmatrix}$, $b^{(1)} = 0$, $W^{(2)} = [1, 1]^\top$,
$b^{(2)} = -1$, $x = [1, 0.5]$ and $t = 1$ (`mlp.seed_example()`), in float64.'''),
        ("code", r'''%matplotlib inline
import jax, jax.numpy as jnp, numpy as np
import matplotlib.pyplot as plt
from rbm_jax import gradcheck, mlp

jax.config.update("jax_enable_x64", True)   # exact comparisons in float64 (the library never sets this)
params, x, t = mlp.seed_example()            # the notes' W1, b1, W2, b2, x = [1, 0.5], t = 1
fwd = mlp.forward(params, x)
for name in ("h1", "a1", "h2", "y"):
    print(f"{name:>3} = {np.asarray(getattr(fwd, name)).tolist()}")
print(f"  J = {float(mlp.loss(params, x, t))}")'''),
        ("md", r'''The forward pass reproduces the notes: $h^{(1)} = [1, -0.5]$, $a^{(1)} = [1, 0]$ (ReLU clips the
second unit), $h^{(2)} = 0$, $y = \sigma(0) =$ **0.5**, and $J =$ **0.125**.

## The six chain-rule factors

$$\frac{\partial J}{\partial W^{(1)}} = \underbrace{\frac{\partial J}{\partial y}}_{(1)}
\underbrace{\frac{\partial y}{\partial a^{(2)}}}_{(2)} \underbrace{\frac{\partial a^{(2)}}{\partial h^{(2)}}}_{(3)}
\underbrace{\frac{\partial h^{(2)}}{\partial a^{(1)}}}_{(4)} \underbrace{\frac{\partial a^{(1)}}{\partial h^{(1)}}}_{(5)}
\underbrace{\frac{\partial h^{(1)}}{\partial W^{(1)}}}_{(6)}$$

Each factor is the Jacobian of one stage, so each can be checked against `jax.jacobian` of that stage
alone (factor (5), ReLU′, is the subject of the next section).'''),
        ("code", r'''factors = mlp.chain_factors(params, x, t)   # the six factors, each the Jacobian of its own stage
W1, b1, W2, b2 = params
stages = {   # each stage as a function of its input, to compare with jax.jacobian
    "dJ_dy": (lambda y: 0.5 * (t - y) ** 2, fwd.y),
    "dy_da2": (lambda a2: a2, fwd.y),
    "da2_dh2": (jax.nn.sigmoid, fwd.h2),
    "dh2_da1": (lambda a1: W2.T @ a1 + b2, fwd.a1),
    "dh1_dW1": (lambda w: w @ x + b1, W1),
}
factor_errors = {}
for name, value in factors._asdict().items():
    line = f"({list(factors._fields).index(name) + 1}) {name:>8} = {np.round(np.asarray(value), 4).tolist()}"
    if name in stages:
        fn, at = stages[name]
        factor_errors[name] = float(jnp.max(jnp.abs(jax.jacobian(fn)(at) - value)))
        line += f"   vs jax.jacobian: {factor_errors[name]:.0e}"
    print(line)'''),
        ("md", r'''The notes' values: (1) $-(t-y) =$ **-0.5**; (2) $1$; (3) $\sigma(h^{(2)})(1-\sigma(h^{(2)})) =$ **0.25**;
(4) $W^{(2)\top} = [1, 1]$; (5) $\mathrm{diag}(1, 0)$; (6) the 2 × (2 × 2) tensor $\delta_{ij}x_k$. Each
checked factor equals `jax.jacobian` of its stage exactly (error **0**).

## The product, beside `jax.grad`'''),
        ("code", r'''dW1 = mlp.manual_grads(params, x, t).W1
auto = jax.grad(mlp.loss)(params, x, t)
notes_dW1 = jnp.array([[-1 / 8, -1 / 16], [0, 0]])
print("by hand, chain of factors :", np.asarray(mlp.chain_rule_dJ_dW1(factors)).tolist())
print("by hand, manual_grads     :", np.asarray(dW1).tolist())
print("jax.grad                  :", np.asarray(auto.W1).tolist())
print("the notes                 :", np.asarray(notes_dW1).tolist())
manual_vs_notes = float(jnp.max(jnp.abs(dW1 - notes_dW1)))
manual_vs_grad = max(float(jnp.max(jnp.abs(m - a))) for m, a in zip(mlp.manual_grads(params, x, t), auto))
print(f"max |manual − notes| = {manual_vs_notes};  max |manual − jax.grad| over W1, b1, W2, b2 = {manual_vs_grad}")
leaves = [(n, np.ravel(m), np.ravel(a)) for n, m, a in zip(params._fields, mlp.manual_grads(params, x, t), auto)]
labels = [f"{n}[{i}]" for n, m, _ in leaves for i in range(m.size)]
fig, ax = plt.subplots(figsize=(6.5, 3))
pos = np.arange(len(labels))
ax.bar(pos - 0.2, np.concatenate([m for _, m, _ in leaves]), 0.4, label="by hand")
ax.bar(pos + 0.2, np.concatenate([a for _, _, a in leaves]), 0.4, label="jax.grad")
ax.set_xticks(pos, labels, fontsize=8); ax.axhline(0, color="k", lw=0.5); ax.set_ylabel("∂J/∂θ")
ax.legend(fontsize=8); ax.set_title("every gradient entry of the notes' network", fontsize=10)
fig.tight_layout(); plt.show()'''),
        ("md", r'''Contracting the six factors gives the notes' result
$\partial J/\partial W^{(1)} = [[-1/8, -1/16], [0, 0]]$, and the hand-written `mlp.manual_grads` equals
`jax.grad` on all four parameters **exactly** — a maximum difference of **0**, not merely round-off — because
both perform the same float64 operations on these simple numbers.

## ReLU′(0): a tie the notes and JAX break differently

The notes write $\partial a/\partial h = 1$ for $h \ge 0$; `jax.nn.relu` differentiates to 0 at 0. The two
only differ where a pre-activation is exactly 0. With $x = [1, 1]$ the second hidden unit sits exactly
on the kink, $h^{(1)}_2 = -1 + 1 = 0$:'''),
        ("code", r'''x_tie = jnp.array([1.0, 1.0])                # h1 = W1 x = [1.25, 0]: the second unit sits exactly at ReLU's kink
print("h1 at the tie:", np.asarray(mlp.forward(params, x_tie).h1).tolist())
notes_tie = mlp.manual_grads(params, x_tie, t)                          # ReLU′(0) = 1 (the notes: h ≥ 0)
jax_tie = mlp.manual_grads(params, x_tie, t, relu_grad_at_zero=0.0)     # ReLU′(0) = 0 (jax.nn.relu)
auto_tie = jax.grad(mlp.loss)(params, x_tie, t)
print("dJ/dW1, ReLU′(0) = 1:", np.asarray(notes_tie.W1).tolist())
print("dJ/dW1, ReLU′(0) = 0:", np.asarray(jax_tie.W1).tolist())
print("dJ/dW1, jax.grad    :", np.asarray(auto_tie.W1).tolist())
tie_gap_notes = float(jnp.max(jnp.abs(notes_tie.W1 - auto_tie.W1)))
tie_gap_zero = float(jnp.max(jnp.abs(jax_tie.W1 - auto_tie.W1)))
print(f"max |difference| from jax.grad: ReLU′(0) = 1: {tie_gap_notes:.4f};  ReLU′(0) = 0: {tie_gap_zero}")'''),
        ("md", r'''With the notes' convention the second row of $\partial J/\partial W^{(1)}$ is
$[-0.1078, -0.1078]$; with JAX's it is $[0, 0]$, a difference of **0.1078**. Both are valid subgradients (any
ReLU′(0) in [0, 1] is); `relu_grad_at_zero=0.0` reproduces `jax.grad` exactly (difference **0**). A
gradient check that compares against autodiff must therefore keep inputs away from kinks — or agree on the
tie first.

## `gradcheck` catching a planted mistake

`gradcheck.compare_grads` tabulates a hand-written gradient against `jax.grad` (and central finite
differences), leaf by leaf, and names the worst entry. A classic slip — leaving out factor (3), the
sigmoid's derivative — multiplies every gradient by $1/\sigma'(0) = 4$:'''),
        ("code", r'''report = gradcheck.compare_grads(mlp.manual_grads, mlp.loss, params, x, t, fd=True)
print(report)

def forgot_sigmoid_prime(p, x, t):   # a planted mistake: factor (3), σ′(h2) = 1/4 here, left out
    return jax.tree.map(lambda g: g / 0.25, mlp.manual_grads(p, x, t))

bad = gradcheck.compare_grads(forgot_sigmoid_prime, mlp.loss, params, x, t)
print(bad)
ratio = float(forgot_sigmoid_prime(params, x, t).W1[0, 0] / auto.W1[0, 0])
print(f"ok: {report.ok} for the hand-written gradient, {bad.ok} for the planted mistake (off by ×{ratio:g})")'''),
        ("md", r'''The correct gradient passes every row (against `jax.grad` to 0 and finite differences to ~1e-11); the
planted mistake fails all **4** of 4 leaves, off by a factor of **4** everywhere, and the report points at
entry [0, 0] of $W^{(1)}$ first.'''),
        ("code", r'''# Facts: every number the text above states, asserted against what the cells computed.
assert float(fwd.y[0]) == 0.5 and float(mlp.loss(params, x, t)) == 0.125
assert np.asarray(fwd.h1).tolist() == [1.0, -0.5] and np.asarray(fwd.a1).tolist() == [1.0, 0.0] and float(fwd.h2[0]) == 0
assert float(factors.dJ_dy.squeeze()) == -0.5 and float(factors.da2_dh2.squeeze()) == 0.25
assert np.asarray(factors.da1_dh1).tolist() == [[1.0, 0.0], [0.0, 0.0]]
assert all(e == 0 for e in factor_errors.values()), factor_errors      # "error 0"
assert manual_vs_notes == 0 and manual_vs_grad == 0                     # "exactly", "a maximum difference of 0"
assert abs(tie_gap_notes - 0.1078) < 5e-5 and tie_gap_zero == 0
assert report.ok and not bad.ok and ratio == 4
assert len(bad.failed) == 4 and len(bad.rows) == 4
print("every stated number holds")'''),
    ],
    "05_training_and_likelihood.ipynb": [
        ("md", r'''# 5 · Training with the exact likelihood; AIS against exact; filters and samples

Training maximises the average log-likelihood $\frac1N\sum_n \log P(v_n)$; its gradient is a data term
minus a model expectation that CD, PCD and parallel tempering (PT) estimate by sampling. On a model small
enough to enumerate we can watch the **exact** likelihood while training, instead of a proxy. Data:
the 14 distinct 3 × 3 bars-and-stripes images; the best any model can do is give each 1/14, an average
log-likelihood of $-\ln 14 =$ **-2.639**. An RBM with 9 hidden units, trained from the same start with
the same SGD (rate 0.2, minibatches of 7) by CD-1 and by PT with 3 rungs (β = 1, 0.6, 0.3), float32.'''),
        ("code", r'''%matplotlib inline
import jax, jax.numpy as jnp, numpy as np, optax
import matplotlib.pyplot as plt
from rbm_jax import ais, data, exact, gibbs, rbm, train

X = data.bars_and_stripes(3)                       # the 14 distinct 3×3 bars-and-stripes images
optimum = data.bars_and_stripes_optimal_log_likelihood(3)   # −ln 14: every pattern at 1/14
p0 = rbm.init_params(jax.random.key(0), 9, 9, data=X, weight_scale=0.5)
trained, curves = {}, {}
for method in ("cd", "pt"):    # the same start, data order and SGD; only the negative phase differs
    trained[method], hist = train.fit(jax.random.key(1), p0, X, method=method, n_epochs=300, batch_size=7,
                                      optimizer=optax.sgd(0.2), metrics_every=20,
                                      betas=[1.0, 0.6, 0.3] if method == "pt" else None)
    ok = ~np.isnan(hist["log_likelihood"])
    curves[method] = (hist["epoch"][ok], hist["log_likelihood"][ok])
final = {m: float(exact.log_likelihood(p, X)) for m, p in trained.items()}   # exact, all 14 rows
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for method, (epochs, ll) in curves.items():
    ax.plot(epochs, ll, "o-", ms=3, label={"cd": "CD-1", "pt": "PT, 3 rungs"}[method])
ax.axhline(optimum, ls="--", color="k", lw=0.8, label="optimum −ln 14")
ax.set_xlabel("epoch (2 updates each)"); ax.set_ylabel("exact average log-likelihood"); ax.legend(fontsize=8)
fig.tight_layout(); plt.show()
print({m: round(v, 4) for m, v in final.items()}, f"optimum {optimum:.4f}")'''),
        ("md", r'''After 300 epochs, PT's model has an exact log-likelihood of **-4.245** and CD-1's **-4.367**, both still
far from the optimum of -2.639: this is a short, cheap run. The two curves climb together and cross
(CD-1 is ahead at some evaluations, PT at others), so the final gap of **0.12** nats per image is within
the curves' own wobble and says little about the methods. Early in training the model is nearly
uniform and one Gibbs sweep from the data already explores it; the estimators part ways later, when
the model grows modes that CD-1's short chains, started at the data, no longer visit. The demo report
(`make demo`) shows that on 4 × 4 images over 8,000 epochs and several seeds: there PT ends near the
optimum and CD-1 well below it.

## AIS against the exact log Z

For models too large to enumerate, the likelihood needs $\log Z$ estimated: annealed importance
sampling (AIS) moves from a tractable base model to the RBM through a ladder of intermediate
distributions. Here we can check it against the exact value.'''),
        ("code", r'''params = trained["pt"]
log_z = float(exact.log_partition(params))                # 2**9 hidden states enumerated
est = ais.log_partition(jax.random.key(2), params, n_runs=100, n_betas=500, data=X)
ais_z, ais_se = float(est.log_z), float(est.stderr)
print(f"AIS log Z = {ais_z:.4f} ± {ais_se:.4f} (100 runs, 500 temperatures); exact {log_z:.4f}; "
      f"error {ais_z - log_z:+.4f} = {(ais_z - log_z) / ais_se:+.2f} SE")
print(f"so the AIS log-likelihood {-float(jnp.mean(rbm.free_energy(params, X))) - ais_z:.4f} "
      f"against the exact {final['pt']:.4f}")'''),
        ("md", r'''AIS with 100 runs and 500 temperatures gives $\log Z =$ **16.371** ± **0.023** against the exact
**16.354**: an error of **0.76** of its standard error. The likelihood it implies, **-4.262**, is within
0.02 nats of the exact -4.245.

## What the model learned: filters and samples

Each hidden unit's weights, drawn on the 3 × 3 grid, is a filter; bars-and-stripes filters pick out
rows and columns.'''),
        ("code", r'''fig, axes = plt.subplots(1, 9, figsize=(9, 1.3))
lim = float(jnp.abs(params.W).max())
for j, ax in enumerate(axes):
    ax.imshow(np.asarray(params.W[:, j]).reshape(3, 3), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_axis_off()
fig.suptitle("filters: the 9 columns of W (PT-trained), red positive", fontsize=10); plt.show()'''),
        ("code", r'''n_chains, n_keep = 500, 10
v0 = jax.random.bernoulli(jax.random.key(3), 0.5, (n_chains, 9)).astype(params.W.dtype)
_, snaps = gibbs.sample_chains(jax.random.key(4), params, v0, 200, burn_in=100, thin=10, transform=gibbs.keep_v)
snaps = np.asarray(snaps)                                   # [10 kept, 500 chains, 9]
fig, axes = plt.subplots(4, n_keep, figsize=(9, 3.8))
for r in range(4):
    for k in range(n_keep):
        axes[r, k].imshow(snaps[k, r].reshape(3, 3), cmap="gray_r", vmin=0, vmax=1); axes[r, k].set_axis_off()
fig.suptitle("block Gibbs on the PT-trained model: 4 chains (rows), every 10 sweeps after 100", fontsize=10)
plt.show()
patterns = {tuple(row) for row in np.asarray(X).astype(int)}
in_data = np.mean([tuple(v) in patterns for v in snaps[-1].astype(int)])     # final states: 500 independent chains
exact_mass = float(jnp.sum(jnp.exp(exact.log_marginal_v(params, X))))         # Σ over the 14 patterns of P(v)
print(f"final states that are one of the 14 patterns: {in_data:.3f} of {n_chains} chains; "
      f"the model's exact mass on them {exact_mass:.3f} (binomial SE {np.sqrt(exact_mass * (1 - exact_mass) / n_chains):.3f})")'''),
        ("md", r'''After 100 burn-in sweeps, **0.248** of 500 independent Gibbs chains sit on one of the 14 training
patterns. The model's exact probability mass on those patterns is **0.265**, within one binomial standard
error (**0.020**) of the chains' fraction: the chains sample the model faithfully, and the model itself
still spreads three quarters of its mass off the data — the same shortfall the likelihood curve
measured.'''),
        ("code", r'''# Facts: every number the text above states, asserted against what the cells computed.
stated = {  # name: (computed, as stated in the text, tolerance)
    "optimum": (optimum, -2.639, 5e-4), "PT final LL": (final["pt"], -4.245, 5e-4),
    "CD final LL": (final["cd"], -4.367, 5e-4), "PT - CD": (final["pt"] - final["cd"], 0.12, 5e-3),
    "AIS log Z": (ais_z, 16.371, 5e-4), "AIS SE": (ais_se, 0.023, 5e-4), "exact log Z": (log_z, 16.354, 5e-4),
    "AIS error in SE": ((ais_z - log_z) / ais_se, 0.76, 5e-3),
    "AIS log-likelihood": (-float(jnp.mean(rbm.free_energy(params, X))) - ais_z, -4.262, 5e-4),
    "chains on patterns": (float(in_data), 0.248, 5e-4), "exact mass on patterns": (exact_mass, 0.265, 5e-4),
    "binomial SE": (np.sqrt(exact_mass * (1 - exact_mass) / n_chains), 0.020, 5e-4),
}
for name, (value, text, tol) in stated.items():
    assert abs(value - text) <= tol, (name, value, text)
# The claims, with tolerances from the sample sizes (AIS: its 100 runs' SE; chains: 500 binomial draws).
assert max(final.values()) < optimum - 1                                    # both far from the optimum
cd_ll, pt_ll = curves["cd"][1], curves["pt"][1]                               # the same evaluation epochs
assert (cd_ll > pt_ll).any() and (pt_ll > cd_ll).any()                        # the curves cross
assert abs(final["pt"] - final["cd"]) < np.max(np.abs(np.diff(pt_ll)))       # the final gap is within the wobble
assert abs(ais_z - log_z) < 3 * ais_se and abs(ais_z - log_z) < 0.02
se_chains = np.sqrt(exact_mass * (1 - exact_mass) / n_chains)
assert abs(in_data - exact_mass) < se_chains                                 # "within one binomial SE"
assert 0.7 < 1 - exact_mass < 0.8                                            # "three quarters off the data"
print(f"all {len(stated)} stated numbers and the claims hold")'''),
    ],
}


def main(out_dir: pathlib.Path = NB_DIR) -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        nb.cells = [  # fixed cell ids, so that regenerating changes nothing that did not change
            nbformat.v4.new_markdown_cell(src, id=f"cell-{i:02d}") if kind == "md"
            else nbformat.v4.new_code_cell(src, id=f"cell-{i:02d}")
            for i, (kind, src) in enumerate(cells)
        ]
        nbformat.write(nb, out_dir / name)
        print("wrote", out_dir / name)


if __name__ == "__main__":
    main()
