"""Peak resident memory of one long Gibbs run, measured in a process of its own.

Run:  .venv/bin/python benchmarks/memory_probe.py --n-steps N [--n-chains 1000] [--n-visible 64] [--n-hidden 100]
(``benchmarks/bench.py``'s memory section runs it once per step count.)

What it does: builds the float32 RBM of the sampling benchmark
(``rbm.init_params(key(0), n_visible, n_hidden, weight_scale=0.1)``, Bernoulli(0.5)
start states from key(1)), records the process's peak RSS so far, runs
``gibbs.sample_chains(key(2), params, v0, n_steps, transform=gibbs.running_mean(keep_v_and_free_energy))``
(compilation included): every sweep's v and F(v) folded into each chain's running
mean inside the compiled loop, no trace kept; and records the peak RSS again.
Peak RSS is a high-water mark over the process's life, which is why each step
count needs its own process. The reducer's state is two running means per chain,
so the peak should not grow with n_steps (a trace of v would: 1e5 sweeps of
1,000 × 64 float32 chains is 25.6 GB).

Two peaks are reported. ``ru_maxrss_mib`` is ``getrusage(RUSAGE_SELF).ru_maxrss``; but
Linux carries the high-water mark of the process that forked this one through ``exec``,
so when a large process (``bench.py``, with JAX loaded) starts the probe, ru_maxrss is at
least the parent's size at the fork. ``peak_rss_mib`` is ``VmHWM`` from
``/proc/self/status``, the peak of this program's own address space, which starts afresh
at ``exec``; it is the number to read (ru_maxrss where /proc is missing).

It also reports ``mean_v`` and ``mean_free_energy``: the running means over all sweeps,
averaged over chains (and units), as a check that the reducer did its work.

Prints one JSON line (the last line of stdout): n_steps, n_chains, n_visible, n_hidden,
peak_rss_before_run_mib, peak_rss_mib, ru_maxrss_before_run_mib, ru_maxrss_mib, run_s,
mean_v, mean_free_energy.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import jax
import jax.numpy as jnp

from rbm_jax import gibbs, rbm


def ru_maxrss_mib() -> float:
    """``getrusage``'s peak resident set size so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mib() -> float:
    """This program's peak resident set size so far, in MiB: VmHWM (see the module doc)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return ru_maxrss_mib()


def keep_v_and_free_energy(params, state):
    """Each sweep's v [n_visible] and F(v) (a scalar), for the running means."""
    return gibbs.keep_v(params, state), gibbs.keep_free_energy(params, state)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-steps", type=int, required=True, help="Gibbs sweeps of the one run")
    p.add_argument("--n-chains", type=int, default=1_000)
    p.add_argument("--n-visible", type=int, default=64)
    p.add_argument("--n-hidden", type=int, default=100)
    args = p.parse_args(argv)

    params = rbm.init_params(jax.random.key(0), args.n_visible, args.n_hidden, weight_scale=0.1)
    v0 = jax.random.bernoulli(jax.random.key(1), 0.5, (args.n_chains, args.n_visible)).astype(jnp.float32)
    jax.block_until_ready((params, v0))
    before, ru_before = peak_rss_mib(), ru_maxrss_mib()

    t0 = time.perf_counter()
    _, (mean_v, mean_f) = gibbs.sample_chains(jax.random.key(2), params, v0, args.n_steps,
                                              transform=gibbs.running_mean(keep_v_and_free_energy))
    mean_v, mean_f = float(jnp.mean(mean_v)), float(jnp.mean(mean_f))
    run_s = time.perf_counter() - t0

    print(json.dumps({
        "n_steps": args.n_steps, "n_chains": args.n_chains,
        "n_visible": args.n_visible, "n_hidden": args.n_hidden,
        "peak_rss_before_run_mib": before, "peak_rss_mib": peak_rss_mib(),
        "ru_maxrss_before_run_mib": ru_before, "ru_maxrss_mib": ru_maxrss_mib(),
        "run_s": run_s, "mean_v": mean_v, "mean_free_energy": mean_f,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
