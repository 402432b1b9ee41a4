"""Converting parameters to and from scikit-learn's ``BernoulliRBM``.

scikit-learn stores ``components_`` [n_components, n_features] = Wᵀ,
``intercept_hidden_`` = c and ``intercept_visible_`` = b, with the same energy
E(v, h) = −bᵀv − cᵀh − vᵀWh; so conversion is a transpose, and free energies
and pseudo-likelihoods agree on both sides (tested). scikit-learn is a
``[dev]`` extra, imported only when these functions are called.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks
from rbm_jax.rbm import RBMParams

__all__ = ["to_sklearn", "from_sklearn"]


def _sklearn_rbm():
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        raise ImportError(
            "scikit-learn is needed for rbm_jax.sklearn_interop: pip install -e '.[dev]'") from None
    return BernoulliRBM


def to_sklearn(params: RBMParams, **kwargs):
    """A fitted-looking ``BernoulliRBM`` holding ``params`` (float64 copies).

    Keyword arguments go to the ``BernoulliRBM`` constructor (``learning_rate``,
    ``batch_size``, ``random_state``, ...); ``n_components`` is set from ``params``.
    """
    params = _checks.rbm_params(params)
    if not isinstance(params, RBMParams):
        raise TypeError(f"params must be binary RBMParams: scikit-learn's BernoulliRBM has binary visible units, "
                        f"got {type(params).__name__}")
    BernoulliRBM = _sklearn_rbm()
    model = BernoulliRBM(n_components=params.n_hidden, **kwargs)
    model.components_ = np.array(params.W, np.float64).T.copy()
    model.intercept_hidden_ = np.array(params.c, np.float64)
    model.intercept_visible_ = np.array(params.b, np.float64)
    model.n_features_in_ = params.n_visible
    # What fit() would leave behind, so partial_fit/gibbs work on the result.
    model.h_samples_ = np.zeros((model.batch_size, params.n_hidden))
    model.random_state_ = np.random.RandomState(model.random_state if isinstance(model.random_state, int) else None)
    return model


def from_sklearn(model, *, dtype=jnp.float32) -> RBMParams:
    """``RBMParams`` from a fitted ``BernoulliRBM``."""
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        if not hasattr(model, name):
            raise ValueError(f"model has no {name}: fit the BernoulliRBM (or use to_sklearn) first")
    dtype = _checks.float_dtype(dtype)
    W = jnp.asarray(np.asarray(model.components_).T, dtype)
    return _checks.rbm_params(RBMParams(W, jnp.asarray(model.intercept_visible_, dtype),
                                        jnp.asarray(model.intercept_hidden_, dtype)), "model")
