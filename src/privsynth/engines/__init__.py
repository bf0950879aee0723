"""Engines learn the joint distribution of an encoded table. See `base` for the protocol and registry."""

from privsynth.engines import argn, copula, dp, independent  # noqa: F401  (registers the engines)
from privsynth.engines.base import ENGINES, Engine, Fitted, make

__all__ = ["ENGINES", "Engine", "Fitted", "make"]
