"""rbm_jax: restricted Boltzmann machines, Gibbs sampling and backprop in functional JAX.

Modules are re-exported so that same-named functions stay module-qualified
(``rbm_jax.exact.log_partition``); the params types (one per family) are re-exported too.
The library never changes JAX's global configuration: enable float64 yourself
(``jax.config.update("jax_enable_x64", True)``) for reference-grade checks.
"""

from rbm_jax import (
    ais,
    binary,
    checkpoint,
    data,
    diagnostics,
    driver,
    estimators,
    exact,
    gibbs,
    gradcheck,
    metrics,
    mlp,
    montecarlo,
    rbm,
    sharding,
    sklearn_interop,
    tempering,
    train,
    types,
)
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams

__all__ = [
    "RBMParams", "GaussianRBMParams", "CategoricalRBMParams", "ais", "binary", "checkpoint", "data", "diagnostics", "driver", "estimators", "exact",
    "gibbs", "gradcheck", "metrics", "mlp", "montecarlo", "rbm", "sharding", "sklearn_interop", "tempering", "train", "types",
]
__version__ = "0.2.0"
