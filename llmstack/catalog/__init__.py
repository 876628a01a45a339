"""Catalogs shipped with the package: accelerators and model architectures.

Built from public sources (each entry carries its ``source``); see ``data/*.json``.
Stack specs may add their own entries inline; :mod:`llmstack.spec.resolving` looks
inline entries up first.
"""
