"""Walk through the lecture notes on a random RBM, checking every step by enumeration.

Prints, for a small random RBM in float64:
  1. log Z by the library (smaller layer enumerated, larger summed out) beside
     the full joint enumeration over 2**(n_v + n_h) states;
  2. P(v|h) by the notes' formula Π σ((2v−1) ⊙ (b + Wh)) beside the brute-force
     ratio P(v, h) / P(h), for every v at one h;
  3. the notes' single-unit normalisation P(v_i = 1 | h) = σ(b_i + (Wh)_i);
  4. the transition operator T(v'|v) of one Gibbs sweep: row sums, stationarity
     of P(v), detailed balance, its second eigenvalue and the distance to P(v)
     after t sweeps from v = 0.

Command (what `make demo` runs):
    python experiments/notes_walkthrough.py [--seed 0] [--out DIR] [--quick]
Expected: every "error" column at float64 round-off (below 1e-12), |λ₂| < 1,
and the distance to P(v) shrinking at least as fast as |λ₂|^t.
Writes summary.json into the run folder (default runs/notes_walkthrough/<time>/).
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

import common
from rbm_jax import exact, rbm
from rbm_jax.rbm import RBMParams


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_visible: int = 4
    n_hidden: int = 3
    scale: float = 1.0  # std of the random weights and biases
    sweeps: tuple = (1, 2, 5, 10, 20)

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, n_visible=3, n_hidden=2, sweeps=(1, 2, 5))


def random_rbm(key, n_visible: int, n_hidden: int, scale: float) -> RBMParams:
    kw, kb, kc = jax.random.split(key, 3)
    return RBMParams(
        scale * jax.random.normal(kw, (n_visible, n_hidden), jnp.float64),
        scale * jax.random.normal(kb, (n_visible,), jnp.float64),
        scale * jax.random.normal(kc, (n_hidden,), jnp.float64),
    )


def run(cfg: Config) -> dict:
    """Runs the walkthrough, printing as it goes; returns the summary dict."""
    key_model, key_h = jax.random.split(jax.random.key(cfg.seed))
    params = random_rbm(key_model, cfg.n_visible, cfg.n_hidden, cfg.scale)
    W, b, c = (np.asarray(x) for x in params)
    V = np.array(list(itertools.product([0, 1], repeat=cfg.n_visible)), np.float64)
    H = np.array(list(itertools.product([0, 1], repeat=cfg.n_hidden)), np.float64)
    summary: dict = {"config": dataclasses.asdict(cfg)}

    print(f"A random RBM: n_visible={cfg.n_visible}, n_hidden={cfg.n_hidden}, "
          f"weights and biases ~ N(0, {cfg.scale}²), seed {cfg.seed}, float64.\n")

    # 1. The joint and its normaliser.
    neg_e = (V @ b)[:, None] + (H @ c)[None, :] + V @ W @ H.T  # -E(v, h), the notes' energy
    log_z_full = float(np.logaddexp.reduce(neg_e.ravel()))
    log_z = float(exact.log_partition(params))
    print("1. P(v, h) = exp(-E(v, h)) / Z with E = -bᵀv - cᵀh - vᵀWh")
    for label, value in [
        ("log Z, smaller layer enumerated", f"{log_z:.15f}"),
        (f"log Z, all {V.shape[0] * H.shape[0]} joint states", f"{log_z_full:.15f}"),
        ("error", f"{abs(log_z - log_z_full):.2e}"),
    ]:
        print(f"   {label:<34}: {value}")
    print()
    summary["log_z"] = log_z
    summary["log_z_error"] = abs(log_z - log_z_full)

    # 2. P(v|h) = P(v, h) / P(h) against the notes' product formula.
    joint = np.exp(neg_e - log_z_full)
    h_index = int(jax.random.randint(key_h, (), 0, H.shape[0]))
    h = H[h_index]
    brute = joint[:, h_index] / joint[:, h_index].sum()
    notes = np.exp(np.asarray(rbm.log_prob_v_given_h(params, V, h)))
    rows = [("".join(str(int(x)) for x in v), float(n), float(r), float(abs(n - r)))
            for v, n, r in zip(V, notes, brute)]
    print(f"2. P(v | h) at h = {''.join(str(int(x)) for x in h)}: "
          "the notes' Π σ((2v−1) ⊙ (b + Wh)) beside P(v, h) / P(h)")
    print(textwrap.indent(common.table(rows, ["v", "notes' formula", "P(v,h)/P(h)", "error"]), "   "))
    summary["p_v_given_h_max_error"] = float(np.max(np.abs(notes - brute)))
    print(f"   max error {summary['p_v_given_h_max_error']:.2e}; the column sums to "
          f"{notes.sum():.15f}\n")

    # 3. The notes' normalisation of one unit.
    p_on = np.asarray(rbm.prob_v_given_h(params, h))
    marginal_on = brute @ V  # P(v_i = 1 | h) from the brute-force table
    print("3. P(v_i = 1 | h) = P̃(1) / (P̃(0) + P̃(1)) = σ(b_i + (Wh)_i)")
    unit_rows = [(i, float(s), float(m), float(abs(s - m)))
                 for i, (s, m) in enumerate(zip(p_on, marginal_on))]
    print(textwrap.indent(common.table(
        unit_rows, ["unit i", "σ(b_i + (Wh)_i)", "Σ_v v_i P(v|h)", "error"]), "   "))
    summary["unit_conditional_max_error"] = float(np.max(np.abs(p_on - marginal_on)))
    print()

    # 4. The transition operator T(v'|v) of one Gibbs sweep.
    T = np.asarray(exact.gibbs_transition_matrix(params))
    p = np.asarray(exact.marginal_v_table(params))
    flow = p[:, None] * T
    d = np.sqrt(p)
    sym = d[:, None] * T / d[None, :]
    lam = np.linalg.eigvalsh(0.5 * (sym + sym.T))
    lam2 = float(np.sort(np.abs(lam))[-2])
    errors = {
        "row_sum_error": float(np.max(np.abs(T.sum(1) - 1))),
        "stationarity_error": float(np.max(np.abs(p @ T - p))),
        "detailed_balance_error": float(np.max(np.abs(flow - flow.T))),
    }
    print("4. The Gibbs transition operator T(v'|v) = Σ_h P(h|v) P(v'|h)")
    print(f"   rows sum to 1, max error           : {errors['row_sum_error']:.2e}")
    print(f"   P(v) T = P(v), max error           : {errors['stationarity_error']:.2e}")
    print(f"   P(v)T(v,v') = P(v')T(v',v), error  : {errors['detailed_balance_error']:.2e}")
    print(f"   second eigenvalue |λ₂|             : {lam2:.6f}  (< 1: the chain converges)")
    start = np.zeros_like(p)
    start[0] = 1.0
    tv_rows = []
    for t in cfg.sweeps:
        dist = start @ np.linalg.matrix_power(T, t)
        tv_rows.append((t, float(0.5 * np.abs(dist - p).sum()), lam2**t))
    print(textwrap.indent(common.table(tv_rows, ["sweeps t", "TV(δ₀Tᵗ, P)", "|λ₂|ᵗ"]), "   "))
    summary.update(errors)
    summary["lambda2"] = lam2
    summary["tv_by_sweeps"] = {str(t): tv for t, tv, _ in tv_rows}
    return summary


def verdict(summary: dict) -> tuple:
    worst = max(summary["log_z_error"], summary["p_v_given_h_max_error"],
                summary["unit_conditional_max_error"], summary["row_sum_error"],
                summary["stationarity_error"], summary["detailed_balance_error"])
    passed = worst < 1e-9 and summary["lambda2"] < 1
    return passed, f"\n{'every check at round-off' if passed else 'SOME CHECKS FAILED'} (worst error {worst:.1e})"


def main(argv=None) -> int:
    # An experiment (not the library) may choose float64: the walkthrough is a reference check.
    return common.experiment_main(argv, name="notes_walkthrough", doc=__doc__, config_cls=Config,
                                  run=lambda cfg, out, args: run(cfg), x64=True, verdict=verdict)

if __name__ == "__main__":
    sys.exit(main())
