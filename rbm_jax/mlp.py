"""Backprop by hand: the notes' two-layer network, a general MLP, and training with either gradient.

This module keeps the names it has always had; each is defined in the ``rbm_jax.backprop``
sub-package and re-exported here unchanged (the same objects):

  * the notes' network and its six chain-rule factors: ``rbm_jax.backprop.notes``;
  * the general MLP with a hand-written backward pass: ``rbm_jax.backprop.network``;
  * training with any gradient function: ``rbm_jax.backprop.training``.

See those modules for the contracts (shapes, ReLU′(0), losses, validation).
"""

from __future__ import annotations

from rbm_jax.backprop.network import (
    ACTIVATIONS,
    LOSSES,
    Layer,
    MLPForward,
    accuracy,
    init_mlp,
    mlp_forward,
    mlp_intermediates,
    mlp_loss,
    mlp_manual_grads,
)
from rbm_jax.backprop.notes import (
    ChainFactors,
    SeedForward,
    SeedMLPParams,
    chain_factors,
    chain_rule_dJ_dW1,
    da1_dh1,
    da2_dh2,
    dh1_dW1,
    dh2_da1,
    dJ_dy,
    dy_da2,
    forward,
    loss,
    manual_grads,
    seed_example,
)
from rbm_jax.backprop.training import (
    TrainMetrics,
    TrainState,
    init_train_state,
    train,
    train_step,
)

__all__ = [
    # the notes' network
    "SeedMLPParams",
    "SeedForward",
    "ChainFactors",
    "seed_example",
    "forward",
    "loss",
    "manual_grads",
    "dJ_dy",
    "dy_da2",
    "da2_dh2",
    "dh2_da1",
    "da1_dh1",
    "dh1_dW1",
    "chain_factors",
    "chain_rule_dJ_dW1",
    # the general MLP
    "ACTIVATIONS",
    "LOSSES",
    "Layer",
    "MLPForward",
    "init_mlp",
    "mlp_forward",
    "mlp_intermediates",
    "mlp_loss",
    "mlp_manual_grads",
    "accuracy",
    # training
    "TrainState",
    "TrainMetrics",
    "init_train_state",
    "train_step",
    "train",
]
