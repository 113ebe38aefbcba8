"""``yizhan serve``: run the HTTP API (uvicorn over :func:`api.app.create_app`).

The networks are served as given (clipped only with ``--clip`` or ``YIZHAN_NETWORK_CLIP``); the
coverage endpoints measure ``--demand`` (else the street length of the served network) over
``--areas`` (else the store's areas). Without ``--network`` the bundled Nanshan sample is served.
Before uvicorn starts, the store is reached and every input is read once: a bad file or an
unreachable database is one line on stderr and a non-zero exit, never a traceback.

Example::

    yizhan serve --network walk=changsha-walk.npz --demand workers.csv --areas townships.geojson
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli._common import exit_code_for, fail, setup_logging
from api.cli.inputs import AREAS_CODE_FIELD_OPT, AREAS_LEVEL_OPT, AREAS_NAME_FIELD_OPT
from geo.errors import YizhanError


def _parse_networks(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        mode, sep, path = value.partition("=")
        if not sep or not mode.strip() or not path.strip():
            raise fail(f"--network must look like MODE=FILE (e.g. walk=nanshan.osm), got {value!r}")
        out[mode.strip()] = path.strip()
    return out


def _overrides(
    network: list[str] | None, clip: str | None, demand: list[str] | None, demand_crs: str | None,
    areas: Path | None, areas_level: str, areas_code_field: str | None, areas_name_field: str | None,
) -> dict[str, Any]:
    """The settings given on the command line (the rest comes from ``YIZHAN_*``)."""
    overrides: dict[str, Any] = {}
    if network:
        overrides["networks"] = _parse_networks(network)
    if clip is not None:
        overrides["network_clip"] = clip
    if demand:
        overrides["demand"] = ",".join(demand)
    if demand_crs is not None:
        overrides["demand_crs"] = demand_crs
    if areas is not None:
        overrides.update(areas=areas, areas_level=areas_level, areas_code_field=areas_code_field,
                         areas_name_field=areas_name_field)
    return overrides


def _environment(settings: Any) -> dict[str, str]:
    """``YIZHAN_*`` variables that rebuild ``settings`` in each worker process."""
    env: dict[str, str] = {}
    if not settings.sample:
        env["YIZHAN_NETWORKS"] = ",".join(f"{m}={p}" for m, p in settings.networks.items())
    clip = settings.network_clip
    env["YIZHAN_NETWORK_CLIP"] = ",".join(map(str, clip)) if clip else "none"
    if settings.demand:
        env["YIZHAN_DEMAND"] = ",".join(settings.demand)
    env["YIZHAN_DEMAND_CRS"] = settings.demand_crs
    if settings.areas is not None:
        env["YIZHAN_AREAS"] = str(settings.areas)
        env["YIZHAN_AREAS_LEVEL"] = settings.areas_level
        for name in ("areas_code_field", "areas_name_field"):
            if getattr(settings, name):
                env[f"YIZHAN_{name.upper()}"] = getattr(settings, name)
    return env


def check_inputs(settings: Any) -> None:
    """Reach the store and read every served input once (the app then finds the networks loaded).

    Raises :class:`typer.Exit` after one line on stderr.
    """
    from api import services
    from geo.db.engine import make_engine

    try:
        make_engine(settings.database_url, check=True).dispose()
    except YizhanError as exc:
        raise fail(f"database: {exc.message}", exit_code_for(exc)) from None
    for mode, path in settings.networks.items():
        if not path.exists():
            raise fail(f"--network: network file for {mode} not found: {path}", 3)
    steps = (("--network", services.load_networks), ("--demand", services.check_demand_files),
             ("--areas", services.settings_areas))
    for option, step in steps:
        try:
            step(settings)
        except YizhanError as exc:
            raise fail(f"{option}: {exc.message}", exit_code_for(exc)) from None


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    network: Annotated[
        list[str] | None,
        typer.Option(
            "--network", help="MODE=FILE, repeatable (default: YIZHAN_NETWORKS or the bundled Nanshan sample)"
        ),
    ] = None,
    clip: Annotated[
        str | None, typer.Option("--clip", help="clip the networks to lon0,lat0,lon1,lat1 (default: none)")
    ] = None,
    demand: Annotated[
        list[str] | None,
        typer.Option("--demand", help="demand: a points file, pois:FILE or network (repeatable; "
                     "default YIZHAN_DEMAND or the street length of the served network)"),
    ] = None,
    demand_crs: Annotated[
        str | None, typer.Option("--demand-crs", help="CRS of a demand points file: wgs84, gcj02, bd09")
    ] = None,
    areas: Annotated[
        Path | None, typer.Option("--areas", help="boundary file of the per-area tables (default: the store)")
    ] = None,
    areas_level: str = AREAS_LEVEL_OPT,
    areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
    areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes", min=1, max=64)] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the yizhan API (OpenAPI docs at /docs, OGC API - Features at /ogc)."""
    import uvicorn
    from pydantic import ValidationError

    from api.app import create_app
    from api.settings import Settings

    setup_logging(verbose)
    overrides = _overrides(network, clip, demand, demand_crs, areas, areas_level, areas_code_field,
                           areas_name_field)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        raise fail(f"invalid settings: {where}: {err['msg']}") from None
    check_inputs(settings)
    # uvicorn's own lines say where it listens and when it is ready; --verbose adds every request
    if workers > 1:  # each worker process builds its own app from the environment
        os.environ.update(_environment(settings))
        uvicorn.run("api.app:create_app", factory=True, workers=workers, host=host, port=port,
                    log_level="info", access_log=verbose)  # fmt: skip
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=verbose)


def register(app: typer.Typer) -> None:
    """Add ``yizhan serve`` to the main ``yizhan`` app."""
    app.command("serve")(serve)
