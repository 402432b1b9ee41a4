"""What the boundary value checks cost on a small eager call (run by hand: ``python benchmarks/bench_value_checks.py``).

Times, on a 16 × 8 model and 32 rows, synchronous calls (each result waited
for) of ``rbm.free_energy``, ``rbm.sample_h_given_v`` and
``gibbs.sample_chains`` (10 sweeps), and the fused value check alone
(``_checks.model_values``: 3 params leaves + v, one jitted reduction and one
transfer). Best of 7 repeats of 1,000 calls. To compare with code without the
checks, run this file with ``PYTHONPATH`` pointing at an older checkout (the
check line is then skipped).
"""

import time

import jax
import jax.numpy as jnp

from rbm_jax import _checks, gibbs, rbm


def per_call_us(f, n=1000, repeats=7):
    jax.block_until_ready(f())
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            jax.block_until_ready(f())
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main():
    params = rbm.init_params(jax.random.key(0), 16, 8, weight_scale=0.5)
    v = (jax.random.uniform(jax.random.key(1), (32, 16)) < 0.5).astype(jnp.float32)
    key = jax.random.key(2)
    rows = {
        "rbm.free_energy": lambda: rbm.free_energy(params, v),
        "rbm.sample_h_given_v": lambda: rbm.sample_h_given_v(key, params, v),
        "gibbs.sample_chains (32 chains x 10 sweeps)": lambda: gibbs.sample_chains(key, params, v, 10)[0].v,
    }
    if hasattr(_checks, "model_values"):
        rows["the fused value check alone"] = lambda: _checks.model_values(params, visible=[(v, "v")]) or v
    for name, f in rows.items():
        print(f"{name:48s} {per_call_us(f, 300 if 'chains' in name else 1000):8.1f} us per call")


if __name__ == "__main__":
    main()
