"""Evaluation of synthetic data against real data. Never imports engines."""
