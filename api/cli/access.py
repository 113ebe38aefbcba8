"""``yizhan access``: 2SFCA accessibility of station capacity per demand point and per area.

Example::

    yizhan access --network walk=changsha-walk.npz --stations stations.csv --demand workers.csv \\
        --areas townships.geojson --minutes 15 --decay gaussian --out access/ --json

Station capacity (visits per day) comes from a ``capacity`` column, else seats, else the visit log's
90th-percentile day (``--visits FILE|db``), else the default of ``data/capacity.toml``
(:func:`geo.capacity.station_capacity`); the mathematics is in :mod:`geo.capacity.access`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from api.cli._common import domain_errors, fail, print_json, setup_logging
from api.cli.inputs import (
    AREAS_CODE_FIELD_OPT,
    AREAS_LEVEL_OPT,
    AREAS_NAME_FIELD_OPT,
    AREAS_OPT,
    load_areas,
    load_demand,
    load_stations,
    option_errors,
)
from api.cli.lang import say

log = logging.getLogger(__name__)


@contextmanager
def flag_errors() -> Iterator[None]:
    """A check that names the flag in its own wording (``field="--minutes"``): ``error: <wording>``,
    exit 2."""
    from geo.errors import InputError

    try:
        yield
    except InputError as exc:
        raise fail(exc.message) from None


def _network(spec: str, mode: str) -> Any:
    """``MODE=FILE`` or a plain FILE (with ``--mode``)."""
    from api.services import load_network_file
    from geo.checks import check_mode

    m, sep, path = spec.partition("=")
    if sep and not Path(spec).exists():
        if not m.strip() or not path.strip():
            raise fail(f"--network must look like MODE=FILE (e.g. walk=area-walk.npz), got {spec!r}")
        mode, spec = m.strip(), path.strip()
    with option_errors("--mode"):
        mode = check_mode(mode)
    file = Path(spec).expanduser()
    if not file.exists():
        raise fail(f"--network: file not found: {file}", 3)
    with option_errors("--network"):
        return load_network_file(file, mode)


def _visits(spec: str | None) -> Any:
    if spec is None:
        return None
    from geo.capacity import visits_from_db, visits_from_file

    with option_errors("--visits"):
        if spec.strip().lower() == "db":
            from geo.db.engine import session_scope

            with session_scope() as session:
                return visits_from_db(session)
        path = Path(spec).expanduser()
        if not path.is_file():
            raise fail(f"--visits: file not found: {path} (give a visit file or 'db')", 3)
        return visits_from_file(path)


def _write(result: Any, out: Path) -> list[Path]:
    """access_points.geojson, access_by_area.csv and access_stations.csv, each written to a temporary
    file and renamed."""
    from api.cli.coverage import write_geojson
    from geo.text import atomic_path, write_csv

    out.mkdir(parents=True, exist_ok=True)
    points = out / "access_points.geojson"
    with atomic_path(points, field="--out") as tmp:
        write_geojson(result.points, tmp)
    stations = result.stations.drop(columns=[result.stations.geometry.name])
    stations.insert(len(stations.columns), "lon", result.stations.geometry.x.to_numpy())
    stations.insert(len(stations.columns), "lat", result.stations.geometry.y.to_numpy())
    if "amenities" in stations.columns:
        stations["amenities"] = [";".join(map(str, v)) if isinstance(v, list | tuple) else v
                                 for v in stations["amenities"]]
    return [points, write_csv(result.by_area, out / "access_by_area.csv", field="--out"),
            write_csv(stations, out / "access_stations.csv", field="--out")]


def _print(result: Any) -> None:
    from geo.text import pad

    s = result.summary
    sources = result.stations["capacity_source"].value_counts().to_dict()
    say(
        f"2SFCA ({s['decay']} decay, catchment {s['minutes']:g} min {s['mode']}): {s['stations']} stations, "
        f"capacity {s['capacity_total']:.1f} visits/day ({', '.join(f'{k} {v}' for k, v in sources.items())})"
    )
    say(
        f"demand {s['demand_total']:.6g} over {s['demand_count']} points: mean access "
        f"{s['access_mean']:.4g} visits/day per unit weight, median {s['access_median']:.4g}; "
        f"no station in reach: {s['zero_access_share']:.1%} of the weight"
    )
    for row in result.by_area.itertuples(index=False):
        if row.demand_count:
            say(f"  {pad(row.area_code, 14)} {pad(row.area_name, 16)} mean {row.access_mean:.4g}  "
                       f"zero {row.zero_access_share:.1%}  stations {row.stations}")


NETWORK_OPT = typer.Option(..., "--network", help="street network: MODE=FILE or a FILE (with --mode)")
STATIONS_OPT = typer.Option(..., "--stations", help="stations: a station file or 'db' (the registry)")
DECAY_OPT = typer.Option("gaussian", "--decay", help="distance decay in the catchment: gaussian or none")
VISITS_OPT = typer.Option(None, "--visits", help="visit log for station capacity: a visit file or 'db'")
ALL_STATUSES_OPT = typer.Option(False, "--all-statuses", help="count planned and closed stations too")


def register(app: typer.Typer) -> None:
    """Add ``yizhan access`` to the main app."""

    @app.command("access")
    @domain_errors
    def access(
        network: str = NETWORK_OPT,
        stations: str = STATIONS_OPT,
        stations_crs: str | None = typer.Option(None, "--stations-crs", help="CRS of a station file"),
        demand: list[str] = typer.Option(..., "--demand", help="demand: a points file, pois:FILE or network"),
        demand_crs: str = typer.Option("wgs84", "--demand-crs", help="CRS of a demand points file"),
        demand_weight_field: str | None = typer.Option(None, "--demand-weight-field",
                                                       help="weight column of a points file"),
        areas: Path | None = AREAS_OPT,
        areas_level: str = AREAS_LEVEL_OPT,
        areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
        areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
        mode: str = typer.Option("walk", "--mode", help="travel mode when --network is a plain FILE"),
        minutes: float = typer.Option(15.0, "--minutes", help="catchment T, minutes"),
        decay: str = DECAY_OPT,
        visits: str | None = VISITS_OPT,
        all_statuses: bool = ALL_STATUSES_OPT,
        snap_meters: float = typer.Option(300.0, "--snap-meters", help="snap limit, metres"),
        out: Path | None = typer.Option(
            None, "--out", help="directory for access_points.geojson, access_by_area.csv, access_stations.csv"
        ),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
    ) -> None:
        """Capacity within reach of every worker (2SFCA), per demand point and per area."""
        setup_logging(verbose)
        from geo.capacity import DECAYS, two_step_fca
        from geo.checks import check_choice, check_minutes, check_non_negative
        from geo.coverage import select_stations

        with flag_errors():  # the checks' wording names the flag itself
            minutes = check_minutes(minutes, field="--minutes")
            decay = check_choice(decay, field="--decay", choices=DECAYS)
            snap_meters = check_non_negative(snap_meters, field="--snap-meters", unit="metres")
        if out is not None and out.exists() and not out.is_dir():
            raise fail(f"--out: {out} exists and is not a directory")
        net = _network(network, mode)
        if stations.strip().lower() == "none":
            raise fail("--stations: 2SFCA needs stations (a station file or 'db')")
        with option_errors("--stations"):
            frame = select_stations(load_stations(stations, crs=stations_crs), open_only=not all_statuses)
        if frame.empty:
            raise fail("--stations: no open stations (use --all-statuses to count planned ones)")
        demand_frame, info = load_demand(demand, street_network=lambda: net, crs=demand_crs, group=None,
                                         weight_field=demand_weight_field, clip=None)
        area_frame = None if areas is None else load_areas(
            areas, level=areas_level, code_field=areas_code_field, name_field=areas_name_field)
        log_visits = _visits(visits)
        with option_errors():
            result = two_step_fca(net, frame, demand_frame, minutes=minutes, decay=decay, visits=log_visits,
                                  areas=area_frame, snap_meters=snap_meters)
        payload = result.as_dict()
        payload["capacity_sources"] = {str(k): int(v) for k, v in
                                       result.stations["capacity_source"].value_counts().items()}
        payload["demand"] = info.as_dict()
        if out is not None:
            payload["outputs"] = [str(p) for p in _write(result, out)]
        if as_json:
            print_json(payload)
            return
        _print(result)
        if out is not None:
            say(f"wrote {', '.join(payload['outputs'])}")
