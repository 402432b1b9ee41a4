"""rbm_jax.gibbs: block Gibbs, tempering, clamping and parallel tempering, proven by statistics.

Every statistical check compares a histogram of N = 20,000 independent chains
with an exact distribution from ``rbm_jax.exact`` and asserts TV below
4 × ½ Σ sqrt(p(1−p)/N) (``conftest.tv_bound``). Seeds are fixed. A deliberately
wrong kernel fails the same checks, so they are able to fail.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import random_params, tv, tv_bound
from rbm_jax import exact, gibbs, rbm
from rbm_jax._src import driver as core_driver
from rbm_jax._src import sweep
from rbm_jax.rbm import RBMParams

N = 20_000
# (shape, seed, scale): at most 6 visible units (2**6 states). The first two are also
# the negative controls' models: there a 10% error in the visible biases moves the exact
# distribution by about twice the bound, so the same checks must reject it.
STATS_MODELS = [((4, 3), 114, 2.0), ((6, 4), 116, 2.0), ((3, 6), 103, 1.5)]
NEGATIVE_MODELS = STATS_MODELS[:2]


def scaled(params, beta):
    return RBMParams(beta * params.W, beta * params.b, beta * params.c)


def start_distribution_after(T, t):
    start = np.zeros(T.shape[0])
    start[0] = 1.0
    return start @ np.linalg.matrix_power(np.asarray(T), t)


# ---------------------------------------------------------------- from a fixed start


@pytest.mark.parametrize("shape, seed, scale", STATS_MODELS)
def test_histogram_from_zeros_matches_exact_p0_T_t(x64, shape, seed, scale):
    params = random_params(seed, *shape, scale=scale)
    T = exact.gibbs_transition_matrix(params)
    _, trace = gibbs.sample_chains(
        jax.random.key(1), params, jnp.zeros((N, shape[0])), 5, transform=gibbs.keep_v
    )
    for t in (1, 2, 5):
        ref = start_distribution_after(T, t)
        assert tv(trace[t - 1], ref) < tv_bound(ref, N), f"t={t}"


def wrong_params(params):
    """The negative control: visible biases off by 10%."""
    return params._replace(b=1.1 * params.b)


@pytest.mark.parametrize("shape, seed, scale", NEGATIVE_MODELS)
def test_negative_control_fails_the_fixed_start_check(x64, shape, seed, scale):
    params = random_params(seed, *shape, scale=scale)
    T = exact.gibbs_transition_matrix(params)
    _, trace = gibbs.sample_chains(
        jax.random.key(1), wrong_params(params), jnp.zeros((N, shape[0])), 5, transform=gibbs.keep_v
    )
    ref = start_distribution_after(T, 5)
    assert tv(trace[4], ref) > tv_bound(ref, N)


# ---------------------------------------------------------------- started at the target


@pytest.mark.parametrize("shape, seed, scale", STATS_MODELS)
def test_block_gibbs_stays_at_p_v(x64, shape, seed, scale):
    params = random_params(seed, *shape, scale=scale)
    p = exact.marginal_v_table(params)
    v0 = exact.sample_exact(jax.random.key(2), params, N)
    _, trace = gibbs.sample_chains(jax.random.key(3), params, v0, 16, transform=gibbs.keep_v)
    for t in (1, 4, 16):
        assert tv(trace[t - 1], p) < tv_bound(p, N), f"t={t}"


@pytest.mark.parametrize("shape, seed, scale", NEGATIVE_MODELS)
def test_negative_control_fails_the_stationarity_check(x64, shape, seed, scale):
    params = random_params(seed, *shape, scale=scale)
    p = exact.marginal_v_table(params)
    v0 = exact.sample_exact(jax.random.key(2), params, N)
    _, trace = gibbs.sample_chains(jax.random.key(3), wrong_params(params), v0, 16, transform=gibbs.keep_v)
    assert tv(trace[15], p) > tv_bound(p, N)


@pytest.mark.parametrize("beta", [0.3, 0.7, 2.0])
def test_tempered_chain_stays_at_p_beta(x64, beta):
    params = random_params(120, 5, 4)
    tempered = scaled(params, beta)
    p_beta = exact.marginal_v_table(tempered)
    v0 = exact.sample_exact(jax.random.key(4), tempered, N)
    _, trace = gibbs.sample_chains(jax.random.key(5), params, v0, 16, beta=beta, transform=gibbs.keep_v)
    for t in (1, 4, 16):
        assert tv(trace[t - 1], p_beta) < tv_bound(p_beta, N), f"t={t}"
    # ...and P_β is not P: at β ≠ 1 the untempered table is far outside the bound.
    assert tv(trace[15], exact.marginal_v_table(params)) > tv_bound(p_beta, N)


def test_tempered_step_matches_scaled_params_exactly(x64):
    """A step at β is a step of the RBM with β-scaled parameters (same key, same draw)."""
    params = random_params(121, 5, 4)
    state = gibbs.init(jax.random.key(0), params, jnp.ones((7, 5)))
    a = gibbs.tempered_step(jax.random.key(1), params, state, 0.4)
    b = gibbs.step(jax.random.key(1), scaled(params, 0.4), state)
    chex.assert_trees_all_equal(a, b)


def exact_conditional(params, mask, values):
    """P(v | v[mask] = values[mask]) over all 2**n_v states, by enumeration."""
    p = np.asarray(exact.marginal_v_table(params))
    V = np.asarray(exact.configurations(params.W.shape[0]))
    consistent = np.all(V[:, mask] == values[mask], axis=1)
    q = np.where(consistent, p, 0.0)
    return q / q.sum()


def test_clamped_sampling_matches_the_exact_conditional(x64):
    params = random_params(130, 6, 4)
    mask = np.array([True, False, True, False, False, True])
    values = np.array([1.0, 0, 0, 0, 0, 1])
    cond = exact_conditional(params, mask, values)
    # From a fixed start (free units 0) the chain converges to the conditional...
    v_fixed = jnp.broadcast_to(jnp.asarray(values), (N, 6))
    _, trace = gibbs.sample_chains(jax.random.key(6), params, v_fixed, 30, clamp=mask,
                                   transform=gibbs.keep_v)
    assert np.all(np.asarray(trace)[:, :, mask] == values[mask])  # clamped units never move
    assert tv(trace[-1], cond) < tv_bound(cond, N)
    # ...and started from exact conditional samples it stays there after 1, 4, 16 steps.
    idx = jax.random.choice(jax.random.key(7), cond.shape[0], (N,), p=jnp.asarray(cond))
    v0 = exact.configurations(6, jnp.float64)[idx]
    _, trace = gibbs.sample_chains(jax.random.key(8), params, v0, 16, clamp=mask, transform=gibbs.keep_v)
    for t in (1, 4, 16):
        assert tv(trace[t - 1], cond) < tv_bound(cond, N), f"t={t}"
    # The unclamped marginal is a different distribution: far outside the bound.
    assert tv(trace[15], exact.marginal_v_table(params)) > tv_bound(cond, N)


def test_clamped_step_keeps_masked_units():
    params = random_params(131, 4, 3)
    mask = jnp.array([True, False, False, True])
    state = gibbs.init(jax.random.key(0), params, jnp.array([[1.0, 0, 0, 0], [0, 1, 1, 1]]))
    for i in range(5):
        new = gibbs.clamped_step(jax.random.key(i), params, state, mask)
        np.testing.assert_array_equal(new.v[:, mask], state.v[:, mask])
        state = new


# ---------------------------------------------------------------- parallel tempering


def test_pt_system_stays_at_the_product_of_p_beta(x64):
    params = random_params(140, 4, 3, scale=1.5)
    betas = jnp.array([1.0, 0.6, 0.35, 0.2])
    tables = [np.asarray(exact.marginal_v_table(scaled(params, b))) for b in betas]
    keys = jax.random.split(jax.random.key(9), len(betas))
    v0 = jnp.stack([exact.sample_exact(k, scaled(params, b), N) for k, b in zip(keys, betas)], axis=1)
    final, trace = gibbs.sample_pt(jax.random.key(10), params, v0, 16, betas=betas,
                                   transform=gibbs.keep_v)
    assert trace.shape == (16, N, 4, 4)
    for t in (1, 4, 16):
        for k, table in enumerate(tables):
            assert tv(trace[t - 1, :, k], table) < tv_bound(table, N), f"t={t} rung={k}"
        # Rungs are independent under the product: the joint of rungs 0 and 1 factorises.
        pair = np.concatenate([trace[t - 1, :, 0], trace[t - 1, :, 1]], axis=-1)
        product = np.outer(tables[0], tables[1]).ravel()
        assert tv(pair, product) < tv_bound(product, N), f"t={t} pair (0, 1)"
    rates = np.asarray(gibbs.swap_acceptance(final)).mean(0)
    assert rates.shape == (3,) and np.all(rates > 0.05) and np.all(rates <= 1)
    # Every pair is attempted every step (even pairs, then odd pairs).
    np.testing.assert_array_equal(final.attempted, 16)


def test_pt_with_a_wrong_swap_ratio_fails(x64, monkeypatch):
    """Negative control for PT: swapping always (ratio ignored) breaks the product law."""
    params = random_params(140, 4, 3, scale=1.5)
    betas = jnp.array([1.0, 0.6, 0.35, 0.2])
    keys = jax.random.split(jax.random.key(9), len(betas))
    v0 = jnp.stack([exact.sample_exact(k, scaled(params, b), N) for k, b in zip(keys, betas)], axis=1)
    real_swap = sweep.swap_pass

    def always_swap(key, params, state, betas, parity, reference=None):
        return real_swap(key, params, state, jnp.full_like(betas, jnp.inf).at[0].set(1e30), parity, reference)

    monkeypatch.setattr(sweep, "swap_pass", always_swap)
    core_driver.run_many_jit.clear_cache()
    try:
        _, trace = gibbs.sample_pt(jax.random.key(10), params, v0, 4, betas=betas, transform=gibbs.keep_v)
    finally:
        core_driver.run_many_jit.clear_cache()
    table0 = np.asarray(exact.marginal_v_table(params))
    assert tv(trace[3, :, 0], table0) > tv_bound(table0, N)


def test_pt_swap_ratio_is_the_exact_metropolis_ratio(x64):
    """One swap pass on a 2-rung system: acceptance frequency = min(1, exp((β0−β1)(E0−E1)))."""
    params = random_params(141, 3, 2)
    betas = jnp.array([1.0, 0.5])
    v = jnp.array([[1.0, 0, 1], [0, 1, 1]])
    h = jnp.array([[1.0, 0], [0, 0]])
    zero = jnp.zeros((), jnp.int32)
    state = gibbs.PTState(v, h, jnp.zeros(1, jnp.int32), jnp.zeros(1, jnp.int32), jnp.zeros(2, jnp.int32), zero, zero)
    e = np.asarray(rbm.energy(params, v, h))
    expected = min(1.0, float(np.exp((1.0 - 0.5) * (e[0] - e[1]))))
    keys = jax.random.split(jax.random.key(0), N)
    out, _ = jax.vmap(lambda k: sweep.swap_pass(k, params, state, betas, 0))(keys)
    freq = float(out.accepted.mean())
    assert abs(freq - expected) < 4 * np.sqrt(expected * (1 - expected) / N) + 1e-12
    swapped = np.asarray(out.accepted[:, 0] == 1)
    np.testing.assert_array_equal(out.v[swapped][:, 0], np.broadcast_to(v[1], (swapped.sum(), 3)))
    np.testing.assert_array_equal(out.h[swapped][:, 1], np.broadcast_to(h[0], (swapped.sum(), 2)))


def bimodal_rbm(n_visible=12, w=6.0):
    """Two modes, all-off and all-on, of equal mass, separated by a barrier of ~w·n/4 nats."""
    W = jnp.full((n_visible, 1), w)
    return RBMParams(W, jnp.full((n_visible,), -w / 2), jnp.array([-w * n_visible / 2]))


def test_pt_mixes_a_bimodal_rbm_that_gibbs_cannot(x64):
    """Both start in the all-off mode; the exact mass of the all-on half is ≈ 1/2."""
    params = bimodal_rbm()
    p = np.asarray(exact.marginal_v_table(params))
    on_half = np.asarray(exact.configurations(12)).sum(1) > 6
    exact_on = float(p[on_half].sum())
    n_chains, n_sweeps = 2000, 200
    v0 = jnp.zeros((n_chains, 12))
    g_final, _ = gibbs.sample_chains(jax.random.key(0), params, v0, 8 * n_sweeps)  # equal cost
    pt_final, _ = gibbs.sample_pt(jax.random.key(0), params, v0, n_sweeps, n_temps=8, beta_min=0.05,
                                  transform=None)
    gibbs_on = float(np.mean(np.asarray(g_final.v).sum(1) > 6))
    pt_on = float(np.mean(np.asarray(pt_final.v[:, 0]).sum(1) > 6))
    se = np.sqrt(exact_on * (1 - exact_on) / n_chains)
    assert abs(exact_on - 0.5) < 1e-3  # nearly symmetric modes (the k = 6 middle is excluded)
    assert abs(pt_on - exact_on) < 4 * se  # PT: the right mode masses
    assert gibbs_on < 0.05  # Gibbs, at 8× the sweeps: still stuck in the start mode


# ---------------------------------------------------------------- engineering guarantees


def test_chain_i_equals_that_chain_run_alone(x64):
    params = random_params(150, 5, 4)
    v0 = jax.random.bernoulli(jax.random.key(0), 0.5, (6, 5)).astype(jnp.float64)
    key = jax.random.key(11)
    final, trace = gibbs.sample_chains(key, params, v0, 9, burn_in=2, thin=3, transform=gibbs.keep_state)
    for i, k in enumerate(jax.random.split(key, 6)):
        f_i, t_i = gibbs.sample_chain(k, params, v0[i], 9, burn_in=2, thin=3, transform=gibbs.keep_state)
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[i], final), f_i)
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[:, i], trace), t_i)


def test_chain_is_its_steps_by_hand(x64):
    """The driver's randomness is documented: init with split(key)[0], step t with fold_in(split(key)[1], t)."""
    params = random_params(151, 4, 3)
    v0 = jnp.array([1.0, 0, 1, 0])
    key = jax.random.key(12)
    final, trace = gibbs.sample_chain(key, params, v0, 4, transform=gibbs.keep_state)
    key_init, key_run = jax.random.split(key)
    state = gibbs.init(key_init, params, v0)
    for t in range(4):
        state = gibbs.step(jax.random.fold_in(key_run, t), params, state)
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[t], trace), state)
    chex.assert_trees_all_equal(final, state)


