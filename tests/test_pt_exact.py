"""rbm_jax.gibbs.sample_pt: parallel tempering keeps Π_k P_{β_k}, unit by unit and swap by swap.

Started at exact samples of every rung, a correct PT system stays at the product of
the tempered laws P_β ∝ exp(−β E) (rung k: the RBM with params β_k (W, b, c)). Two
exact references are compared with PT output:

  * every unit's mean, v and h, on every rung, against ``exact.model_moments`` of
    the β-scaled params;
  * every pair's swap acceptance rate against E[min(1, exp((β_i − β_{i+1})(E_i − E_{i+1})))]
    under the product of the exact tempered joint laws, enumerated here with numpy.

Samples along a system are correlated, so each system's time average over its
N_STEPS steps is ONE draw: the systems are independent, and the standard error is the
spread of those averages / sqrt(N_SYSTEMS), whatever the autocorrelation. Every
comparison is a z-score, and a test fails when any |z| exceeds Z_MAX = 5: over the 39
z-scores (36 unit means, 3 pairs) a correct sampler crosses it with probability about
39 × 6e-7 ≈ 2e-5.

The design makes the check able to fail: a 5 × 4 RBM with strong weights and a 4-rung
ladder on which swaps matter (neighbouring rungs' exact unit means differ by up to
0.13–0.19, exact acceptance 0.58–0.68), 3,000 systems × 200 steps. Measured with the
ratio in the library deliberately scaled: exp(0.9 Δβ ΔE) gives max |z| = 20.1 (unit
means) and 31.9 (acceptance); exp(1.1 Δβ ΔE) 20.2 and 29.4; even a 5% error 9.4 and
15.2; the correct ratio 2.0 and 0.8. (The histogram checks of tests/test_gibbs.py catch a
factor 0.5 in the ratio, not 0.9.) Seeds are fixed.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import random_params
from rbm_jax import exact, gibbs
from rbm_jax.rbm import RBMParams

# (seed, n_visible, n_hidden, weight scale): strong enough weights that the rungs'
# laws differ considerably, small enough (2**9 joint states) to enumerate (v, h).
MODEL = (204, 5, 4, 3.0)
BETAS = (1.0, 0.6, 0.35, 0.2)
N_SYSTEMS = 3_000
N_STEPS = 200
Z_MAX = 5.0


def scaled(params, beta):
    return RBMParams(beta * params.W, beta * params.b, beta * params.c)


def keep_units(params, state):
    """Keeps v and h of every rung as int8 [n_temps, n_visible + n_hidden]: 8× less memory than float64."""
    del params
    return jnp.concatenate([state.v, state.h], axis=-1).astype(jnp.int8)


def joint_energies(params):
    """All joint configurations x = (v, h) [2**(n_v + n_h), n_v + n_h] and their energies E(v, h)."""
    W, b, c = (np.asarray(a, np.float64) for a in params)
    n_visible, n_hidden = W.shape
    x = np.array(list(itertools.product([0.0, 1.0], repeat=n_visible + n_hidden)))
    v, h = x[:, :n_visible], x[:, n_visible:]
    return x, -v @ b - h @ c - np.sum((v @ W) * h, axis=1)


def tempered_law(energies, beta):
    """P_β(v, h) ∝ exp(−β E(v, h)) over the enumerated joint configurations."""
    log_p = -beta * energies
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


def exact_swap_acceptance(energies, betas):
    """E[min(1, exp((β_i − β_{i+1})(E_i − E_{i+1})))] for each pair, with rung i ~ P_{β_i} independently."""
    rates = []
    for b_hot, b_cold in zip(betas[1:], betas[:-1]):
        log_ratio = (b_cold - b_hot) * (energies[:, None] - energies[None, :])
        accept = np.exp(np.minimum(log_ratio, 0.0))  # min(1, ratio) without overflow
        rates.append(tempered_law(energies, b_cold) @ accept @ tempered_law(energies, b_hot))
    return np.array(rates)


def z_scores(per_system, reference):
    """(mean − reference) / (spread / sqrt(N)) over the systems' axis 0: one independent draw per system."""
    per_system = np.asarray(per_system, np.float64)
    se = per_system.std(axis=0, ddof=1) / np.sqrt(per_system.shape[0])
    return (per_system.mean(axis=0) - reference) / se


