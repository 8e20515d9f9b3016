"""Training and evaluation: the training loop, frozen-feature caching, the runtime set-up."""
