"""``yizhan stations`` (import, export, summary, list, close, update) and ``yizhan areas`` (import, list,
export)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from api.cli._common import domain_errors, fail, print_json
from api.cli.inputs import AREAS_CODE_FIELD_OPT, AREAS_LEVEL_OPT, AREAS_NAME_FIELD_OPT, AREAS_OPT
from api.cli.keys import AS_ORG_HELP, KEY_HELP, authorise_import
from api.cli.lang import say

app = typer.Typer(help="Station registry: import and export station files, summary.", no_args_is_help=True)
areas_app = typer.Typer(help="Administrative areas (乡镇/街道, 社区/村 boundaries).", no_args_is_help=True)


def _crs(value: str) -> str:
    """``--crs``: a CRS name or alias (wgs84, gcj02, bd09, amap, baidu, EPSG:4326...) → its code."""
    from geo.checks import check_crs

    return check_crs(value, field="--crs")


class ExportFormat(StrEnum):
    geojson = "geojson"
    csv = "csv"
    xlsx = "xlsx"
    gpkg = "gpkg"


class Level(StrEnum):
    county = "county"
    township = "township"
    community = "community"


def _bbox(text: str | None, *, field: str = "--bbox") -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` (WGS-84 degrees, spaces ignored), by :func:`geo.checks.check_bbox`."""
    if text is None:
        return None
    from geo.checks import check_bbox

    return check_bbox(text.replace(" ", ""), field=field, strict=False)


def _print_summary(summary: dict[str, Any], *, rejected: bool) -> None:
    head = "dry run" if summary.get("dry_run") else "imported"
    head = "REJECTED (nothing imported)" if rejected else head
    say(f"{head}: {summary['imported']} new, {summary['updated']} updated, "
               f"{summary['unchanged']} unchanged, {summary['rejected']} rejected "
               f"(of {summary.get('rows_total', 0)} rows)")
    if summary.get("columns"):
        say("columns: " + ", ".join(f"{h} → {f}" for h, f in summary["columns"].items()))
    if summary.get("ignored_columns"):
        say("ignored columns (mapped to nothing): " + ", ".join(summary["ignored_columns"]))
    errors = summary.get("errors") or []
    if errors:
        say(f"{'row':>5}  {'field':<14} message")
        for e in errors[:200]:
            say(f"{e['row']:>5}  {e['field']:<14} {e['message']}")
        if len(errors) > 200:
            say(f"… and {len(errors) - 200} more")


