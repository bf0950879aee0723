"""Differential privacy: the accountant, public domains for DP fits, and the per-source budget ledger."""
