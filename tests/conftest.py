"""Shared test setup: compilation cache, float64 fixture, hypothesis profile, model factories."""

from __future__ import annotations

import os
import pathlib

import jax
import jax.numpy as jnp
import pytest
from hypothesis import HealthCheck, settings

from rbm_jax.rbm import RBMParams

ROOT = pathlib.Path(__file__).resolve().parents[1]

# JAX's persistent compilation cache makes repeated local runs fast; CI starts
# from a clean clone and simply fills it. Tests never rely on it.
jax.config.update("jax_compilation_cache_dir", str(ROOT / ".jax_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

# JAX compiles on first call, so per-example deadlines would flake.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # same examples every run: no flakes
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def x64():
    """Runs the test with float64 enabled, restoring JAX's setting afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def read_only_dir(tmp_path):
    """An empty folder nothing can write into, root included (chmod, else ``chattr +i``)."""
    import subprocess
    import tempfile

    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        folder.chmod(0o755)
        pytest.skip("cannot make a read-only folder here (root, and no chattr)")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def random_params(seed: int, n_visible: int, n_hidden: int, *, scale: float = 1.0, dtype=None):
    """A random RBM with N(0, scale²) weights and biases (dtype: the default float)."""
    if dtype is None:
        dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    kw, kb, kc = jax.random.split(jax.random.key(seed), 3)
    return RBMParams(
        scale * jax.random.normal(kw, (n_visible, n_hidden), dtype),
        scale * jax.random.normal(kb, (n_visible,), dtype),
        scale * jax.random.normal(kc, (n_hidden,), dtype),
    )


# Small models in both orientations (fewer visible than hidden units and the reverse).
SMALL_SHAPES = [(3, 5), (5, 3), (4, 4), (2, 7), (6, 2)]


def tv_bound(p, n: int) -> float:
    """4 × ½ Σ sqrt(p(1−p)/n): four times the scale of the TV between P and an n-sample histogram.

    The expected TV of an n-sample histogram is about ½ Σ sqrt(2 p(1−p)/(π n)) ≈ 0.8 × that
    scale, so a correct sampler passes with a wide margin while a visibly wrong one fails.
    """
    import numpy as np

    p = np.asarray(p, np.float64)
    return float(4 * 0.5 * np.sum(np.sqrt(p * (1 - p) / n)))


def tv(samples, p) -> float:
    """TV distance between the histogram of binary rows ``samples`` [..., n] and ``p`` [2**n]."""
    from rbm_jax import exact

    return float(exact.total_variation(exact.empirical_distribution(samples), p))
