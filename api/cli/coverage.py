"""``yizhan coverage`` and ``yizhan gaps``: the 15-minute service circle and where it is missing.

Examples::

    yizhan coverage --network nanshan.osm --clip 113.92,22.535,113.97,22.56 --stations banks.csv \\
        --demand pois:nanshan_pois.geojson --mode walk --minutes 15 --out out/ --json
    yizhan gaps --network nanshan.osm --stations db --demand network --minutes 15 --top 10 --out gaps.geojson

``--demand`` may be given several times; the frames are combined. Without ``--demand`` the street
length of the network is the demand (the sanitation-beat proxy, layer ``street_length``) and the
output says so.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer

from api.cli._common import domain_errors, fail, print_json, setup_logging
from api.cli.inputs import (
    AREAS_CODE_FIELD_OPT,
    AREAS_LEVEL_OPT,
    AREAS_NAME_FIELD_OPT,
    AREAS_OPT,
    DemandInfo,
    default_lang,
    load_areas,
    load_demand,
    load_stations,
    option_errors,
)

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ helpers
def _json_value(value: Any) -> Any:
    """Plain JSON value: numpy scalars to Python, NaN/NA to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a (non-geo) table as JSON-ready dicts."""
    cols = [c for c in frame.columns if c != "geometry"]
    return [{str(c): _json_value(v) for c, v in zip(cols, row, strict=True)}
            for row in frame[cols].itertuples(index=False, name=None)]


def write_geojson(gdf: Any, path: Path) -> Path:
    """Write a GeoDataFrame as UTF-8 GeoJSON (EPSG:4326; NaN → null; Chinese kept readable)."""
    frame = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    props = [c for c in frame.columns if c != frame.geometry.name]
    features = []
    for row, geom in zip(records(frame[props]), frame.geometry, strict=True):
        features.append({
            "type": "Feature",
            "properties": row,
            "geometry": None if geom is None or geom.is_empty else geom.__geo_interface__,
        })
    doc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4326"}},
           "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, default=_json_value), encoding="utf-8")
    return path


def _check_inputs(
    *, mode: str, minutes: float, horizon_minutes: float, snap_meters: float, open_at: str | None,
    amenity: Sequence[str], clip: str | None, resolution: int | None = None, top: int | None = None,
) -> tuple[str, datetime | None, list[str], Any]:
    """Validate the cheap options before any file is read."""
    from geo.catalog import resolve_amenity, resolve_mode

    with option_errors("--mode"):
        mode = resolve_mode(mode)
    if not (math.isfinite(minutes) and minutes > 0):
        raise fail(f"--minutes must be a number > 0, got {minutes:g}")
    if not (math.isfinite(horizon_minutes) and horizon_minutes >= minutes):
        raise fail(f"--horizon-minutes must be ≥ --minutes ({minutes:g}), got {horizon_minutes:g}")
    if not (math.isfinite(snap_meters) and snap_meters >= 0):
        raise fail(f"--snap-meters must be ≥ 0, got {snap_meters:g}")
    if resolution is not None and not 0 <= resolution <= 15:
        raise fail(f"--resolution must be an H3 resolution 0–15, got {resolution}")
    if top is not None and top < 1:
        raise fail(f"--top must be ≥ 1, got {top}")
    when = None
    if open_at is not None:
        from geo.hours import parse_when

        with option_errors("--open-at"):
            when = parse_when(open_at)
    with option_errors("--amenity"):
        amenities = [resolve_amenity(a) for a in amenity]
    clip_geom = None
    if clip is not None:
        from geo.network import parse_clip

        with option_errors("--clip"):
            clip_geom = parse_clip(clip)
    return mode, when, amenities, clip_geom


@dataclass
class Run:
    """One coverage run with the inputs it used."""

    result: Any
    stations: Any
    demand_info: DemandInfo
    #: with --amenity: the stations with no amenity data (unknown, not known to lack it)
    amenity_unknown: list[str] | None = None


def run_coverage(
    *, network: Path, stations: str, stations_crs: str | None, demand: Sequence[str], demand_crs: str,
    demand_group: str | None, demand_weight_field: str | None, areas: Path | None, areas_level: str,
    mode: str, minutes: float, horizon_minutes: float, open_at: str | None, amenity: Sequence[str],
    clip: str | None, snap_meters: float, speed_kph: float | None, all_statuses: bool,
    resolution: int | None = None, top: int | None = None, areas_code_field: str | None = None,
    areas_name_field: str | None = None,
) -> Run:
    """Validate the options, load every input and compute coverage (shared by both commands)."""
    mode, when, amenities, clip_geom = _check_inputs(
        mode=mode, minutes=minutes, horizon_minutes=horizon_minutes, snap_meters=snap_meters,
        open_at=open_at, amenity=amenity, clip=clip, resolution=resolution, top=top,
    )
    if speed_kph is not None and not (math.isfinite(speed_kph) and speed_kph > 0):
        raise fail(f"--speed-kph must be > 0, got {speed_kph:g}")
    from geo.coverage import compute_coverage
    from geo.network import load_network

    if not network.exists():
        raise fail(f"--network: file not found: {network}", 3)
    if network.suffix.lower() == ".npz" and clip_geom is not None:
        raise fail("--clip: a .npz network is already clipped; build it again with the clip instead")
    with option_errors("--network"):
        net = load_network(network, mode=mode, speed_kph=speed_kph,
                           clip=clip_geom if network.suffix.lower() != ".npz" else None)
    if net.n_nodes == 0:
        raise fail(f"--network: no {mode} streets in {network.name}" + (" inside --clip" if clip else ""))
    station_frame = load_stations(stations, crs=stations_crs)
    from geo.report import stations_off_network

    with option_errors("--stations"):  # a list none of whose stations the network reaches: say which
        stations_off_network({mode: net}, station_frame, max_meters=max(snap_meters, 1.0))
    def street_network() -> Any:
        if net.mode == "walk" or network.suffix.lower() == ".npz":
            return net
        with option_errors("--network"):
            return load_network(network, mode="walk", clip=clip_geom)

    demand_frame, info = load_demand(
        demand, street_network=street_network, crs=demand_crs, group=demand_group,
        weight_field=demand_weight_field, clip=clip_geom,
    )
    area_frame = None if areas is None else load_areas(
        areas, level=areas_level, code_field=areas_code_field, name_field=areas_name_field)
    with option_errors():
        result = compute_coverage(
            net, station_frame, demand_frame, minutes=minutes, horizon_minutes=horizon_minutes,
            areas=area_frame, open_only=not all_statuses, open_at=when, amenities=amenities,
            snap_meters=snap_meters,
        )
    unknown = None
    if amenities:
        from geo.report import amenity_unknown

        unknown = amenity_unknown(station_frame, open_only=not all_statuses)
    return Run(result=result, stations=station_frame, demand_info=info, amenity_unknown=unknown)


def coverage_dict(run: Run) -> dict[str, Any]:
    """Summary keys + ``by_area`` + ``by_group`` (+ ``demand`` provenance) as JSON-ready data."""
    out = run.result.summary.as_dict()
    out["by_area"] = records(run.result.by_area)
    out["by_group"] = records(run.result.by_group)
    out["demand"] = run.demand_info.as_dict()
    if run.amenity_unknown is not None:
        out["amenity_unknown"] = {"count": len(run.amenity_unknown), "stations": run.amenity_unknown[:100]}
    return out


def _fmt(x: Any, spec: str = ".1f") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def print_summary(run: Run) -> None:
    s = run.result.summary.as_dict()
    share = s["covered_share"]
    typer.echo(
        f"{s['mode']}, {s['minutes']:g} min: {s['stations']} station(s); covered {s['demand_covered']:.1f} "
        f"of {s['demand_total']:.1f} demand ({_fmt(None if share is None else 100 * share)} %); "
        f"minutes mean {_fmt(s['mean_minutes'])}, median {_fmt(s['median_minutes'])}, "
        f"p95 {_fmt(s['p95_minutes'])}"
    )
    typer.echo(
        f"unreachable {s['unreachable']['count']} point(s) (weight {s['unreachable']['weight']:.1f}); "
        f"unsnappable {s['unsnappable']['count']} point(s) (weight {s['unsnappable']['weight']:.1f})"
    )
    for note in run.demand_info.notes:
        typer.echo(f"note: {note}")
    if run.amenity_unknown:
        shown = ", ".join(run.amenity_unknown[:10]) + (" …" if len(run.amenity_unknown) > 10 else "")
        typer.echo(f"note: --amenity: {len(run.amenity_unknown)} station(s) have no amenity data (unknown, "
                   f"left out of the count): {shown}")
    tables = (("by group", run.result.by_group, "group"), ("by area", run.result.by_area, "area_name"))
    for title, frame, key in tables:
        if frame.empty:
            continue
        typer.echo(f"{title}:")
        for rec in records(frame):
            typer.echo(
                f"  {rec[key]!s:<24} covered {rec['demand_covered']:>10.1f} / {rec['demand_total']:>10.1f} "
                f"({_fmt(None if rec['covered_share'] is None else 100 * rec['covered_share'])} %), "
                f"median {_fmt(rec['median_minutes'])} min"
            )


def _gap_records(gaps: Any) -> list[dict[str, Any]]:
    table = gaps.drop(columns=gaps.geometry.name)
    rows = records(table)
    cent = gaps.geometry.representative_point()
    for row, pt in zip(rows, cent, strict=True):
        row["lon"] = round(float(pt.x), 6)
        row["lat"] = round(float(pt.y), 6)
    return rows


def print_gaps(gaps: Any, *, n: int) -> None:
    a = gaps.attrs
    typer.echo(
        f"{len(gaps)} hexagon(s) at H3 resolution {a['resolution']} hold {a['uncovered_weight']:.1f} "
        f"uncovered demand in {a['uncovered_count']} point(s); unsnappable (not in hexagons): "
        f"{a['unsnappable_count']} point(s), weight {a['unsnappable_weight']:.1f}"
    )
    for rec in _gap_records(gaps.head(n)):
        if rec["nearest_minutes"] is None:
            near = "no station within the horizon"
        else:
            name = rec["nearest_station_name"] or rec["nearest_station"]
            near = f"nearest {name} ({_fmt(rec['nearest_minutes'])} min)"
        typer.echo(
            f"{rec['rank']:>3}  {rec['h3']}  weight {rec['uncovered_weight']:>8.2f}  "
            f"points {rec['demand_count']:>4}  "
            f"{rec['main_group']:<18} {near}  "
            f"at {rec['lon']:.5f},{rec['lat']:.5f}"
        )


# ------------------------------------------------------------------------------------------ commands
NETWORK_OPT = typer.Option(..., "--network", help="street network: .osm, .graphml or yizhan .npz")
STATIONS_OPT = typer.Option(..., "--stations", help="stations: a station file, 'db' (the registry) or 'none'")
STATIONS_CRS_OPT = typer.Option(
    None, "--stations-crs",
    help="coordinates of the station file: wgs84, gcj02 or bd09 (default: as the file says)",
)
DEMAND_OPT = typer.Option(
    [], "--demand",
    help="demand: a points file, pois:FILE, network (street length) or visits (weight by observed use); "
    "repeat to combine; default network",
)
DEMAND_CRS_OPT = typer.Option(
    "wgs84", "--demand-crs", help="coordinates of a points file: wgs84, gcj02, bd09"
)
DEMAND_GROUP_OPT = typer.Option(None, "--demand-group", help="worker group of a points file's points")
DEMAND_WEIGHT_OPT = typer.Option(None, "--demand-weight-field", help="weight column of a points file")
MODE_OPT = typer.Option("walk", "--mode", help="travel mode: walk or ebike")
MINUTES_OPT = typer.Option(15.0, "--minutes", help="travel-time threshold, minutes")
HORIZON_OPT = typer.Option(60.0, "--horizon-minutes", help="search limit, minutes (farther = unreachable)")
OPEN_AT_OPT = typer.Option(None, "--open-at", help='count only stations open then, e.g. "2026-11-22 22:00"')
AMENITY_OPT = typer.Option([], "--amenity", help="count only stations offering this (repeatable)")
CLIP_OPT = typer.Option(None, "--clip", help="study area: minx,miny,maxx,maxy (WGS-84) or a polygon file")
SNAP_OPT = typer.Option(300.0, "--snap-meters", help="snap limit, metres")
SPEED_OPT = typer.Option(None, "--speed-kph", help="speed, km/h (default from data/modes.toml)")
ALL_STATUSES_OPT = typer.Option(False, "--all-statuses", help="count planned and closed stations too")
JSON_OPT = typer.Option(False, "--json", help="print JSON")
VERBOSE_OPT = typer.Option(False, "--verbose", "-v", help="log progress")


def register(app: typer.Typer) -> None:
    """Add ``yizhan coverage`` and ``yizhan gaps`` to the main app."""

    @app.command("coverage")
    @domain_errors
    def coverage(
        network: Path = NETWORK_OPT,
        stations: str = STATIONS_OPT,
        stations_crs: str | None = STATIONS_CRS_OPT,
        demand: list[str] = DEMAND_OPT,
        demand_crs: str = DEMAND_CRS_OPT,
        demand_group: str | None = DEMAND_GROUP_OPT,
        demand_weight_field: str | None = DEMAND_WEIGHT_OPT,
        areas: Path | None = AREAS_OPT,
        areas_level: str = AREAS_LEVEL_OPT,
        areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
        areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
        mode: str = MODE_OPT,
        minutes: float = MINUTES_OPT,
        horizon_minutes: float = HORIZON_OPT,
        open_at: str | None = OPEN_AT_OPT,
        amenity: list[str] = AMENITY_OPT,
        clip: str | None = CLIP_OPT,
        snap_meters: float = SNAP_OPT,
        speed_kph: float | None = SPEED_OPT,
        all_statuses: bool = ALL_STATUSES_OPT,
        out: Path | None = typer.Option(
            None, "--out",
            help="directory for demand.geojson, covered_area.geojson, gaps.geojson, by_area/by_group.csv",
        ),
        resolution: int = typer.Option(9, "--resolution", help="H3 resolution of gaps.geojson"),
        lang: str = typer.Option("", "--lang", help="zh or en: CSV headers (default YIZHAN_LANG, else en)"),
        as_json: bool = JSON_OPT,
        verbose: bool = VERBOSE_OPT,
    ) -> None:
        """Share of demand within --minutes of an open station, per area and worker group."""
        setup_logging(verbose)
        if out is not None and out.exists() and not out.is_dir():
            raise fail(f"--out: {out} exists and is not a directory")
        if lang and lang not in ("zh", "en"):
            raise fail(f"--lang must be zh or en, got {lang!r}")
        run = run_coverage(
            network=network, stations=stations, stations_crs=stations_crs, demand=demand,
            demand_crs=demand_crs, demand_group=demand_group, demand_weight_field=demand_weight_field,
            areas=areas, areas_level=areas_level, areas_code_field=areas_code_field,
            areas_name_field=areas_name_field, mode=mode, minutes=minutes,
            horizon_minutes=horizon_minutes, open_at=open_at, amenity=amenity, clip=clip,
            snap_meters=snap_meters, speed_kph=speed_kph, all_statuses=all_statuses, resolution=resolution,
        )
        payload = coverage_dict(run)
        if out is not None:
            written = write_outputs(run, out, resolution=resolution, lang=lang or default_lang("en"))
            payload["outputs"] = [str(p) for p in written]
        if as_json:
            print_json(payload)
            return
        print_summary(run)
        if out is not None:
            typer.echo(f"wrote {', '.join(payload['outputs'])}")

    @app.command("gaps")
    @domain_errors
    def gaps(
        network: Path = NETWORK_OPT,
        stations: str = STATIONS_OPT,
        stations_crs: str | None = STATIONS_CRS_OPT,
        demand: list[str] = DEMAND_OPT,
        demand_crs: str = DEMAND_CRS_OPT,
        demand_group: str | None = DEMAND_GROUP_OPT,
        demand_weight_field: str | None = DEMAND_WEIGHT_OPT,
        areas: Path | None = AREAS_OPT,
        areas_level: str = AREAS_LEVEL_OPT,
        areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
        areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
        mode: str = MODE_OPT,
        minutes: float = MINUTES_OPT,
        horizon_minutes: float = HORIZON_OPT,
        open_at: str | None = OPEN_AT_OPT,
        amenity: list[str] = AMENITY_OPT,
        clip: str | None = CLIP_OPT,
        snap_meters: float = SNAP_OPT,
        speed_kph: float | None = SPEED_OPT,
        all_statuses: bool = ALL_STATUSES_OPT,
        resolution: int = typer.Option(
            9, "--resolution", help="H3 resolution 0–15 (9: hexagons of ≈0.1 km²)"
        ),
        top: int = typer.Option(10, "--top", help="print this many of the biggest gaps"),
        out: Path | None = typer.Option(
            None, "--out", help="GeoJSON file for every ranked hexagon (a directory gets gaps.geojson)"
        ),
        as_json: bool = JSON_OPT,
        verbose: bool = VERBOSE_OPT,
    ) -> None:
        """Uncovered demand on H3 hexagons, biggest gap first, with the nearest station of each."""
        setup_logging(verbose)
        run = run_coverage(
            network=network, stations=stations, stations_crs=stations_crs, demand=demand,
            demand_crs=demand_crs, demand_group=demand_group, demand_weight_field=demand_weight_field,
            areas=areas, areas_level=areas_level, areas_code_field=areas_code_field,
            areas_name_field=areas_name_field, mode=mode, minutes=minutes,
            horizon_minutes=horizon_minutes, open_at=open_at, amenity=amenity, clip=clip,
            snap_meters=snap_meters, speed_kph=speed_kph, all_statuses=all_statuses,
            resolution=resolution, top=top,
        )
        from geo.gaps import find_gaps

        hexes = find_gaps(run.result, resolution=resolution, stations=run.result.stations)
        written: Path | None = None
        if out is not None:
            target = out / "gaps.geojson" if (out.is_dir() or not out.suffix) else out
            target.parent.mkdir(parents=True, exist_ok=True)
            written = write_geojson(hexes, target)
        if as_json:
            a = hexes.attrs
            print_json({
                "mode": run.result.summary.mode,
                "minutes": float(minutes),
                "resolution": int(resolution),
                "hexagons": len(hexes),
                "uncovered_weight": a["uncovered_weight"],
                "uncovered_count": a["uncovered_count"],
                "unsnappable": {"count": a["unsnappable_count"], "weight": a["unsnappable_weight"]},
                "summary": run.result.summary.as_dict(),
                "demand": run.demand_info.as_dict(),
                "top": _gap_records(hexes.head(top)),
                "output": None if written is None else str(written),
            })
            return
        for note in run.demand_info.notes:
            typer.echo(f"note: {note}")
        print_gaps(hexes, n=top)
        if written is not None:
            typer.echo(f"wrote {written}")


def write_outputs(run: Run, out: Path, *, resolution: int = 9, lang: str = "en") -> list[Path]:
    """Write demand.geojson, covered_area.geojson, gaps.geojson, by_area.csv and by_group.csv (headers
    in ``lang``: ``en`` the column names, ``zh`` Chinese)."""
    from geo.coverage import covered_area
    from geo.gaps import find_gaps
    from geo.report import headers
    from geo.text import write_csv

    out.mkdir(parents=True, exist_ok=True)
    result = run.result
    written = [write_geojson(result.demand, out / "demand.geojson")]
    written.append(write_geojson(covered_area(result), out / "covered_area.geojson"))
    written.append(write_geojson(find_gaps(result, resolution=resolution, stations=result.stations),
                                 out / "gaps.geojson"))
    for name, frame in (("by_area.csv", result.by_area), ("by_group.csv", result.by_group)):
        written.append(write_csv(headers(frame, lang), out / name))  # no live formulas, atomic
    return written
