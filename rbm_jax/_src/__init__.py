"""Internal building blocks shared across modules, under public names (like optax's _src). Not a stable API."""
