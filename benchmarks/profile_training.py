"""Where a training update's time goes: variants of one PCD-1 update, each removing a suspected cost.

Run by hand (not a test):
    .venv/bin/python benchmarks/profile_training.py [--updates 1790] [--repeats 7]
    taskset -c 0 .venv/bin/python benchmarks/profile_training.py   # the same on one core

The setting of ``bench.py``'s training section: the digits with grey values, 64 visible × 100
hidden, PCD-1, plain SGD 0.06, batch 10. Each variant runs ``--updates`` updates inside one
jitted ``fori_loop`` (no epochs, no monitor, no shuffling) and reports microseconds per update,
median of ``--repeats`` alternating runs:

  library          ``train``'s own update step (``train.make_train_step``), as ``fit`` runs it
  trivial keys     the same step with ``rng.split``/``rng.fold_in`` replaced by one integer add
                   each: what deriving an update's keys costs (fold_in, split, fold_in, split,
                   each a scalar Threefry hash and its own small XLA operation)
  minimal update   a hand-written PCD-1 update with the same four matmuls and random draws,
                   no optax, no metrics, keys derived as jax.random would (fold_in, split)
  minimal, counter keys   the same, its bits hashed straight from (update, layer, unit)
                   counters under one key: no key derivation at all

The gap between the library and the minimal update is the library's generality (optax, the
estimator protocol, key derivation, the gradient-norm metric); the minimal update's own time
is the floor this runtime sets on 10-row updates (per-operation dispatch, not arithmetic).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from rbm_jax import data, rbm, train
from rbm_jax._src import rng


def _library_step(trivial_keys: bool, n_updates: int):
    x = jnp.asarray(data.digits()[0], jnp.float32)
    p0 = rbm.init_params(jax.random.key(0), 64, 100)
    cfg = train.TrainConfig(method=train.pcd(1), batch_size=10, optimizer=optax.sgd(0.06), metrics_every=None)
    state = train.init_state(jax.random.key(1), p0, x, cfg)
    batches = x[: (x.shape[0] // 10) * 10].reshape(-1, 10, 64)
    step = train.make_train_step(cfg, train.HyperParams(jnp.zeros((), jnp.float32)), batches.shape[0])
    split, fold_in = rng.split, rng.fold_in
    if trivial_keys:
        def split(key, num=2):
            data_ = jax.random.key_data(key)
            return jax.random.wrap_key_data(data_ + jnp.arange(num, dtype=jnp.uint32)[:, None])

        def fold_in(key, d):
            return jax.random.wrap_key_data(jax.random.key_data(key) + jnp.asarray(d).astype(jnp.uint32))

    @jax.jit
    def run(state):
        saved = rng.split, rng.fold_in
        rng.split, rng.fold_in = split, fold_in  # at trace time only
        try:
            def body(i, s):
                return step(rng.fold_in(s.key, s.step), s, batches[i % batches.shape[0]])[0]
            return lax.fori_loop(0, n_updates, body, state).params
        finally:
            rng.split, rng.fold_in = saved

    return lambda: run(state)


def _counter_bernoulli(key_words, update, layer, p):
    """u < p, u from the Threefry hash of the counter (update, layer · 2**20 + unit index)."""
    index = jax.lax.broadcasted_iota(jnp.uint32, p.shape, p.ndim - 1) + jnp.uint32(layer << 20)
    index = index + jax.lax.broadcasted_iota(jnp.uint32, p.shape, 0) * jnp.uint32(p.shape[-1])
    y0, _ = rng.threefry2x32(key_words[0], key_words[1], jnp.zeros(p.shape, jnp.uint32) + update, index)
    u = jax.lax.bitcast_convert_type((y0 >> 9) | np.uint32(0x3F800000), jnp.float32) - 1
    return (u < p).astype(p.dtype)


def _minimal_update(n_updates: int, counter_keys: bool = False):
    x = jnp.asarray(data.digits()[0], jnp.float32)
    p0 = rbm.init_params(jax.random.key(0), 64, 100)
    batches = x[: (x.shape[0] // 10) * 10].reshape(-1, 10, 64)
    rate = 0.06

    @jax.jit
    def run(w, b, c, v_model, key):
        def body(i, carry):
            w, b, c, v_model = carry
            v = batches[i % batches.shape[0]]
            h_data = jax.nn.sigmoid(v @ w + c)
            if counter_keys:
                words, t = jax.random.key_data(key), i.astype(jnp.uint32)
                h = _counter_bernoulli(words, t, 0, jax.nn.sigmoid(v_model @ w + c))
                v_model = _counter_bernoulli(words, t, 1, jax.nn.sigmoid(h @ w.T + b))
            else:
                k_h, k_v = rng.split(rng.fold_in(key, i))
                h = rng.bernoulli(k_h, jax.nn.sigmoid(v_model @ w + c)).astype(w.dtype)
                v_model = rng.bernoulli(k_v, jax.nn.sigmoid(h @ w.T + b)).astype(w.dtype)
            h_model = jax.nn.sigmoid(v_model @ w + c)
            w = w + rate * (v.T @ h_data - v_model.T @ h_model) / v.shape[0]
            b = b + rate * jnp.mean(v - v_model, axis=0)
            c = c + rate * jnp.mean(h_data - h_model, axis=0)
            return w, b, c, v_model
        return lax.fori_loop(0, n_updates, body, (w, b, c, v_model))[0]

    return lambda: run(p0.W, p0.b, p0.c, x[:10], jax.random.key(3))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--updates", type=int, default=1790)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    variants = {
        "library": _library_step(False, args.updates),
        "trivial keys": _library_step(True, args.updates),
        "minimal update": _minimal_update(args.updates),
        "minimal, counter keys": _minimal_update(args.updates, counter_keys=True),
    }
    for fn in variants.values():
        jax.block_until_ready(fn())  # compile
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append((time.perf_counter() - t0) / args.updates * 1e6)
    for name, ts in times.items():
        print(f"{name:<22} {statistics.median(ts):6.1f} µs per update")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
