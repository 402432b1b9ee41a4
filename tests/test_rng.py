"""The samplers' random numbers (rbm_jax._src.rng): jax.random's draws, bit for bit, and the
categorical units' inverse-CDF law; the running-mean reducer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32

from rbm_jax import gibbs, rbm
from rbm_jax._src import rng, units

# Known-answer vectors of Threefry-2x32 with 20 rounds (Random123's kat_vectors, also in JAX's tests):
# (key, counter) -> output.
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]

SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4)]


@pytest.mark.parametrize("key, counter, expected", KAT)
def test_threefry_known_answers(key, counter, expected):
    out = jax.jit(rng.threefry2x32)(*(jnp.uint32(x) for x in key + counter))
    assert tuple(int(x) for x in out) == expected
    ref = threefry_2x32(np.uint32(key), np.uint32(counter))
    assert tuple(int(x) for x in ref) == expected


def test_threefry_sees_a_dropped_round():
    # The known answers pin every round: a variant with one rotation changed misses them.
    saved = rng._ROTATIONS
    try:
        rng._ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 25))
        out = rng.threefry2x32(*(jnp.uint32(0),) * 4)
        assert tuple(int(x) for x in out) != KAT[0][2]
    finally:
        rng._ROTATIONS = saved


def _keys():
    return [jax.random.key(3), jax.random.PRNGKey(5)]


def _data(k):
    return jax.random.key_data(k) if jnp.issubdtype(k.dtype, jax.dtypes.prng_key) else k


@pytest.mark.parametrize("shape", SHAPES)
def test_draws_equal_jax_random_bit_for_bit(shape):
    for key in _keys():
        assert rng.accelerated(key)
        np.testing.assert_array_equal(rng.bits(key, shape), jax.random.bits(key, shape))
        np.testing.assert_array_equal(rng.uniform(key, shape), jax.random.uniform(key, shape))
        # Scaled to a range, a multiply-add may be fused: equal to the last bit.
        np.testing.assert_allclose(rng.uniform(key, shape, jnp.float32, -2.0, 3.0),
                                   jax.random.uniform(key, shape, jnp.float32, -2.0, 3.0), rtol=0, atol=5e-7)
        p = jax.random.uniform(jax.random.key(9), shape)
        np.testing.assert_array_equal(rng.bernoulli(key, p), jax.random.bernoulli(key, p))
        # erf⁻¹ may be fused differently: equal to the last bits.
        np.testing.assert_allclose(rng.normal(key, shape), jax.random.normal(key, shape), rtol=2e-6, atol=2e-6)


def test_split_and_fold_in_equal_jax_random():
    for key in _keys():
        for n in (1, 2, 3, 8):
            np.testing.assert_array_equal(_data(rng.split(key, n)), _data(jax.random.split(key, n)))
        for d in (0, 1, 7, 2**31 + 5, 2**32 - 1):
            np.testing.assert_array_equal(_data(rng.fold_in(key, d)), _data(jax.random.fold_in(key, d)))
    typed = jax.random.key(0)
    assert rng.split(typed).dtype == jax.random.split(typed).dtype  # typed in, typed out


def test_equal_under_jit_and_vmap():
    keys = jax.random.split(jax.random.key(0), 5)
    ours = jax.jit(jax.vmap(lambda k: rng.uniform(rng.fold_in(rng.split(k)[1], 3), (2, 6))))(keys)
    theirs = jax.jit(jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(jax.random.split(k)[1], 3),
                                                           (2, 6))))(keys)
    np.testing.assert_array_equal(ours, theirs)
    t = jnp.arange(4)
    np.testing.assert_array_equal(_data(jax.vmap(lambda s: rng.fold_in(keys[0], s))(t)),
                                  _data(jax.vmap(lambda s: jax.random.fold_in(keys[0], s))(t)))


def test_float64_draws_equal_jax_random(x64):
    key = jax.random.key(11)
    for shape in [(7,), (3, 5)]:
        np.testing.assert_array_equal(rng.bits(key, shape, 64), jax.random.bits(key, shape, jnp.uint64))
        np.testing.assert_array_equal(rng.uniform(key, shape, jnp.float64),
                                      jax.random.uniform(key, shape, jnp.float64))
        np.testing.assert_allclose(rng.normal(key, shape, jnp.float64), jax.random.normal(key, shape, jnp.float64),
                                   rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("impl", ["philox4x32", "rbg", "unsafe_rbg"])
def test_other_key_implementations_are_delegated(impl):
    key = jax.random.key(4, impl=impl)
    assert not rng.accelerated(key)
    np.testing.assert_array_equal(rng.uniform(key, (3, 4)), jax.random.uniform(key, (3, 4)))
    np.testing.assert_array_equal(_data(rng.split(key, 3)), _data(jax.random.split(key, 3)))
    np.testing.assert_array_equal(_data(rng.fold_in(key, 9)), _data(jax.random.fold_in(key, 9)))


def test_partitionable_off_is_delegated():
    key = jax.random.key(4)
    with jax.threefry_partitionable(False):
        assert not rng.accelerated(key)
        np.testing.assert_array_equal(rng.uniform(key, (3, 4)), jax.random.uniform(key, (3, 4)))


def test_categorical_inverse_cdf_has_the_softmax_law():
    # Three sites with 4 states, one of them rare; 400,000 draws each.
    logits = jnp.asarray([[0.0, 1.0, -1.0, 2.0], [3.0, -4.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]], jnp.float32)
    q = units.units_of("categorical", 4)
    n = 400_000
    draws = jax.jit(lambda k: q.sample(k, jnp.broadcast_to(logits, (n, 3, 4))))(jax.random.key(7))
    assert draws.dtype == jnp.int32 and int(draws.min()) >= 0 and int(draws.max()) <= 3
    freq = np.stack([np.bincount(np.asarray(draws[:, i]), minlength=4) / n for i in range(3)])
    z = np.exp(np.asarray(logits, np.float64))
    p = z / z.sum(axis=-1, keepdims=True)
    se = np.sqrt(p * (1 - p) / n)
    z = np.abs(freq - p) / se
    assert z.max() < 5, z
    # The test sees a 10% error in one state's probability (p ≈ 0.24: 0.1 p ≈ 35 se).
    wrong = p.copy()
    wrong[0, 1] *= 1.1
    assert (np.abs(freq - wrong) / se).max() > 5


def test_categorical_sample_given_mean_matches_sample():
    eta = jax.random.normal(jax.random.key(0), (50, 6, 3))
    q = units.units_of("categorical", 3)
    key = jax.random.key(1)
    np.testing.assert_array_equal(q.sample(key, eta), q.sample_given_mean(key, q.mean(eta)))
    x, mean = q.sample_and_mean(key, eta)
    np.testing.assert_array_equal(x, q.sample(key, eta))
    np.testing.assert_allclose(mean, jax.nn.softmax(eta, axis=-1))


def test_bound_units_are_one_object():
    # Their bound methods are the jitted value checks' cache keys: equal objects, no recompiles.
    assert units.units_of("categorical", 4) is units.units_of("categorical", 4)
    assert units.units_of("categorical", 4).invalid_value == units.units_of("categorical", 4).invalid_value


# --------------------------------------------------------------------------
# The running-mean reducer.


@pytest.fixture(scope="module")
def small_model():
    return rbm.init_params(jax.random.key(0), 12, 6, weight_scale=0.5)


def test_running_mean_equals_the_trace_mean(small_model):
    v0 = jnp.zeros((4, 12))
    key = jax.random.key(1)
    final, mean = gibbs.sample_chains(key, small_model, v0, 60, burn_in=5, thin=3,
                                      transform=gibbs.running_mean(gibbs.keep_v))
    final_t, trace = gibbs.sample_chains(key, small_model, v0, 60, burn_in=5, thin=3, transform=gibbs.keep_v)
    assert mean.shape == (4, 12) and trace.shape == (20, 4, 12)
    np.testing.assert_allclose(mean, trace.mean(axis=0), atol=1e-6)
    np.testing.assert_array_equal(final.v, final_t.v)  # the same chains


def test_running_mean_of_a_pytree_and_one_chain(small_model):
    def keep_both(params, state):
        return gibbs.keep_v(params, state), gibbs.keep_free_energy(params, state)

    key = jax.random.key(2)
    _, (mv, mf) = gibbs.sample_chain(key, small_model, jnp.ones(12), 40, transform=gibbs.running_mean(keep_both))
    _, (tv, tf) = gibbs.sample_chain(key, small_model, jnp.ones(12), 40, transform=keep_both)
    np.testing.assert_allclose(mv, tv.mean(0), atol=1e-6)
    np.testing.assert_allclose(mf, tf.mean(0), rtol=1e-5)


def test_running_mean_of_pt_target(small_model):
    key = jax.random.key(3)
    _, mean = gibbs.sample_pt(key, small_model, jnp.zeros((2, 12)), 30, n_temps=3,
                              transform=gibbs.running_mean(gibbs.pt_keep_target_v))
    _, trace = gibbs.sample_pt(key, small_model, jnp.zeros((2, 12)), 30, n_temps=3)
    np.testing.assert_allclose(mean, trace.mean(0), atol=1e-6)


def test_reducer_is_refused_where_a_callable_is_wrong(small_model):
    with pytest.raises(TypeError, match="transform must be callable"):
        gibbs.sample_chains(jax.random.key(0), small_model, jnp.zeros((2, 12)), 3, transform="keep_v")


def _flip_one(key, params, state):
    """A toy kernel for the public driver: flips a random bit of a 0/1 vector."""
    i = jax.random.randint(key, (), 0, state.shape[0])
    return state.at[i].set(1 - state[i])


def _keep_state(params, state):
    return state


def test_public_driver_takes_a_reducer():
    from rbm_jax import driver

    states = jnp.zeros((3, 5), jnp.int32)
    key = jax.random.key(4)
    _, mean = driver.run_chains(key, _flip_one, None, states, 40, transform=driver.running_mean(_keep_state))
    _, trace = driver.run_chains(key, _flip_one, None, states, 40, transform=_keep_state)
    assert mean.shape == (3, 5) and jnp.issubdtype(mean.dtype, jnp.floating)  # integer states average to floats
    np.testing.assert_allclose(mean, trace.mean(axis=0), atol=1e-6)
