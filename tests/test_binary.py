"""rbm_jax.binary: generic Gibbs and Metropolis kernels over {0, 1}^n, against exact T and P."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import random_params, tv, tv_bound
from rbm_jax import binary, driver, exact

N = 20_000
KINDS = {"metropolis": binary.metropolis_kernel, "gibbs": binary.gibbs_kernel}


def ising(seed, n=5, scale=0.6):
    kj, kh = jax.random.split(jax.random.key(seed))
    J = scale * jax.random.normal(kj, (n, n), jnp.float64)
    return binary.IsingParams(0.5 * (J + J.T), scale * jax.random.normal(kh, (n,), jnp.float64))


def targets():
    """(energy_fn, params, n) pairs: the RBM's marginal free energy and a small Ising model."""
    return [
        (binary.rbm_free_energy, random_params(200, 5, 3, scale=1.2), 5),
        (binary.ising_energy, ising(201), 5),
    ]


def test_ising_energy_matches_its_definition(x64):
    params = ising(202, n=4)
    J, h = np.asarray(params.J), np.asarray(params.h)
    for x in itertools.product([0, 1], repeat=4):
        s = 2 * np.array(x, np.float64) - 1
        e = -sum(J[i, j] * s[i] * s[j] for i in range(4) for j in range(i + 1, 4)) - h @ s
        np.testing.assert_allclose(binary.ising_energy(params, jnp.array(x, jnp.float64)), e, atol=1e-12)


def test_boltzmann_table_of_free_energy_is_the_rbm_marginal(x64):
    params = random_params(203, 5, 3)
    np.testing.assert_allclose(
        binary.boltzmann_table(binary.rbm_free_energy, params, 5, jnp.float64),
        exact.marginal_v_table(params), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", range(2))
def test_exact_transition_matrix_is_stationary(x64, kind, target):
    energy_fn, params, n = targets()[target]
    T = np.asarray(binary.transition_matrix(energy_fn, params, n, kind=kind, dtype=jnp.float64))
    p = np.asarray(binary.boltzmann_table(energy_fn, params, n, jnp.float64))
    np.testing.assert_allclose(T.sum(1), 1.0, rtol=0, atol=1e-12)
    assert T.min() >= 0
    np.testing.assert_allclose(p @ T, p, rtol=0, atol=1e-12)
    if kind == "metropolis":  # reversible: detailed balance
        flow = p[:, None] * T
        np.testing.assert_allclose(flow, flow.T, rtol=0, atol=1e-12)
    # Ergodic: the chain forgets its start.
    start = np.eye(len(p))[0]
    assert 0.5 * np.abs(start @ np.linalg.matrix_power(T, 200) - p).sum() < 1e-6


def test_metropolis_matrix_entries_by_hand(x64):
    """T[x, x^i] = (1/n) min(1, exp(E(x) − E(x^i))) for each single flip x^i."""
    energy_fn, params, n = targets()[1]
    T = np.asarray(binary.transition_matrix(energy_fn, params, n, kind="metropolis", dtype=jnp.float64))
    xs = np.array(list(itertools.product([0, 1], repeat=n)), np.float64)
    e = np.array([float(energy_fn(params, jnp.asarray(x))) for x in xs])
    for a in (0, 7, 19):
        for i in range(n):
            b = a ^ (1 << (n - 1 - i))
            np.testing.assert_allclose(T[a, b], min(1.0, np.exp(e[a] - e[b])) / n, atol=1e-14)


def run(kind, energy_fn, params, x0, n_steps, seed, transform=None):
    kernel = KINDS[kind](energy_fn)
    states = jax.vmap(kernel.init, in_axes=(None, 0))(params, x0)
    return driver.run_chains(jax.random.key(seed), kernel.step, params, states, n_steps, transform=transform)


def keep_x(params, state):
    del params
    return state.x


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", range(2))
def test_histogram_from_zeros_matches_p0_T_t(x64, kind, target):
    energy_fn, params, n = targets()[target]
    T = np.asarray(binary.transition_matrix(energy_fn, params, n, kind=kind, dtype=jnp.float64))
    _, trace = run(kind, energy_fn, params, jnp.zeros((N, n)), 5, seed=1, transform=keep_x)
    for t in (1, 2, 5):
        ref = np.eye(len(T))[0] @ np.linalg.matrix_power(T, t)
        assert tv(trace[t - 1], ref) < tv_bound(ref, N), f"t={t}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", range(2))
