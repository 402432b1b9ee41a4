"""PRNG keys across the library: what is accepted, and the per-chain guarantee per implementation."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, random_params
from rbm_jax import driver, gibbs, rbm
from rbm_jax._src import driver as core_driver


@pytest.mark.parametrize("impl", ["philox4x32", "rbg", "unsafe_rbg"])  # threefry2x32: test_gibbs
def test_chain_i_equals_that_chain_run_alone_exactly_where_documented(x64, impl):
    """The driver names the implementations whose vmapped chains are not the chains run alone
    (BATCH_DRAWN_IMPLS); this checks that list against JAX."""
    params = random_params(160, 5, 4)
    v0 = jax.random.bernoulli(jax.random.key(0), 0.5, (6, 5)).astype(jnp.float64)
    key = jax.random.key(11, impl=impl)
    _, trace = gibbs.sample_chains(key, params, v0, 12, transform=gibbs.keep_v)
    alone = np.stack([gibbs.sample_chain(k, params, v0[i], 12, transform=gibbs.keep_v)[1]
                      for i, k in enumerate(jax.random.split(key, 6))], axis=1)
    equal = np.array_equal(trace, alone)
    assert equal == (impl not in core_driver.BATCH_DRAWN_IMPLS), (impl, np.mean(trace != alone))
    if not equal:  # the weaker guarantee: reproducible chains, not copies of one another
        np.testing.assert_array_equal(gibbs.sample_chains(key, params, v0, 12, transform=gibbs.keep_v)[1], trace)
        assert len({trace[:, i].tobytes() for i in range(6)}) == 6


def test_the_docs_name_the_implementations_without_the_per_chain_guarantee():
    keys_bullet = " ".join((ROOT / "README.md").read_text().split("* Keys:")[1].split("\n* ")[0].split())
    for doc in (keys_bullet, " ".join(driver.__doc__.split()), " ".join(core_driver.__doc__.split())):
        assert "equals that chain run alone" in doc
        for impl in core_driver.BATCH_DRAWN_IMPLS:  # named on its own ("rbg" apart from "unsafe_rbg")
            assert re.search(rf"(?<!\w){impl}\b", doc), (impl, doc)


def test_a_raw_key_must_have_the_default_implementations_width():
    params = random_params(161, 4, 3)
    v = jnp.zeros((2, 4))
    for bad in (jnp.zeros(3, jnp.uint32), jnp.zeros(4, jnp.uint32), np.zeros(1, np.uint32)):
        with pytest.raises(ValueError, match=rf"key is a raw uint32 key of width {bad.shape[0]}, .* default "
                                             r"implementation threefry2x32, whose keys have width 2"):
            rbm.sample_h_given_v(bad, params, v)
    with pytest.raises(ValueError, match=r"key is a raw uint32 key of width 3"):
        gibbs.sample_chains(jnp.zeros(3, jnp.uint32), params, v, 2)
    # The legacy key of the default implementation is accepted and equals the typed key.
    np.testing.assert_array_equal(rbm.sample_h_given_v(jax.random.PRNGKey(3), params, v),
                                  rbm.sample_h_given_v(jax.random.key(3), params, v))
