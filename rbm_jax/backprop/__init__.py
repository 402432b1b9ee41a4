"""Backprop by hand: the notes' two-layer network, a general MLP, and training with either gradient.

One concept per module:

  * ``notes``: the lecture notes' worked example (``seed_example``, ``forward``, ``loss``,
    ``manual_grads``) and its six chain-rule factors (``dJ_dy`` ... ``dh1_dW1``,
    ``chain_factors``, ``chain_rule_dJ_dW1``).
  * ``network``: a general MLP (``Layer``, ``init_mlp``, ``mlp_forward``, ``mlp_loss``,
    ``accuracy``) with a hand-written backward pass (``mlp_manual_grads``).
  * ``training``: one jitted ``lax.scan`` of optax updates with any gradient function
    (``TrainState``, ``TrainMetrics``, ``init_train_state``, ``train_step``, ``train``).
  * ``types``: the parameter pytrees (``SeedMLPParams``, ``Layer``) and the accepted names
    (``ACTIVATIONS``, ``LOSSES``); it imports nothing else from the package.

Internal: ``_checks`` (boundary validation) and ``_core`` (ReLU′ with a chosen value at 0), both
under public names. ``rbm_jax.mlp`` re-exports all of it under the names it always had.
"""

from rbm_jax.backprop import network, notes, training, types

__all__ = ["network", "notes", "training", "types"]