def test_burn_in_and_thin_semantics(x64):
    params = random_params(152, 4, 3)
    v0 = jnp.zeros((3, 4))
    key = jax.random.key(13)
    _, every = gibbs.sample_chains(key, params, v0, 12, transform=gibbs.keep_v)
    _, thinned = gibbs.sample_chains(key, params, v0, 12, thin=4, transform=gibbs.keep_v)
    np.testing.assert_array_equal(thinned, every[3::4])
    _, burned = gibbs.sample_chains(key, params, v0, 8, burn_in=4, transform=gibbs.keep_v)
    np.testing.assert_array_equal(burned, every[4:])
    f1, none = gibbs.sample_chains(key, params, v0, 7, thin=3)  # 7 // 3 = 2 kept, 1 step of tail
    assert none is None
    f2, _ = gibbs.sample_chains(key, params, v0, 7, transform=gibbs.keep_v)
    chex.assert_trees_all_equal(f1, f2)
    _, t = gibbs.sample_chains(key, params, v0, 7, thin=3, transform=gibbs.keep_free_energy)
    assert t.shape == (2, 3)


def test_same_key_same_samples_and_key_types():
    params = random_params(153, 6, 5)
    v0 = jnp.zeros((10, 6))
    a = gibbs.sample_chains(jax.random.key(5), params, v0, 10, transform=gibbs.keep_v)[1]
    b = gibbs.sample_chains(jax.random.key(5), params, v0, 10, transform=gibbs.keep_v)[1]
    c = gibbs.sample_chains(jax.random.PRNGKey(5), params, v0, 10, transform=gibbs.keep_v)[1]
    d = gibbs.sample_chains(jax.random.key(6), params, v0, 10, transform=gibbs.keep_v)[1]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, d)
    # Other PRNG implementations work too (the kernel never assumes threefry).
    e = gibbs.sample_chains(jax.random.key(5, impl="philox4x32"), params, v0, 10, transform=gibbs.keep_v)[1]
    assert e.shape == a.shape and set(np.unique(e).tolist()) <= {0.0, 1.0}


