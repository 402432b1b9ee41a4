"""Gibbs chains converging to the exact P(v) of a tiny RBM, against the exact theory.

Runs many independent block-Gibbs chains from v = 0 and, after each sweep t,
measures the total-variation distance between their histogram and the exact
P(v). Plots it beside
  * the exact curve TV(δ₀ Tᵗ, P) from ``exact.gibbs_transition_matrix``,
  * the spectral-gap rate C·|λ₂|ᵗ (C fitted at the last sweep of the exact curve
    that is still above the noise floor), and
  * the noise floor: the expected TV of an n-chain histogram drawn from P itself.
A second panel compares parallel tempering with plain Gibbs on a bimodal RBM
(12 visible units, modes all-off and all-on, barrier ≈ w·n/4 nats): the mass
found in the all-on half against sweeps, at equal cost (PT counts each rung's sweep).

Command:
    python experiments/gibbs_convergence.py [--seed 0] [--out DIR] [--quick] [--devices N]
With --devices N the chains and PT systems are sharded over N devices (a CPU-only
machine simulates N); the samples, and so every figure, are bit-identical to one device.
Expected: the sampled curve follows the exact one down to the noise floor;
both decay at the rate |λ₂|ᵗ; PT reaches the exact mode mass (≈ 0.5) while
Gibbs, started in the all-off mode, stays near 0.
Writes convergence.png and summary.json into the run folder.
"""

from __future__ import annotations

import dataclasses
import sys

import common

common.simulate_cpu_devices()  # before JAX is imported: --devices N on a CPU-only machine

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from rbm_jax import exact, gibbs  # noqa: E402
from rbm_jax.rbm import RBMParams  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_visible: int = 6
    n_hidden: int = 4
    scale: float = 2.0  # std of the random weights and biases: larger mixes slower
    n_chains: int = 20_000
    n_sweeps: int = 40
    bimodal_weight: float = 6.0
    bimodal_chains: int = 2_000
    bimodal_sweeps: int = 400  # plain-Gibbs sweeps; PT gets n_sweeps / n_temps steps
    n_temps: int = 8
    beta_min: float = 0.05

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, n_chains=4_000, n_sweeps=12, bimodal_chains=500, bimodal_sweeps=320)


def keep_index(params, state):
    """Index of v in the enumeration order: one int per chain per kept sweep."""
    del params
    n = state.v.shape[-1]
    return jnp.sum(state.v.astype(jnp.int32) * 2 ** jnp.arange(n - 1, -1, -1), axis=-1)


def keep_on_half(params, state):
    """1 if the β = 1 rung of a PT system is in the all-on half (more than half units on)."""
    del params
    v = state.v[0] if state.v.ndim == 2 else state.v
    return (jnp.sum(v) > v.shape[-1] / 2).astype(jnp.float32)


def keep_on_half_gibbs(params, state):
    del params
    return (jnp.sum(state.v) > state.v.shape[-1] / 2).astype(jnp.float32)


def random_rbm(key, cfg: Config) -> RBMParams:
    kw, kb, kc = jax.random.split(key, 3)
    return RBMParams(
        cfg.scale * jax.random.normal(kw, (cfg.n_visible, cfg.n_hidden), jnp.float64),
        cfg.scale * jax.random.normal(kb, (cfg.n_visible,), jnp.float64),
        cfg.scale * jax.random.normal(kc, (cfg.n_hidden,), jnp.float64),
    )


def bimodal_rbm(n_visible: int, w: float) -> RBMParams:
    """One hidden unit: F(v) has minima at v = 0 and v = 1 separated by ≈ w·n/4 nats."""
    return RBMParams(jnp.full((n_visible, 1), w), jnp.full((n_visible,), -w / 2),
                     jnp.array([-w * n_visible / 2]))


