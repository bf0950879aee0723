"""Differentially private engines (marginal-based: `mst`, `aim`). They fit only on a public domain (see
`privacy.domain`), draw all noise from OS entropy, and record their spends in the model's manifest."""

from privsynth.engines.dp import aim, mst  # noqa: F401  (registers the engines)