def test_driver_compiles_once_for_repeated_calls():
    params = random_params(154, 6, 5)
    v0 = jnp.zeros((10, 6))
    core_driver.run_many_jit.clear_cache()
    for seed in range(3):
        gibbs.sample_chains(jax.random.key(seed), params, v0, 10, transform=gibbs.keep_free_energy)
        gibbs.sample_chains(jax.random.key(seed), params._replace(b=params.b + seed), v0, 10,
                            transform=gibbs.keep_free_energy)
    assert core_driver.run_many_jit._cache_size() == 1
    core_driver.run_many_jit.clear_cache()
    for seed in range(3):
        gibbs.sample_pt(jax.random.key(seed), params, v0, 5, n_temps=3)
    assert core_driver.run_many_jit._cache_size() == 1


def test_new_ladders_and_masks_do_not_recompile():
    """Settings (β, a ladder, a clamp mask) are traced arguments of the one kernel, not structure."""
    params = random_params(157, 6, 5)
    state = gibbs.init(jax.random.key(0), params, jnp.zeros((3, 6)))
    tempered, clamped, pt_kernel = sweep.build_sweep(tempered=True), sweep.build_sweep(clamped=True), sweep.build_pt()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def tempered_sweep(key, params, settings, state):
        return tempered(key, params, settings, state)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def clamped_sweep(key, params, settings, state):
        return clamped(key, params, settings, state)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def pt_step(key, params, settings, state):
        return pt_kernel(key, params, settings, state)

    pt_state = gibbs.pt_init(jax.random.key(1), params, jnp.zeros(6), gibbs.geometric_ladder(4))
    for i, beta in enumerate([0.3, 0.7, 1.0]):
        b = jnp.asarray(beta, jnp.float32)
        tempered_sweep(jax.random.key(i), params, sweep.SweepSettings(b, b), state)
        mask = jnp.arange(6) < i
        clamped_sweep(jax.random.key(i), params, sweep.SweepSettings(clamp=mask), state)
        ladder = gibbs.geometric_ladder(4, beta_min=0.1 * (i + 1))
        pt_step(jax.random.key(i), params, sweep.PTSettings(ladder), pt_state)
    # The public samplers likewise reuse one compiled program across ladders and masks.
    v0 = jnp.zeros((4, 6))
    core_driver.run_many_jit.clear_cache()
    for i in range(3):
        gibbs.sample_pt(jax.random.key(i), params, v0, 3, betas=gibbs.geometric_ladder(3, 0.2 + 0.1 * i))
    assert core_driver.run_many_jit._cache_size() == 1
    core_driver.run_many_jit.clear_cache()
    for i in range(3):
        gibbs.sample_chains(jax.random.key(i), params, v0, 3, clamp=jnp.arange(6) < i + 1, beta=0.5 + 0.1 * i)
    assert core_driver.run_many_jit._cache_size() == 1


