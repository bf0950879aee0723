"""Augmentation: conditions, rebalancing, constraints."""
