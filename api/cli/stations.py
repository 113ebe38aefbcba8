"""``yizhan stations``: commands (filled in by the capability that owns them)."""

from __future__ import annotations

import typer

app = typer.Typer(help="stations commands", no_args_is_help=True)
areas_app = typer.Typer(help="administrative area (boundary) commands", no_args_is_help=True)