@pytest.fixture(scope="module")
def pt_run():
    """One float64 PT run from exact samples of every rung, with its exact references (numpy)."""
    with jax.enable_x64(True):
        params = random_params(MODEL[0], *MODEL[1:3], scale=MODEL[3])
        x, energies = joint_energies(params)
        n_visible = MODEL[1]
        # Rung k starts at exact draws of P_{β_k}(v), taken from the enumerated joint law
        # (no compilation, unlike exact.sample_exact); sample_pt then draws h ~ P_{β_k}(h | v),
        # so each system starts at the product of the tempered joint laws and, if PT is
        # right, stays there.
        rng = np.random.default_rng(20)
        v0 = np.stack([x[rng.choice(len(x), N_SYSTEMS, p=tempered_law(energies, b)), :n_visible]
                       for b in BETAS], axis=1)  # [N, n_temps, n_visible]
        final, trace = gibbs.sample_pt(jax.random.key(21), params, jnp.asarray(v0), N_STEPS,
                                       betas=jnp.asarray(BETAS, jnp.float64), transform=keep_units)
        moments = [exact.model_moments(scaled(params, b)) for b in BETAS]
        return {
            "params": params,
            "exact_means": np.stack([np.concatenate([m.v, m.h]) for m in moments]),  # [n_temps, n_v + n_h]
            "time_averages": np.asarray(trace, np.float64).mean(axis=0),  # [N, n_temps, n_v + n_h]
            "acceptance": np.asarray(gibbs.swap_acceptance(final)),  # [N, n_temps - 1]
            "attempted": np.asarray(final.attempted),
            "trace_shape": trace.shape,
        }


def test_the_ladder_makes_swaps_matter(pt_run):
    """Preconditions of the design: the references agree, the rungs differ, swaps are neither rare nor free."""
    x, energies = joint_energies(pt_run["params"])
    enumerated = np.stack([tempered_law(energies, b) @ x for b in BETAS])
    # The numpy enumeration (used for the acceptance reference) and exact.model_moments agree.
    np.testing.assert_allclose(enumerated, pt_run["exact_means"], atol=1e-12)
    # Neighbouring rungs' laws differ considerably, so a wrong swap moves mass that shows...
    assert np.all(np.max(np.abs(np.diff(enumerated, axis=0)), axis=1) > 0.08)
    # ...and swaps are frequent but far from certain, so the ratio decides what happens.
    rates = exact_swap_acceptance(energies, BETAS)
    assert np.all((rates > 0.3) & (rates < 0.8)), rates
    assert pt_run["trace_shape"] == (N_STEPS, N_SYSTEMS, len(BETAS), sum(MODEL[1:3]))
    np.testing.assert_array_equal(pt_run["attempted"], N_STEPS)  # every pair, every step


def test_pt_unit_means_match_the_exact_tempered_means_on_every_rung(pt_run):
    """⟨v⟩ and ⟨h⟩ of each rung (each system's time average = one draw) vs exact.model_moments at β_k.

    36 z-scores (4 rungs × 9 units), all |z| < 5. A 10% error in the swap ratio gives
    max |z| ≈ 20 here: it shifts the stationary law of every rung.
    """
    z = z_scores(pt_run["time_averages"], pt_run["exact_means"])
    assert np.max(np.abs(z)) < Z_MAX, np.array2string(z, precision=1)


def test_pt_swap_acceptance_matches_its_exact_expectation(pt_run):
    """Each pair's acceptance rate (per system, over all steps) vs its exact expectation under Π_k P_{β_k}.

    Under the product law both the even and the odd swap pass of every step see
    independent exact rungs, so every attempt has the enumerated acceptance
    probability. 3 z-scores, all |z| < 5. A 10% error in the ratio gives max |z| ≈ 30.
    """
    _, energies = joint_energies(pt_run["params"])
    z = z_scores(pt_run["acceptance"], exact_swap_acceptance(energies, BETAS))
    assert np.max(np.abs(z)) < Z_MAX, np.array2string(z, precision=1)
