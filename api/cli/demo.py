"""``yizhan demo``: top-level command(s), registered on the main app by :func:`register`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the main ``yizhan`` app."""
