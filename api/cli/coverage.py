"""``yizhan coverage`` and ``yizhan gaps``: the 15-minute service circle and where it is missing.

Examples::

    yizhan coverage --network nanshan.osm --clip 113.92,22.535,113.97,22.56 --stations banks.csv \\
        --demand pois:nanshan_pois.geojson --mode walk --minutes 15 --out out/ --json
    yizhan coverage --network area-walk.npz --stations db --minutes 5,10,15 --nth 2 --out out/
    yizhan gaps --network nanshan.osm --stations db --demand network --minutes 15 --top 10 --out gaps.geojson

``--minutes 5,10,15`` measures several thresholds from one search (:func:`geo.coverage.cutoffs_of`):
the summary, JSON and tables give the share at each; ``--nth 2`` adds each point's minutes to its
second-nearest distinct station (``minutes_2nd``) and the share of demand with two stations within
each threshold (a fallback when the nearest is closed or full).

``--demand`` may be given several times; the frames are combined. Without ``--demand`` the street
length of the network is the demand (the sanitation-beat proxy, layer ``street_length``) and the
output says so.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    load_areas,
    load_demand,
    load_stations,
    option_errors,
)
from api.cli.lang import command_lang, default_lang, say, translate
from geo.text import pad

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
    """Validate the cheap options before any file is read (wordings of :mod:`geo.checks`)."""
    from geo.catalog import resolve_amenity, resolve_mode
    from geo.checks import check_count, check_horizon_minutes, check_minutes, check_non_negative

    with option_errors("--mode"):
        mode = resolve_mode(mode)
    with option_errors():
        minutes = check_minutes(minutes, field="--minutes")
        check_horizon_minutes(horizon_minutes, minutes=minutes, field="--horizon-minutes")
        check_non_negative(snap_meters, field="--snap-meters", unit="metres")
        if top is not None:
            check_count(top, field="--top")
    if resolution is not None and not 0 <= resolution <= 15:
        raise fail(f"--resolution must be an H3 resolution 0–15, got {resolution}")
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
    #: with several --minutes or --nth: the shares at each threshold (geo.coverage.CutoffCoverage)
    cutoffs: Any = None

    @property
    def by_area(self) -> Any:
        """The per-area table (with a column per threshold when several were asked for)."""
        return self.result.by_area if self.cutoffs is None else self.cutoffs.by_area

    @property
    def by_group(self) -> Any:
        """The per-group table (with a column per threshold when several were asked for)."""
        return self.result.by_group if self.cutoffs is None else self.cutoffs.by_group

    @property
    def demand(self) -> Any:
        """The demand points with their minutes (and ``minutes_2nd`` … with --nth)."""
        return self.result.demand if self.cutoffs is None else self.cutoffs.demand


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
    from geo.report import stations_apart_from_demand

    for names in stations_apart_from_demand({mode: net}, station_frame, demand_frame,
                                            max_meters=snap_meters).values():
        say(f"warning: {len(names)} open station(s) lie on a piece of the {mode} network where no demand "
            f"point is, so they cover nobody (check their position): {', '.join(names[:10])}", err=True)
    unknown = None
    if amenities:
        from geo.report import amenity_unknown

        unknown = amenity_unknown(station_frame, open_only=not all_statuses)
    return Run(result=result, stations=station_frame, demand_info=info, amenity_unknown=unknown)


def with_cutoffs(run: Run, minutes: Sequence[float], nth: int | None) -> Run:
    """``run`` with the shares at every threshold of ``minutes`` (and the ``nth`` nearest station)
    when several thresholds or ``nth`` were asked for; one threshold alone: ``run`` as it is."""
    if len(minutes) < 2 and nth is None:
        return run
    from geo.coverage import cutoffs_of

    with option_errors():
        return replace(run, cutoffs=cutoffs_of(run.result, minutes, nth=nth))


def coverage_dict(run: Run) -> dict[str, Any]:
    """Summary keys + ``by_area`` + ``by_group`` (+ ``demand`` provenance) as JSON-ready data; with
    several thresholds or ``--nth`` also ``cutoffs`` (one entry per threshold) and ``nth``."""
    out = run.result.summary.as_dict()
    out["by_area"] = records(run.by_area)
    out["by_group"] = records(run.by_group)
    out["demand"] = run.demand_info.as_dict()
    if run.amenity_unknown is not None:
        out["amenity_unknown"] = {"count": len(run.amenity_unknown), "stations": run.amenity_unknown[:100]}
    if run.cutoffs is not None:
        out["cutoffs"] = run.cutoffs.cutoff_dicts()
        out["nth"] = run.cutoffs.nth
    return out


def _fmt(x: Any, spec: str = ".1f") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _pct(x: Any) -> str:
    return _fmt(None if x is None else 100 * x)


def print_summary(run: Run) -> None:
    """The summary lines, the per-group and the per-area table, in the messages' language (codes of
    modes and worker groups as their Chinese labels in ``zh``)."""
    from geo.catalog import code_label_zh
    from geo.study import area_label

    zh = default_lang("en") == "zh"
    s = run.result.summary.as_dict()
    mode = code_label_zh("mode", s["mode"]) if zh else s["mode"]
    say(
        f"{mode}, {s['minutes']:g} min: {s['stations']} station(s); covered {s['demand_covered']:.1f} "
        f"of {s['demand_total']:.1f} demand ({_pct(s['covered_share'])} %); "
        f"minutes mean {_fmt(s['mean_minutes'])}, median {_fmt(s['median_minutes'])}, "
        f"p95 {_fmt(s['p95_minutes'])}"
    )
    say(
        f"unreachable {s['unreachable']['count']} point(s) (weight {s['unreachable']['weight']:.1f}); "
        f"unsnappable {s['unsnappable']['count']} point(s) (weight {s['unsnappable']['weight']:.1f})"
    )
    if run.cutoffs is not None:
        _print_cutoffs(run.cutoffs)
    for note in run.demand_info.notes:
        say(f"note: {note}")
    if run.amenity_unknown:
        shown = ", ".join(run.amenity_unknown[:10]) + (" …" if len(run.amenity_unknown) > 10 else "")
        say(f"note: --amenity: {len(run.amenity_unknown)} station(s) have no amenity data (unknown, "
                   f"left out of the count): {shown}")
    for title, frame, key in (("by group", run.by_group, "group"), ("by area", run.by_area, "area_name")):
        if frame.empty:
            continue
        say(f"{title}:")
        for rec in records(frame):
            name = rec[key]
            if zh:
                name = code_label_zh(key, name) if key == "group" else area_label(rec["area_code"], name)
            row = translate(
                f"  {pad(name, 24)} covered {rec['demand_covered']:>10.1f} / {rec['demand_total']:>10.1f} "
                f"({_pct(rec['covered_share'])} %), median {_fmt(rec['median_minutes'])} min")
            say(row + _row_cutoffs(rec, run.cutoffs))


def _print_cutoffs(cc: Any) -> None:
    """One line per threshold: the covered weight and share (and with --nth those of the fallback)."""
    from geo.coverage import ordinal

    for row in cc.cutoff_dicts():
        line = (f"within {row['minutes']:g} min: covered {row['demand_covered']:.1f} of "
                f"{row['demand_total']:.1f} ({_pct(row['covered_share'])} %)")
        if cc.nth is not None:
            line += (f"; {ordinal(cc.nth)} station within {row['minutes']:g} min: "
                     f"{row['demand_covered_nth']:.1f} ({_pct(row['covered_share_nth'])} %)")
        say(line)


def _row_cutoffs(rec: dict[str, Any], cc: Any) -> str:
    """`` · 5 min 32.3 % · 10 min 41.7 %`` (and ``· 2nd 5 min 20.0 %`` …) for one table row."""
    if cc is None:
        return ""
    from geo.coverage import cutoff_column, ordinal

    parts = [f"{t:g} min {_pct(rec[cutoff_column('covered_share', t)])} %" for t in cc.minutes]
    if cc.nth is not None:
        parts += [f"{ordinal(cc.nth)} {t:g} min {_pct(rec[cutoff_column('covered_share', t, cc.nth)])} %"
                  for t in cc.minutes]
    return " · " + " · ".join(translate(p) for p in parts)


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
    say(
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
        say(
            f"{rec['rank']:>3}  {rec['h3']}  weight {rec['uncovered_weight']:>8.2f}  "
            f"points {rec['demand_count']:>4}  "
            f"{pad(rec['main_group'], 18)} {near}  "
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
MINUTES_LIST_OPT = typer.Option(
    "15", "--minutes", help="travel-time threshold(s), minutes: 15, or several from one search: 5,10,15"
)
NTH_OPT = typer.Option(
    None, "--nth", help="also the N-th nearest station (N ≥ 2): minutes_2nd per point and the share with "
    "N stations within each threshold (a fallback when the nearest is closed or full)",
)
COVERAGE_OUT_OPT = typer.Option(
    None, "--out",
    help="directory for demand.geojson, covered_area.geojson, gaps.geojson, by_area/by_group.csv",
)
LANG_OPT = typer.Option("", "--lang", help="zh or en: CSV headers (default YIZHAN_LANG, else en)")


def register(app: typer.Typer) -> None:
    """Add ``yizhan coverage`` and ``yizhan gaps`` to the main app."""
    app.command("coverage")(domain_errors(coverage_command))
    app.command("gaps")(domain_errors(gaps_command))


def _check_coverage_options(
    out: Path | None, lang: str, minutes: str, nth: int | None
) -> tuple[tuple[float, ...], int | None]:
    """The options only ``yizhan coverage`` has, checked before any file is read."""
    from geo.checks import check_minutes_spec, check_nth

    if out is not None and out.exists() and not out.is_dir():
        raise fail(f"--out: {out} exists and is not a directory")
    with option_errors():
        cuts = check_minutes_spec(minutes, field="--minutes")
        return cuts, None if nth is None else check_nth(nth, field="--nth")


def coverage_command(
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
    minutes: str = MINUTES_LIST_OPT,
    nth: int | None = NTH_OPT,
    horizon_minutes: float = HORIZON_OPT,
    open_at: str | None = OPEN_AT_OPT,
    amenity: list[str] = AMENITY_OPT,
    clip: str | None = CLIP_OPT,
    snap_meters: float = SNAP_OPT,
    speed_kph: float | None = SPEED_OPT,
    all_statuses: bool = ALL_STATUSES_OPT,
    out: Path | None = COVERAGE_OUT_OPT,
    resolution: int = typer.Option(9, "--resolution", help="H3 resolution of gaps.geojson"),
    lang: str = LANG_OPT,
    as_json: bool = JSON_OPT,
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Share of demand within --minutes of an open station, per area and worker group."""
    setup_logging(verbose)
    cuts, nth = _check_coverage_options(out, lang, minutes, nth)
    lang = command_lang(lang, fallback="en")
    run = run_coverage(
        network=network, stations=stations, stations_crs=stations_crs, demand=demand,
        demand_crs=demand_crs, demand_group=demand_group, demand_weight_field=demand_weight_field,
        areas=areas, areas_level=areas_level, areas_code_field=areas_code_field,
        areas_name_field=areas_name_field, mode=mode, minutes=cuts[-1],
        horizon_minutes=horizon_minutes, open_at=open_at, amenity=amenity, clip=clip,
        snap_meters=snap_meters, speed_kph=speed_kph, all_statuses=all_statuses, resolution=resolution,
    )  # fmt: skip
    run = with_cutoffs(run, cuts, nth)
    payload = coverage_dict(run)
    if out is not None:
        written = write_outputs(run, out, resolution=resolution, lang=lang)
        payload["outputs"] = [str(p) for p in written]
    if as_json:
        print_json(payload)
        return
    print_summary(run)
    if out is not None:
        say(f"wrote {', '.join(payload['outputs'])}")


