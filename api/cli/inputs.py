"""Inputs shared by the ``yizhan`` commands: stations, demand, areas and candidates from files,
the PostGIS registry or the network, with option-named one-line errors.

``--stations``: a station file (CSV/XLSX/GeoJSON/GPKG), ``db`` (the registry) or ``none``.
``--demand``: ``network`` (street length), ``pois:FILE`` (POIs by ``data/demand_rules.toml``) or a
points file; several are combined. ``--candidates``: a file, ``pois[:FILE]`` or ``network[:METERS]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from api.cli._common import exit_code_for, fail
from api.cli.lang import say
from geo.errors import InputError, YizhanError

STREET_LENGTH_NOTE = (
    "no demand given: demand is street length along the network (sanitation-beat proxy, "
    "layer street_length, 1 weight per km)"
)


#: domain-error ``field`` → the command-line option that supplied it
FIELD_OPTIONS: dict[str, str] = {
    "minutes": "--minutes", "horizon_minutes": "--horizon-minutes", "snap_meters": "--snap-meters",
    "amenities": "--amenity", "open_at": "--open-at", "opening_hours": "--open-at", "status": "--stations",
    "stations": "--stations", "demand": "--demand", "areas": "--areas", "mode": "--mode",
    "network": "--network", "resolution": "--resolution", "clip": "--clip",
    "task_arcs": "--task-arcs", "scheduler": "--scheduler", "add_per_area": "--add-per-area",
    "budget_per_area": "--budget-per-area", "method": "--method",
}


@contextmanager
def option_errors(option: str | None = None) -> Iterator[None]:
    """Turn a domain error into ``error: OPTION: reason`` and its exit code.

    ``option`` names the option being handled; without it the option is found from the error's
    ``field`` (:data:`FIELD_OPTIONS`), else the message is printed as it is.
    """
    try:
        yield
    except YizhanError as exc:
        name = option or FIELD_OPTIONS.get(exc.field or "")
        where = f"{name}: " if name else ""
        raise fail(f"{where}{exc.message}", exit_code_for(exc)) from None


def load_stations(spec: str, *, crs: str | None) -> Any:
    """``db`` (the PostGIS registry), ``none`` (no stations) or a station file (CSV/XLSX/GeoJSON/GPKG)."""
    low = spec.strip().lower()
    with option_errors("--stations"):
        if low == "none":
            from geo.stations import empty_stations_frame

            return empty_stations_frame()
        if low == "db":
            # one SELECT without the ORM (see geo.db.snapshot): this read costs ~0.05 s, importing
            # SQLAlchemy's ORM and GeoAlchemy2 for it ~0.6 s
            from geo.db.snapshot import read_stations

            return read_stations()
        path = Path(spec).expanduser()
        if not path.is_file():
            raise fail(f"--stations: file not found: {path} (give a station file, 'db' or 'none')", 2)
        from geo.stations import read_station_file

        report = read_station_file(path, crs=crs)
    if report.errors:
        first = report.errors[0]
        say(
            f"warning: --stations: {len(report.errors)} row error(s) in {path.name}, those rows left out "
            f"(first: row {first.row} {first.field}: {first.message})",
            err=True,
        )
    if report.frame.empty:
        raise fail(f"--stations: no valid station rows in {path.name}")
    return report.frame


@dataclass
class DemandInfo:
    """What the demand came from (printed with the results)."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    outside_clip: int = 0
    notes: list[str] = field(default_factory=list)
    #: ``file:NAME``, ``pois:NAME``, ``network:street_length`` joined by ``+`` (as the API says)
    demand_source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"sources": self.sources, "outside_clip": self.outside_clip, "notes": self.notes,
                "demand_source": self.demand_source}


def load_demand(
    specs: Sequence[str], *, street_network: Callable[[], Any], crs: str, group: str | None,
    weight_field: str | None, clip: Any,
) -> tuple[Any, DemandInfo]:
    """Read every ``--demand`` (``network``, ``pois:FILE`` or a points file) and combine them.

    ``street_network()`` gives the network whose street length is the ``network`` demand (the walk
    network of the same source, so that walk and e-bike runs measure the same demand). Each spec is
    read by :func:`api.services.read_demand_part`, as the server reads its demand."""
    from api.services import read_demand_part
    from geo.demand import combine_demand

    info = DemandInfo()
    frames = []
    by_use = [s for s in specs if s.strip().lower() == "visits"]  # station operations: --demand visits
    specs = [s for s in specs if s.strip().lower() != "visits"]
    labels = []
    for spec in specs or ["network"]:
        with option_errors("--demand"):
            frame, label = read_demand_part(
                spec, street_network=street_network, crs=crs, group=group, weight_field=weight_field
            )
        if label == "network:street_length":
            info.notes.append((STREET_LENGTH_NOTE if not specs else (
                "demand includes street length along the network "
                "(sanitation-beat proxy, layer street_length)"
            )) + f" of the {street_network().mode} network")
        layer = str(frame["layer"].iloc[0]) if len(frame) else None
        info.sources.append({"spec": spec, "layer": layer, "points": len(frame),
                             "weight": float(frame["weight"].sum()), "source": label})
        frames.append(frame)
        labels.append(label)
    info.demand_source = "+".join(labels)
    with option_errors("--demand"):
        demand = combine_demand(*frames) if len(frames) > 1 else frames[0]
    if clip is not None and len(demand):
        inside = demand.geometry.intersects(clip).to_numpy()
        info.outside_clip = int((~inside).sum())
        if info.outside_clip:
            info.notes.append(f"{info.outside_clip} demand point(s) outside --clip left out")
            demand = demand[inside].reset_index(drop=True)
    if demand.empty:
        raise fail("--demand: no demand points to measure")
    if by_use:  # station operations: each station's catchment weighted by its observed use
        from geo.db.engine import session_scope
        from geo.ops.demand import station_use, weight_demand_by_use

        with option_errors("--demand"), session_scope() as session:
            demand, weighting = weight_demand_by_use(demand, station_use(session))
        info.notes.append(weighting.note())
    return demand, info


