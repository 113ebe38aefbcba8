"""``yizhan serve``: run the HTTP API (uvicorn over :func:`api.app.create_app`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from api.cli._common import fail, setup_logging


def _parse_networks(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        mode, sep, path = value.partition("=")
        if not sep or not mode.strip() or not path.strip():
            raise fail(f"--network must look like MODE=FILE (e.g. walk=nanshan.osm), got {value!r}")
        out[mode.strip()] = path.strip()
    return out


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    network: Annotated[
        list[str] | None,
        typer.Option(
            "--network", help="MODE=FILE, repeatable (default: YIZHAN_NETWORKS or the Nanshan extract)"
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes", min=1, max=64)] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the yizhan API (OpenAPI docs at /docs, OGC API - Features at /ogc)."""
    import uvicorn
    from pydantic import ValidationError

    from api.app import create_app
    from api.settings import Settings

    setup_logging(verbose)
    overrides: dict[str, object] = {}
    if network:
        overrides["networks"] = _parse_networks(network)
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise fail(f"invalid settings: {exc.errors()[0]['msg']}") from None
    for mode, path in settings.networks.items():
        if not path.exists():
            raise fail(f"network file for {mode} not found: {path}", 3)
    level = "info" if verbose else "warning"
    if workers > 1:  # each worker process builds its own app from the environment
        os.environ["YIZHAN_NETWORKS"] = ",".join(f"{m}={p}" for m, p in settings.networks.items())
        uvicorn.run(
            "api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level=level
        )
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level=level)


def register(app: typer.Typer) -> None:
    """Add ``yizhan serve`` to the main ``yizhan`` app."""
    app.command("serve")(serve)