def test_step_traces_once_under_jit():
    params = random_params(155, 6, 5)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def jitted_step(key, params, state):
        return gibbs.step(key, params, state)

    state = gibbs.init(jax.random.key(0), params, jnp.zeros(6))
    for seed in range(4):
        state = jitted_step(jax.random.key(seed), params, state)


def test_no_host_callbacks_inside_the_scan():
    params = random_params(156, 6, 5)
    kernel, settings = sweep.build_sweep(), sweep.SweepSettings()
    jaxpr = jax.make_jaxpr(
        lambda k, v: core_driver.run_many(k, kernel, params, settings, v, 20, transform=gibbs.keep_free_energy)
    )(jax.random.key(0), jnp.zeros((4, 6)))
    text = str(jaxpr)
    assert "scan" in text
    assert "callback" not in text and "debug" not in text
    # And it runs with implicit host transfers disallowed.
    v0 = jax.device_put(jnp.zeros((4, 6)))
    key = jax.random.key(1)
    with jax.transfer_guard("disallow"):
        out = core_driver.run_many_jit(key, kernel, params, settings, v0, n_steps=20,
                                       transform=gibbs.keep_free_energy)
    assert out[1].shape == (20, 4)


def test_large_weights_stay_finite_in_every_sampler():
    kw, kb, kc = jax.random.split(jax.random.key(1), 3)
    params = RBMParams(1e3 * jax.random.normal(kw, (6, 5)), 1e3 * jax.random.normal(kb, (6,)),
                       1e3 * jax.random.normal(kc, (5,)))
    v0 = jnp.zeros((8, 6))
    final, fe = gibbs.sample_chains(jax.random.key(0), params, v0, 5, transform=gibbs.keep_free_energy)
    assert np.all(np.isfinite(fe)) and np.all(np.isfinite(final.v))
    pt_final, pt_fe = gibbs.sample_pt(jax.random.key(0), params, v0, 5, n_temps=4,
                                      transform=gibbs.pt_keep_target_free_energy)
    assert np.all(np.isfinite(pt_fe)) and np.all(np.isfinite(gibbs.swap_acceptance(pt_final)))


