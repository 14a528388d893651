"""`lifecycle runs | artifacts | lineage | diff`: read ML Metadata, never write it."""

from __future__ import annotations


def register(commands) -> None:
    """Adds this module's subcommands to the `lifecycle` parser."""