def test_started_at_target_stays_there(x64, kind, target):
    energy_fn, params, n = targets()[target]
    p = binary.boltzmann_table(energy_fn, params, n, jnp.float64)
    idx = jax.random.choice(jax.random.key(2), p.shape[0], (N,), p=p)
    x0 = exact.configurations(n, jnp.float64)[idx]
    _, trace = run(kind, energy_fn, params, x0, 16, seed=3, transform=keep_x)
    for t in (1, 4, 16):
        assert tv(trace[t - 1], p) < tv_bound(p, N), f"t={t}"


def test_negative_control_wrong_energy_fails(x64):
    """Sampling a perturbed Ising model from the right one's samples leaves the bound."""
    energy_fn, params, n = targets()[1]
    p = binary.boltzmann_table(energy_fn, params, n, jnp.float64)
    wrong = params._replace(h=params.h + 0.2)
    idx = jax.random.choice(jax.random.key(2), p.shape[0], (N,), p=p)
    x0 = exact.configurations(n, jnp.float64)[idx]
    _, trace = run("gibbs", energy_fn, wrong, x0, 16, seed=3, transform=keep_x)
    assert tv(trace[15], p) > tv_bound(p, N)


def test_cached_energy_stays_consistent(x64):
    energy_fn, params, n = targets()[1]
    final, _ = run("metropolis", energy_fn, params, jnp.zeros((50, n)), 30, seed=4)
    np.testing.assert_allclose(final.energy, jax.vmap(energy_fn, in_axes=(None, 0))(params, final.x),
                               atol=1e-12)


def test_kernels_compare_equal_so_compiles_are_reused():
    assert binary.gibbs_kernel(binary.ising_energy) == binary.gibbs_kernel(binary.ising_energy)
    assert hash(binary.metropolis_kernel(binary.ising_energy).step) == hash(
        binary.metropolis_kernel(binary.ising_energy).step)


def test_bad_input_is_named(x64):
    with pytest.raises(TypeError, match="energy_fn must be callable"):
        binary.gibbs_kernel(3)
    with pytest.raises(ValueError, match=r"kind must be 'metropolis' or 'gibbs'"):
        binary.transition_matrix(binary.ising_energy, ising(0), 3, kind="hmc")
    with pytest.raises(ValueError, match=r"n = 13 is too large for a dense transition matrix"):
        binary.transition_matrix(binary.ising_energy, ising(0, n=13), 13, kind="gibbs")
    with pytest.raises(ValueError, match=r"states must carry a leading chain axis"):
        driver.run_chains(jax.random.key(0), binary.gibbs_kernel(binary.ising_energy).step, ising(0),
                          binary.BinaryState(jnp.zeros(5), jnp.zeros(())), 3)


@pytest.mark.parametrize("make", [binary.gibbs_kernel, binary.metropolis_kernel])
def test_generic_kernels_refuse_non_binary_states_by_name(make):
    """The generic kernels check their states' values at their entry points (when concrete)."""
    params = random_params(5, 3, 2)
    kernel = make(binary.rbm_free_energy)
    with pytest.raises(ValueError, match=r"x must hold binary values 0 or 1; 1 entries do not, first 0\.5"):
        kernel.init(params, jnp.array([0.0, 0.5, 1.0]))
    state = kernel.init(params, jnp.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"state\.x contains 1 NaN/inf value"):
        kernel.step(jax.random.key(0), params, state._replace(x=state.x.at[0].set(jnp.nan)))
    assert set(np.unique(kernel.step(jax.random.key(0), params, state).x)) <= {0.0, 1.0}
