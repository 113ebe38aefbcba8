"""Registers the station-operations commands: ``yizhan visits``, ``yizhan audit`` and
``yizhan stations qr`` (added to the existing ``stations`` group)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the operations commands to the ``yizhan`` app."""
    from api.cli import audit, stations, stations_qr, visits

    app.add_typer(visits.app, name="visits")
    app.add_typer(audit.app, name="audit")
    stations.app.command("qr")(stations_qr.qr)
