"""``yizhan audit maps``: compare the registry with a map provider's POI export (上图)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from api.cli._common import domain_errors, fail, print_json
from api.cli.lang import say

app = typer.Typer(
    help="Audits of the registry (上图: is every station findable on Amap/Baidu?).", no_args_is_help=True
)


class MapCRS(StrEnum):
    gcj02 = "gcj02"
    bd09 = "bd09"


@app.command("maps")
@domain_errors
def maps(
    pois: Path = typer.Option(..., "--pois", help="POI export (CSV/XLSX: 名称, 地址, 经度, 纬度)."),
    crs: MapCRS = typer.Option(..., "--crs", help="CRS of the export: gcj02 (Amap) or bd09 (Baidu)."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for audit.json and submit.csv."),
    status: list[str] = typer.Option(["open"], "--status", help="Stations audited (repeatable)."),
    record: bool = typer.Option(True, "--record/--no-record", help="Store each station's 上图 status."),
    json_out: bool = typer.Option(False, "--json", help="Print the categories as JSON."),
) -> None:
    """Find stations missing from the map, misplaced (> 50 m), renamed, and map POIs that look like
    stations but are not registered; write DIR/submit.csv for a bulk correction."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope
    from geo.errors import ImportRejectedError
    from geo.ops.mapaudit import audit_maps, read_pois, record_presence, write_audit

    try:
        poi_list = read_pois(pois, crs=crs.value)
    except ImportRejectedError as exc:
        for e in exc.report[:50]:
            say(f"{e.row:>5}  {e.field:<6} {e.message}", err=True)
        raise fail(exc.message, 2) from None
    with session_scope() as session:
        frame = repo.stations_frame(session, statuses=status)
        stations = [
            {
                "station_id": int(r["station_id"]),
                "name": r["name"],
                "address": r["address"],
                "lon": float(r.geometry.x),
                "lat": float(r.geometry.y),
            }
            for _, r in frame.iterrows()
        ]
        result = audit_maps(stations, poi_list, crs=crs.value)
        if record:
            record_presence(session, result)
    files = write_audit(result, stations, out)
    if json_out:
        print_json(result.to_dict())
        return
    say(
        f"{len(stations)} stations, {len(poi_list)} POIs ({result.provider}): {len(result.listed)} listed, "
        + ", ".join(
            f"{len(result.category(c))} {c}" for c in ("missing", "misplaced", "renamed", "unregistered")
        )
    )
    for f in result.findings:
        what = f.station_name or f.poi_name
        extra = f" ({f.distance_m:.0f} m)" if f.category == "misplaced" and f.distance_m is not None else ""
        if f.category == "renamed":
            extra = f" → map says {f.poi_name!r}"
        say(f"  {f.category:<12} {f.station_id or '':>6}  {what}{extra}")
    say(f"wrote {files['audit']} and {files['submit']}")


@app.command("stars")
@domain_errors
def stars(
    station: list[int] = typer.Option(
        [], "--station", help="Only these station ids (default: every open one)."
    ),
    actor: str = typer.Option("cli", "--actor", help="Who rates (stored with each rating)."),
    json_out: bool = typer.Option(False, "--json", help="Print the ratings with their inputs as JSON."),
) -> None:
    """Rate stations 1–5 stars by the rule of data/standards.toml and store each rating with its inputs
    and date (the yearly re-examination)."""
    from geo.db.engine import session_scope
    from geo.ops.standards import rate_stations

    with session_scope() as session:
        ratings = rate_stations(session, station or None, actor=actor)
    if json_out:
        print_json(ratings)
        return
    for r in ratings:
        i = r["inputs"]
        say(
            f"{r['station_id']:>6}  {'★' * r['stars']}{'☆' * (5 - r['stars'])}  {i['points']:g} points: "
            f"{i['items_met']}/{i['items_total']} {i['standard']} items, "
            f"{i['weekday_open_hours'] if i['weekday_open_hours'] is not None else '?'} h/day, "
            f"low use {i['low_use']}, on map {i['on_map']}"
        )
    rule = f"{ratings[0]['rule']}, {ratings[0]['rated_on']}" if ratings else "-"
    say(f"rated {len(ratings)} stations ({rule})")