def gaps_command(
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
    resolution: int = typer.Option(9, "--resolution", help="H3 resolution 0–15 (9: hexagons of ≈0.1 km²)"),
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
    )  # fmt: skip
    from geo.gaps import find_gaps

    hexes = find_gaps(run.result, resolution=resolution, stations=run.result.stations)
    written: Path | None = None
    if out is not None:
        target = out / "gaps.geojson" if (out.is_dir() or not out.suffix) else out
        target.parent.mkdir(parents=True, exist_ok=True)
        written = write_geojson(hexes, target)
    if as_json:
        print_json(_gaps_dict(run, hexes, minutes=minutes, resolution=resolution, top=top, written=written))
        return
    for note in run.demand_info.notes:
        say(f"note: {note}")
    print_gaps(hexes, n=top)
    if written is not None:
        say(f"wrote {written}")


def _gaps_dict(
    run: Run, hexes: Any, *, minutes: float, resolution: int, top: int, written: Path | None
) -> dict[str, Any]:
    a = hexes.attrs
    return {
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
    }


def write_outputs(run: Run, out: Path, *, resolution: int = 9, lang: str = "en") -> list[Path]:
    """Write demand.geojson, covered_area.geojson, gaps.geojson, by_area.csv and by_group.csv (in
    ``lang``: ``en`` the column names and codes, ``zh`` Chinese headers and labels). With several
    thresholds the tables have a column per threshold and covered_area/gaps are those of the largest."""
    from geo.coverage import covered_area
    from geo.gaps import find_gaps
    from geo.report import for_people
    from geo.text import write_csv

    out.mkdir(parents=True, exist_ok=True)
    result = run.result
    written = [write_geojson(run.demand, out / "demand.geojson")]
    written.append(write_geojson(covered_area(result), out / "covered_area.geojson"))
    written.append(write_geojson(find_gaps(result, resolution=resolution, stations=result.stations),
                                 out / "gaps.geojson"))
    for name, frame in (("by_area.csv", run.by_area), ("by_group.csv", run.by_group)):
        written.append(write_csv(for_people(frame, lang), out / name))  # no live formulas, atomic
    return written