def test_samples_follow_params_dtype(x64):
    for dtype in (jnp.float32, jnp.float64):
        params = random_params(157, 3, 2, dtype=dtype)
        final, tr = gibbs.sample_chains(jax.random.key(0), params, jnp.zeros((2, 3), jnp.int32), 2,
                                        transform=gibbs.keep_v)
        assert final.v.dtype == dtype and final.h.dtype == dtype and tr.dtype == dtype


def test_geometric_ladder():
    b = np.asarray(gibbs.geometric_ladder(5, 0.0625))
    np.testing.assert_allclose(b, [1, 0.5, 0.25, 0.125, 0.0625], rtol=1e-6)
    np.testing.assert_allclose(gibbs.geometric_ladder(1), [1.0])


# ---------------------------------------------------------------- bad input


def test_bad_arguments_are_named():
    params = random_params(160, 4, 3)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"v0 must be \[n_chains, n_visible\] = \[n_chains, 4\], got shape \(4,\)"):
        gibbs.sample_chains(key, params, jnp.zeros(4), 3)
    with pytest.raises(ValueError, match=r"v0 must have shape \[\.\.\., n_visible\] = \[\.\.\., 4\]"):
        gibbs.sample_chains(key, params, jnp.zeros((2, 5)), 3)
    with pytest.raises(ValueError, match=r"thin must be a positive integer, got 0"):
        gibbs.sample_chains(key, params, jnp.zeros((2, 4)), 3, thin=0)
    with pytest.raises(ValueError, match=r"n_steps must be a non-negative integer, got -1"):
        gibbs.sample_chains(key, params, jnp.zeros((2, 4)), -1)
    with pytest.raises(ValueError, match=r"beta must be finite and > 0"):
        gibbs.sample_chains(key, params, jnp.zeros((2, 4)), 3, beta=-1.0)
    with pytest.raises(ValueError, match=r"clamp mask must be \[n_visible\] = \[4\]"):
        gibbs.sample_chains(key, params, jnp.zeros((2, 4)), 3, clamp=jnp.ones(3, bool))
    with pytest.raises(TypeError, match=r"transform must be callable"):
        gibbs.sample_chains(key, params, jnp.zeros((2, 4)), 3, transform="v")
    with pytest.raises(ValueError, match=r"betas\[0\] must be 1"):
        gibbs.sample_pt(key, params, jnp.zeros((2, 4)), 3, betas=jnp.array([0.9, 0.5]))
    with pytest.raises(ValueError, match=r"v0 must be \[n_systems, n_visible\] or \[n_systems, n_temps=3, n_visible\]"):
        gibbs.sample_pt(key, params, jnp.zeros((2, 2, 4)), 3, n_temps=3)
    with pytest.raises(ValueError, match=r"beta_min must lie in \(0, 1\)"):
        gibbs.geometric_ladder(4, 1.5)
    with pytest.raises(TypeError, match=r"state must be GibbsState"):
        gibbs.step(key, params, jnp.zeros(4))
    with pytest.raises(ValueError, match=r"state\.h must have shape \[\.\.\., n_hidden\] = \[\.\.\., 3\]"):
        gibbs.step(key, params, gibbs.GibbsState(jnp.zeros(4), jnp.zeros(4)))