def histogram_tv(indices: np.ndarray, p: np.ndarray) -> float:
    q = np.bincount(indices, minlength=p.shape[0]) / indices.shape[0]
    return float(0.5 * np.abs(q - p).sum())


def run(cfg: Config, out, mesh=None) -> dict:
    key_model, key_chains, key_bimodal = jax.random.split(jax.random.key(cfg.seed), 3)
    params = random_rbm(key_model, cfg)
    p = np.asarray(exact.marginal_v_table(params))
    T = np.asarray(exact.gibbs_transition_matrix(params))
    d = np.sqrt(p)
    sym = d[:, None] * T / d[None, :]
    lam2 = float(np.sort(np.abs(np.linalg.eigvalsh(0.5 * (sym + sym.T))))[-2])

    print(f"RBM {cfg.n_visible}×{cfg.n_hidden}, scale {cfg.scale}, seed {cfg.seed}: |λ₂| = {lam2:.4f}")
    _, trace = gibbs.sample_chains(key_chains, params, jnp.zeros((cfg.n_chains, cfg.n_visible)),
                                   cfg.n_sweeps, transform=keep_index, mesh=mesh)
    trace = np.asarray(trace)
    sweeps = np.arange(1, cfg.n_sweeps + 1)
    sampled = np.array([histogram_tv(trace[t - 1], p) for t in sweeps])
    dist = np.eye(p.shape[0])[0]
    exact_curve = []
    for _ in sweeps:
        dist = dist @ T
        exact_curve.append(0.5 * np.abs(dist - p).sum())
    exact_curve = np.array(exact_curve)
    floor = float(0.5 * np.sum(np.sqrt(2 * p * (1 - p) / (np.pi * cfg.n_chains))))
    above = np.nonzero(exact_curve > 3 * floor)[0]
    anchor = int(above[-1]) if above.size else 0
    rate = exact_curve[anchor] * lam2 ** (sweeps - sweeps[anchor])
    # Agreement: while the exact curve is well above the floor, the sampled TV is
    # within the 4-scale bound of the tests (TV(q, P) ≤ TV(q, δ₀Tᵗ) + TV(δ₀Tᵗ, P)).
    bound = np.array([4 * 0.5 * np.sum(np.sqrt(p * (1 - p) / cfg.n_chains))] * len(sweeps))
    agree = bool(np.all(np.abs(sampled - exact_curve) < bound))
    print(f"sampled TV within the sample-size bound of the exact curve at every sweep: {agree}")
    for t in (1, 2, 5, 10, 20, 40):
        if t <= cfg.n_sweeps:
            print(f"  t={t:>3}: sampled {sampled[t-1]:.4f}   exact {exact_curve[t-1]:.4f}   "
                  f"|λ₂|-rate {rate[t-1]:.4f}   floor {floor:.4f}")

    # Bimodal RBM: parallel tempering against plain Gibbs at equal cost.
    bim = bimodal_rbm(12, cfg.bimodal_weight)
    table = np.asarray(exact.marginal_v_table(bim))
    on = np.asarray(exact.configurations(12)).sum(1) > 6
    exact_on = float(table[on].sum())
    v0 = jnp.zeros((cfg.bimodal_chains, 12))
    k_g, k_pt = jax.random.split(key_bimodal)
    _, g_on = gibbs.sample_chains(k_g, bim, v0, cfg.bimodal_sweeps, transform=keep_on_half_gibbs, mesh=mesh)
    pt_steps = cfg.bimodal_sweeps // cfg.n_temps
    pt_final, pt_on = gibbs.sample_pt(k_pt, bim, v0, pt_steps, n_temps=cfg.n_temps,
                                      beta_min=cfg.beta_min, transform=keep_on_half, mesh=mesh)
    g_curve, pt_curve = np.asarray(g_on).mean(1), np.asarray(pt_on).mean(1)
    g_err, pt_err = abs(g_curve[-1] - exact_on), abs(pt_curve[-1] - exact_on)
    swap = np.asarray(gibbs.swap_acceptance(pt_final)).mean(0)
    print(f"\nbimodal RBM (12 visible, w={cfg.bimodal_weight}): exact mass of the all-on half {exact_on:.4f}")
    print(f"  after {cfg.bimodal_sweeps} sweeps of cost: Gibbs {g_curve[-1]:.4f} (error {g_err:.4f}), "
          f"PT {pt_curve[-1]:.4f} (error {pt_err:.4f}); error ratio {common.ratio(g_err / max(pt_err, 1e-12))}")
    print("  PT swap acceptance per pair: " + " ".join(f"{r:.2f}" for r in swap))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.semilogy(sweeps, sampled, "o", ms=4, label=f"{cfg.n_chains:,} Gibbs chains")
    ax.semilogy(sweeps, exact_curve, "-", label=r"exact TV($\delta_0 T^t$, P)")
    ax.semilogy(sweeps, rate, "--", label=rf"$C\,|\lambda_2|^t$, $|\lambda_2|$={lam2:.3f}")
    ax.axhline(floor, color="grey", lw=0.8, ls=":", label="sampling noise floor")
    ax.set_ylim(bottom=floor / 30)  # below the floor the exact curve alone carries on
    ax.set_xlabel("sweeps t")
    ax.set_ylabel("total variation to exact P(v)")
    ax.set_title(f"{cfg.n_visible}×{cfg.n_hidden} RBM from v = 0")
    ax.legend(fontsize=8)
    cost = np.arange(1, cfg.bimodal_sweeps + 1)
    bx.plot(cost, g_curve, label="block Gibbs")
    bx.plot(np.arange(1, pt_steps + 1) * cfg.n_temps, pt_curve, label=f"PT, {cfg.n_temps} rungs")
    bx.axhline(exact_on, color="k", lw=0.8, ls="--", label="exact")
    bx.set_xlabel("sweeps of cost (PT: steps × rungs)")
    bx.set_ylabel("fraction of chains in the all-on half")
    bx.set_title("bimodal RBM, started in the all-off mode")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "convergence.png", dpi=120)
    plt.close(fig)

    return {
        "config": dataclasses.asdict(cfg),
        "lambda2": lam2,
        "sampled_tv": sampled.tolist(),
        "exact_tv": exact_curve.tolist(),
        "noise_floor": floor,
        "sampled_within_bound_of_exact": agree,
        "bimodal": {
            "exact_on_mass": exact_on,
            "gibbs_on_mass": float(g_curve[-1]),
            "pt_on_mass": float(pt_curve[-1]),
            "gibbs_error": float(g_err),
            "pt_error": float(pt_err),
            "error_ratio_gibbs_over_pt": float(g_err / max(pt_err, 1e-12)),
            "swap_acceptance": swap.tolist(),
        },
    }


def check_devices(cfg: Config, args) -> Config:
    """--devices N: the mesh, and N must divide the chain counts (checked before the run folder is made)."""
    args.mesh = common.mesh_of(args.devices)
    if args.mesh is not None:
        from rbm_jax import sharding

        try:
            sharding.check_divisible(cfg.n_chains, args.mesh, "n_chains")
            sharding.check_divisible(cfg.bimodal_chains, args.mesh, "bimodal_chains (Gibbs chains and PT systems)")
        except ValueError as err:
            raise SystemExit(f"error: --devices: {err}") from None
    return cfg


def main(argv=None) -> int:
    return common.experiment_main(  # exact references in float64 (the experiment's choice)
        argv, name="gibbs_convergence", doc=__doc__, config_cls=Config, x64=True, outputs=("convergence.png",),
        add_arguments=common.add_devices_argument, configure=check_devices,
        run=lambda cfg, out, args: run(cfg, out, args.mesh),
        verdict=lambda s: (s["sampled_within_bound_of_exact"], ""))

if __name__ == "__main__":
    sys.exit(main())