@app.command("import")
@domain_errors
def import_(
    file: Path = typer.Argument(..., help="CSV (UTF-8/BOM/GBK), XLSX, GeoJSON or GPKG station file."),
    crs: str | None = typer.Option(None, "--crs", help="CRS of the coordinates (default: as the file "
                                   "says, else wgs84). Amap/Tencent = gcj02, Baidu = bd09."),
    source: str | None = typer.Option(None, "--source", help="Source name (default: the file name)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count, write nothing."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Import the valid rows, skip bad ones."),
    fix_swapped: bool = typer.Option(False, "--fix-swapped", help="Swap lon/lat where they look swapped."),
    actor: str = typer.Option("cli", "--actor", help="Who makes the change (audit trail)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    key: str | None = typer.Option(None, "--key", envvar="YIZHAN_KEY", help=KEY_HELP),
    as_org: str | None = typer.Option(None, "--as-org", help=AS_ORG_HELP),
) -> None:
    """Import (upsert) a station file. Exit 0 when accepted, 2 when rejected."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope
    from geo.errors import ImportRejectedError
    from geo.stations import read_station_file

    report = read_station_file(file, crs=_crs(crs) if crs is not None else None, source=source,
                               fix_swapped=fix_swapped)
    src = source or report.source or file.stem
    with session_scope() as session:
        try:
            actor = authorise_import(session, report, source=src, key=key, as_org=as_org, actor=actor)  # orgs
            result = repo.import_stations(session, report, source=src, actor=actor,
                                          skip_invalid=skip_invalid, dry_run=dry_run)
        except ImportRejectedError as exc:
            summary = {**exc.report.to_dict(), "ignored_columns": list(report.ignored_columns)}
            if json_out:
                print_json(summary)
            else:
                _print_summary(summary, rejected=True)
            raise fail(exc.message, 2) from None
    out = {**result.to_dict(), "ignored_columns": list(report.ignored_columns)}
    if json_out:
        print_json(out)
    else:
        _print_summary(out, rejected=False)


@app.command("export")
@domain_errors
def export(
    out: Path = typer.Option(..., "--out", "-o", help="File to write."),
    fmt: ExportFormat | None = typer.Option(None, "--format", "-f", help="Default: from the file suffix."),
    crs: str = typer.Option("wgs84", "--crs", help="CRS of --bbox and of the written coordinates: "
                            "wgs84, gcj02 or bd09."),
    status: list[str] = typer.Option([], "--status", help="Only these statuses (repeatable)."),
    kind: list[str] = typer.Option([], "--kind", help="Only these kinds (repeatable)."),
    bbox: str | None = typer.Option(None, "--bbox", help="minlon,minlat,maxlon,maxlat (in --crs)."),
) -> None:
    """Export the registry to GeoJSON, CSV, XLSX or GPKG."""
    from geo.crs import bbox_to_wgs84
    from geo.db import repository as repo
    from geo.db.engine import session_scope
    from geo.ops.standards import with_stars
    from geo.stations import export_stations

    if fmt is None and out.suffix.lower().lstrip(".") not in {f.value for f in ExportFormat}:
        raise fail(f"cannot tell the format from {out.name!r}; pass --format", 2)
    code = _crs(crs)
    box = _bbox(bbox)
    with session_scope() as session:
        frame = repo.stations_frame(session, statuses=status, kinds=kind,
                                    bbox=bbox_to_wgs84(box, src=code) if box is not None else None)
        frame = with_stars(session, frame)  # station operations: latest star rating
    path = export_stations(frame, out, format=fmt.value if fmt else None, crs=code)
    say(f"wrote {len(frame)} stations to {path} ({code})")


@app.command("summary")
@domain_errors
def summary(json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Counts by kind, status, source and township; extent; registry version."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope

    with session_scope() as session:
        result = repo.registry_summary(session)
    if json_out:
        print_json(result)
        return
    say(f"stations: {result['total']}  (version {result['version']})")
    for key, title in (("by_kind", "kind"), ("by_status", "status"), ("by_source", "source"),
                       ("by_township", "township")):
        if result[key]:
            say(f"by {title}: " + ", ".join(f"{k or '—'} {n}" for k, n in result[key].items()))
    if result["bbox"]:
        say("bbox: " + ", ".join(f"{v:.5f}" for v in result["bbox"]))


@app.command("list")
@domain_errors
def list_(
    limit: int = typer.Option(20, "--limit"),
    offset: int = typer.Option(0, "--offset"),
    status: list[str] = typer.Option([], "--status"),
    kind: list[str] = typer.Option([], "--kind"),
    amenity: list[str] = typer.Option([], "--amenity", help="Stations having ALL of these."),
    area: str | None = typer.Option(None, "--area", help="Area code (township/community/county)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List stations (id, name, kind, status, township, lon, lat)."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope

    with session_scope() as session:
        frame, total = repo.list_stations(session, statuses=status, kinds=kind, amenities=amenity,
                                          area_code=area, limit=limit, offset=offset)
    rows = [{"station_id": int(r["station_id"]), "name": r["name"], "kind": r["kind"], "status": r["status"],
             "township": r["township_name"], "lon": round(r.geometry.x, 6), "lat": round(r.geometry.y, 6)}
            for _, r in frame.iterrows()]
    if json_out:
        print_json({"total": total, "stations": rows})
        return
    say(f"{total} stations match; showing {len(rows)} from {offset}")
    for r in rows:
        say(f"{r['station_id']:>6}  {r['name']}  [{r['kind']}, {r['status']}]  "
                   f"{r['township'] or ''}  {r['lon']:.6f},{r['lat']:.6f}")


@areas_app.command("import")
@domain_errors
def areas_import(
    file: Path | None = typer.Argument(None, help="GeoJSON, GPKG, SHP, or an OSM .osm extract."),
    # boundaries from an OSM PBF/XML file, assembled by libosmium (issue 16)
    osm: Path | None = typer.Option(None, "--osm", help="OSM .osm.pbf/.osm/.osm.bz2: assemble boundary "
                                    "relations of --admin-level with libosmium (unclosed ones are reported)"),
    level: Level | None = typer.Option(None, "--level", "--areas-level",
                                       help="default township; with --osm from --admin-level"),
    code_field: str | None = typer.Option(None, "--code-field", "--areas-code-field"),
    name_field: str | None = typer.Option(None, "--name-field", "--areas-name-field"),
    admin_level: int | None = typer.Option(None, "--admin-level",
                                           help="OSM admin_level (.osm only; default 6/8/10 by level)."),
    clip_bbox: str | None = typer.Option(None, "--clip-bbox",
                                         help="minlon,minlat,maxlon,maxlat (.osm only)."),
    assign: bool = typer.Option(True, "--assign/--no-assign",
                                help="Fill empty township/community of stored stations from the polygons."),
    actor: str = typer.Option("cli", "--actor", help="Who makes the change (audit trail)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Import administrative polygons into the store (upsert on level + code)."""
    from geo.areas import OSM_ADMIN_LEVELS, areas_from_osm, read_areas
    from geo.db import repository as repo
    from geo.db.engine import session_scope
    from geo.errors import InputError

    if (file is None) == (osm is None):
        raise InputError("give either FILE or --osm", field="file")
    if osm is not None:
        level = level or _osm_level(admin_level)
        frame = _osm_boundaries(osm, admin_level or OSM_ADMIN_LEVELS[level.value], level.value)
        source = "osm"
    elif file is not None and file.suffix.lower() in (".osm", ".xml"):
        level = level or Level.township
        frame = areas_from_osm(file, admin_level=admin_level or OSM_ADMIN_LEVELS[level.value],
                               level=level.value, clip_bbox=_bbox(clip_bbox, field="--clip-bbox"))
        source = "osm"
    else:
        assert file is not None
        level = level or Level.township
        frame = read_areas(file, level=level.value, code_field=code_field, name_field=name_field)
        source = file.name
    with session_scope() as session:
        counts = repo.upsert_areas(session, frame, level=level.value, source=source)
        assigned = repo.assign_areas(session, actor=actor) if assign else 0
    result = {**counts, "stations_assigned": assigned, "level": level.value,
              "areas": [{"code": c, "name": n} for c, n in zip(frame["area_code"], frame["area_name"],
                                                               strict=True)]}
    if json_out:
        print_json(result)
    else:
        say(f"{counts['inserted']} inserted, {counts['updated']} updated ({level.value}): "
                   + "、".join(frame["area_name"]) + f"; {assigned} stations assigned")


def _osm_level(admin_level: int | None) -> Level:
    """The stored level an OSM admin_level stands for (township when unknown)."""
    from geo.areas import OSM_ADMIN_LEVELS

    for name, value in OSM_ADMIN_LEVELS.items():
        if value == admin_level:
            return Level(name)
    return Level.township


def _osm_boundaries(osm: Path, admin_level: int, level: str) -> Any:
    """Boundary polygons of an OSM file; each unclosed relation reported on stderr by id and name."""
    from geo.errors import InputError
    from geo.osm.boundaries import boundaries_from_osm

    got = boundaries_from_osm(osm, admin_level=admin_level, level=level)
    for rid, name in got.unclosed:
        say(f"warning: boundary relation {rid} ({name}) does not close; skipped", err=True)
    if got.frame.empty:
        raise InputError(f"{osm.name} has no closed admin_level={admin_level} boundary relation", field="osm")
    return got.frame


@areas_app.command("list")
@domain_errors
def areas_list(
    level: Level | None = typer.Option(None, "--level"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List stored areas."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope

    with session_scope() as session:
        frame = repo.areas_frame(session, level=level.value if level else None)
    rows = [{"code": r["area_code"], "name": r["area_name"], "level": r["level"]}
            for _, r in frame.iterrows()]
    if json_out:
        print_json(rows)
        return
    for r in rows:
        say(f"{r['level']:<10} {r['code']:<24} {r['name']}")


@areas_app.command("export")
@domain_errors
def areas_export(
    out: Path = typer.Option(..., "--out", "-o", help="GeoJSON (or .gpkg) file to write."),
    areas: Path | None = AREAS_OPT,
    areas_level: str = AREAS_LEVEL_OPT,
    areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
    areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Write areas as GeoJSON/GPKG (EPSG:4326): the store's (of --areas-level), or those of --areas.

    ``--areas region.osm`` turns an OSM extract's admin boundaries into a file you can check and
    edit, then give to ``--areas`` of coverage, gaps, site, map and report.
    """
    from api.cli.inputs import load_areas
    from geo.report import write_geojson

    if areas is not None:
        frame = load_areas(areas, level=areas_level, code_field=areas_code_field, name_field=areas_name_field)
    else:
        from geo.db import repository as repo
        from geo.db.engine import session_scope

        with session_scope() as session:
            frame = repo.areas_frame(session, level=areas_level)
        if frame.empty:
            raise fail(f"no {areas_level} areas in the store (yizhan areas import FILE, or give --areas)")
    if out.suffix.lower() == ".gpkg":
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_file(out, driver="GPKG")
    else:
        write_geojson(frame, out)
    names = [str(n) for n in frame["area_name"]]
    if json_out:
        print_json({"out": str(out), "count": len(frame), "areas": names})
    else:
        say(f"wrote {len(frame)} {areas_level} area(s) to {out}: {'、'.join(names)}")


def _record_line(rec: dict[str, Any]) -> str:
    return (f"#{rec['station_id']} {rec['name']} [{rec['status']}] {rec['lon']:.6f},{rec['lat']:.6f} "
            f"{rec.get('township_name') or ''}")


@app.command("close")
@domain_errors
def close(
    station_id: int = typer.Argument(..., help="station id (yizhan stations list)"),
    reason: str = typer.Option(..., "--reason", help="why it closes (kept in the audit trail)"),
    actor: str = typer.Option("cli", "--actor", help="Who makes the change (audit trail)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Close a station (status closed; its record and history stay). The reason goes into the audit
    trail with the actor (``actor: reason``)."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope

    if not reason.strip():
        raise fail("--reason must say why the station closes")
    with session_scope() as session:
        rec = repo.close_station(session, station_id, actor=f"{actor}: {reason.strip()}")
    if json_out:
        print_json(rec)
    else:
        say(f"closed {_record_line(rec)} ({reason.strip()})")


@app.command("update")
@domain_errors
def update(
    station_id: int = typer.Argument(..., help="station id (yizhan stations list)"),
    set_: list[str] = typer.Option(..., "--set", help="field=value (repeatable; Chinese headers too, "
                                   "e.g. 开放时间=08:00-20:00, 状态=open, 设施=饮水;充电)"),
    crs: str = typer.Option("wgs84", "--crs", help="CRS of lon/lat given with --set: wgs84, gcj02 or bd09."),
    actor: str = typer.Option("cli", "--actor", help="Who makes the change (audit trail)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Change some fields of a station (the others stay), validated as an imported row is."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope
    from geo.stations import map_headers

    props: dict[str, Any] = {}
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set must look like field=value, got {item!r}")
        props[key.strip()] = value.strip()
    _, ignored = map_headers(props)
    if ignored:
        raise fail(f"--set: unknown field(s) {', '.join(ignored)} (see data/column_aliases.toml)")
    with session_scope() as session:
        rec = repo.update_station(session, station_id, props, actor=actor, partial=True, crs=_crs(crs))
    if json_out:
        print_json(rec)
    else:
        say(f"updated {_record_line(rec)}")