def test_bad_values_are_refused_not_sampled():
    # Shapes were always checked; values now are too (one fused device check per call).
    params = random_params(160, 4, 3)
    key = jax.random.key(0)
    v0 = jnp.zeros((2, 4))
    nan_W = params._replace(W=params.W.at[1, 2].set(jnp.nan))
    with pytest.raises(ValueError, match=r"params\.W contains 1 NaN or inf value\(s\), first nan at index \(1, 2\)"):
        gibbs.sample_chains(key, nan_W, v0, 3)
    with pytest.raises(ValueError, match=r"params\.c contains 1 NaN or inf"):
        gibbs.sample_pt(key, params._replace(c=params.c.at[0].set(jnp.inf)), v0, 3)
    seven = v0.at[0, 1].set(7.0)
    with pytest.raises(ValueError, match=r"v0 must hold values in \[0, 1\]; 1 entries do not, first 7\.0 at index \(0, 1\)"):
        gibbs.sample_chains(key, params, seven, 3, clamp=jnp.array([True, True, False, False]),
                            transform=gibbs.keep_v)
    with pytest.raises(ValueError, match=r"v0 must hold values in \[0, 1\]"):
        gibbs.sample_chain(key, params, seven[0], 3)
    with pytest.raises(ValueError, match=r"v0 contains 1 NaN/inf value"):
        gibbs.sample_pt(key, params, v0.at[1, 3].set(jnp.nan), 3)
    with pytest.raises(ValueError, match=r"v must hold values in \[0, 1\]"):
        gibbs.init(key, params, jnp.full(4, -1.0))
    state = gibbs.init(key, params, jnp.zeros(4))
    gibbs.step(key, params, state)  # the control
    with pytest.raises(ValueError, match=r"state\.v must hold values in \[0, 1\]"):
        gibbs.step(key, params, state._replace(v=state.v.at[0].set(5.0)))
    with pytest.raises(ValueError, match=r"state\.h contains 1 NaN/inf"):
        gibbs.clamped_step(key, params, state._replace(h=state.h.at[0].set(jnp.nan)), jnp.zeros(4, bool))
    with pytest.raises(ValueError, match=r"params\.b contains 1 NaN or inf"):
        gibbs.tempered_step(key, params._replace(b=params.b.at[0].set(jnp.nan)), state, 0.5)
    betas = jnp.array([1.0, 0.5])
    pt = gibbs.pt_init(key, params, jnp.zeros(4), betas)
    gibbs.pt_step(key, params, pt, betas)  # the control
    with pytest.raises(ValueError, match=r"state\.v must hold values in \[0, 1\]"):
        gibbs.pt_step(key, params, pt._replace(v=pt.v.at[1, 0].set(2.0)), betas)
    with pytest.raises(ValueError, match=r"state must hold one system of n_temps = 3 rungs"):
        gibbs.pt_step(key, params, pt, jnp.array([1.0, 0.5, 0.25]))


@pytest.mark.parametrize("betas, match", [
    ([1.0, 0.3, 0.6], r"betas must decrease strictly from 1 down to 0 \(exclusive\); got betas\[2\] = 0\.6 >= betas\[1\] = 0\.3"),
    ([1.0, 1.0, 0.5], r"betas must decrease strictly .* betas\[1\] = 1 >= betas\[0\] = 1 in"),
    ([1.0, 2.0, 0.5], r"betas must hold finite inverse temperatures in \(0, 1\]"),
    ([1.0, 0.5, 0.0], r"betas must hold finite inverse temperatures in \(0, 1\]"),
    ([1.0, np.nan], r"betas must hold finite inverse temperatures"),
    ([0.9, 0.5], r"betas\[0\] must be 1"),
])
def test_nonsense_ladders_are_refused_everywhere(betas, match):
    params = random_params(160, 4, 3)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=match):
        gibbs.sample_pt(key, params, jnp.zeros((2, 4)), 3, betas=jnp.asarray(betas))
    with pytest.raises(ValueError, match=match):
        gibbs.pt_init(key, params, jnp.zeros(4), betas)
    from rbm_jax import estimators
    with pytest.raises(ValueError, match=match):
        estimators.pt(1, betas)