def load_areas(
    path: Path, *, level: str, code_field: str | None = None, name_field: str | None = None
) -> Any:
    """Areas from a boundary file (GeoJSON/GPKG/SHP) or the admin boundaries of an ``.osm`` extract
    (``admin_level`` 6/8/10 for county/township/community), as ``--areas`` and its options say."""
    from api.services import read_areas_file

    with option_errors("--areas"):
        areas = read_areas_file(path, level=level, code_field=code_field, name_field=name_field)
    unclosed = areas.attrs.get("unclosed") or []
    if unclosed:
        say(f"warning: --areas: boundary does not close in {path.name}, left out: "
                   f"{', '.join(unclosed)}", err=True)
    return areas


def _pois_path(spec: str) -> str | None:
    return spec[len("pois:") :] if spec.lower().startswith("pois:") else None


#: help of a --candidates option whose default is :func:`load_candidates`' own
CANDIDATES_HELP = ("candidate sites: a file, pois[:FILE] (host POIs) or network[:METERS] (default: the "
                   "host POIs of --demand pois:FILE, else street nodes every 300 m)")


def load_candidates(spec: str | None, *, demand_spec: str, network: Any) -> Any:
    """``pois`` (host POIs of the demand's POI file), ``pois:FILE``, ``network[:METERS]`` or a file;
    None: the host POIs when the demand is ``pois:FILE``, else street nodes every 300 m (any area
    has streets; not every demand file comes with POIs)."""
    from geo.siting import candidates_from_file, candidates_from_network, candidates_from_pois

    if spec is None:
        spec = "pois" if _pois_path(demand_spec) is not None else "network"
    low = spec.lower()
    if low == "pois":
        path = _pois_path(demand_spec)
        if path is None:
            raise InputError(
                "--candidates pois needs --demand pois:FILE (or give pois:FILE)", field="candidates"
            )
        return candidates_from_pois(path)
    if low.startswith("pois:"):
        return candidates_from_pois(spec[5:])
    spacing = candidate_spacing(spec)
    if spacing is not None:
        return candidates_from_network(network, spacing_meters=spacing)
    return candidates_from_file(spec)


def candidate_spacing(spec: str, *, default_meters: float = 300.0) -> float | None:
    """The node spacing of ``--candidates network[:METERS]`` (a number > 0), None for any other value."""
    from geo.checks import check_positive

    low = spec.strip().lower()
    if low != "network" and not low.startswith("network:"):
        return None
    meters = low.partition(":")[2]
    return check_positive(meters, field="--candidates") if meters else default_meters




#: the coordinate system of an input file, converted to WGS-84 on input (docs/ARCHITECTURE.md, "CRS policy")
STATIONS_CRS_OPT = typer.Option(
    None, "--stations-crs",
    help="coordinates of the station file: wgs84, gcj02 or bd09 (default: as the file says)",
)
DEMAND_CRS_OPT = typer.Option(
    "wgs84", "--demand-crs", help="coordinates of a points file: wgs84, gcj02, bd09"
)
AREAS_OPT = typer.Option(
    None, "--areas",
    help="boundaries: GeoJSON/GPKG/SHP, or an .osm extract (admin_level 6/8/10 by --areas-level)",
)
AREAS_LEVEL_OPT = typer.Option(
    "township", "--areas-level", help="level of --areas: county, township, community"
)
AREAS_CODE_FIELD_OPT = typer.Option(
    None, "--areas-code-field", help="code column of --areas (default: code, adcode, 行政区划代码…)"
)
AREAS_NAME_FIELD_OPT = typer.Option(
    None, "--areas-name-field", help="name column of --areas (default: name, 名称…)"
)


def demand_specs(spec: str | Sequence[str] | None) -> list[str]:
    """One ``--demand`` value or several, as a list."""
    if spec is None:
        return []
    return [spec] if isinstance(spec, str) else list(spec)
