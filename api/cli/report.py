"""``yizhan report``: a planner's report on their own area, from their own network, stations and demand.

Example::

    yizhan report --network walk=xuanwu-walk.npz --network ebike=xuanwu-ebike.npz \\
        --stations stations.csv --demand workers.csv --areas townships.geojson \\
        --title 南京市玄武区 --add 5 --out out/xuanwu

writes ``report.md`` (Chinese, headed with ``--title`` or the areas' name), ``coverage_map.html``,
``finder.html``, ``coverage_by_area.csv/.xlsx`` (one whole-area row without ``--areas``),
``coverage_by_group.csv/.xlsx``, ``gaps_<mode>.geojson``, with ``--add`` ``proposals.geojson/.csv``, with
``--pdf`` ``report.pdf``, and with ``--scenario A --scenario B`` (stored plans, evaluated on the same
network, demand and areas) a 方案比较 section in report.md and report.pdf and ``comparison.csv/.xlsx``.
Nothing is written to the registry; nothing of the bundled sample is read.

:func:`write_report` (maps + :func:`geo.report.write_study`) is shared with ``yizhan demo``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
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
    load_candidates,
    load_demand,
    load_stations,
    option_errors,
)
from api.cli.lang import command_lang, say

log = logging.getLogger(__name__)

NO_NETWORK = (
    "--network: give the street network of your area as MODE=FILE (e.g. walk=area-walk.npz); "
    "no network yet? cut an OSM extract of the area and build one: "
    "`yizhan network build --osm area.osm.pbf --out area-walk.npz` (.osm.pbf, .osm or .osm.bz2; "
    "a whole province: `yizhan network build-areas`)"
)


def _center(result: Any) -> tuple[float, float] | None:
    frame = result.demand if len(result.demand) else result.stations
    if len(frame) == 0:
        return None
    b = frame.total_bounds
    return (float((b[0] + b[2]) / 2), float((b[1] + b[3]) / 2))


def write_report(
    result: Any, out: Path, *, place: str, title: str | None, notes: Sequence[str],
    map_title: str, crs: str = "wgs84", lang: str = "zh", appendix: str = "",
) -> list[Path]:
    """The two maps (assets inlined) and every file of :func:`geo.report.write_study`."""
    from geo.report import write_study
    from maps.coverage import coverage_map
    from maps.finder import finder_page

    out.mkdir(parents=True, exist_ok=True)
    first = next(iter(result.modes))
    main = result.modes.get(result.siting_mode) or result.modes[first]
    center = _center(result)
    cmap = coverage_map(
        main.coverage.stations, covered={m: ms.covered for m, ms in result.modes.items()},
        gaps=main.gaps, areas=result.areas, by_area=main.coverage.by_area,
        proposals=None if result.siting is None else result.siting.selected,
        headline=main.coverage.summary.as_dict(), mode=main.mode, minutes=result.minutes,
        assets="inline", title=map_title, center=center,
    )
    written = [_save(out / "coverage_map.html", cmap.get_root().render())]
    open_stations = result.stations
    if "status" in open_stations.columns:
        open_stations = open_stations[open_stations["status"] == "open"]
    finder = finder_page(open_stations, api_base=None, assets="inline", center=center,
                         lang="en" if lang == "en" else "zh")
    written.append(_save(out / "finder.html", finder))
    written += write_study(result, out, place=place, title=title, notes=notes, crs=crs, lang=lang,
                           appendix=appendix)
    return written


def _save(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _networks(specs: Sequence[str], clip: str | None) -> dict[str, Any]:
    from api.services import load_network_file

    if not specs:
        raise fail(NO_NETWORK)
    clip_geom = None
    if clip is not None:
        from geo.network import parse_clip

        with option_errors("--clip"):
            clip_geom = parse_clip(clip)
    networks: dict[str, Any] = {}
    for spec in specs:
        mode, sep, path = spec.partition("=")
        if not sep or not mode.strip() or not path.strip():
            raise fail(f"--network must look like MODE=FILE (e.g. walk=area-walk.npz), got {spec!r}")
        with option_errors("--network"):
            file = Path(path.strip()).expanduser()
            networks[mode.strip()] = load_network_file(file, mode.strip(), clip_geom)
    return networks


def _notes(stations: str, demand_source: str, off: list[str], areas: Path | None,
           apart: dict[str, list[str]]) -> list[str]:
    notes = [f"现有站点：{Path(stations).name if stations != 'db' else '站点库（PostGIS）'}。",
             f"需求来源：{demand_source}（file: 需求点文件；network:street_length: 沿街道长度的需求点，"
             "环卫作业的代理指标；pois: 按 data/demand_rules.toml 计权的兴趣点）。"]
    if areas is None:
        notes.append("未给出区域边界：分区域表只有一行（全域，路网与需求点的外包范围）。")
    if off:
        shown = "、".join(off[:10]) + ("…" if len(off) > 10 else "")
        notes.append(f"{len(off)} 个站点离路网超过 300 米，不计入覆盖：{shown}。")
    from geo.catalog import code_label_zh

    for mode, names in apart.items():
        shown = "、".join(names[:10]) + ("…" if len(names) > 10 else "")
        notes.append(f"{len(names)} 个开放站点位于{code_label_zh('mode', mode)}路网中没有需求点的孤立片段上，"
                     f"覆盖不到任何需求点（请核对位置）：{shown}。")
    return notes


def _thresholds(text: str) -> tuple[float, ...]:
    """--minutes: one threshold or several (5,10,15); the largest is the report's service threshold."""
    from geo.checks import check_minutes_spec

    with option_errors():
        return check_minutes_spec(text, field="--minutes")


@dataclass(frozen=True, eq=False)
class Loaded:
    """The inputs of one report: networks by mode, stations, demand, areas, the place's name."""

    networks: dict[str, Any]
    stations: Any
    demand: Any
    demand_source: str
    areas: Any
    place: str
    off_network: list[str]

    @property
    def siting_mode(self) -> str:
        """The mode proposals and comparisons use: walk when given, else the first network's."""
        return "walk" if "walk" in self.networks else next(iter(self.networks))


def _load(network: list[str], clip: str | None, stations: str, stations_crs: str | None, demand: list[str],
          demand_crs: str, areas: Path | None, area_fields: tuple[str, str | None, str | None],
          title: str | None) -> Loaded:
    """Every input of ``yizhan report``, each failure naming its option."""
    from geo.report import area_title, stations_off_network, whole_area

    networks = _networks(network, clip)
    first = next(iter(networks))
    station_frame = load_stations(stations, crs=stations_crs)
    with option_errors("--stations"):
        off = stations_off_network(networks, station_frame)
    streets = networks.get("walk", networks[first])
    demand_frame, info = load_demand(demand, street_network=lambda: streets, crs=demand_crs, group=None,
                                     weight_field=None, clip=None)
    level, code_field, name_field = area_fields
    area_frame = None if areas is None else load_areas(
        areas, level=level, code_field=code_field, name_field=name_field)
    place = title or area_title(area_frame)  # else 本区域: a file's name is no title
    if area_frame is None:
        area_frame = whole_area(place, [demand_frame.geometry, station_frame.geometry])
    return Loaded(networks, station_frame, demand_frame, info.demand_source, area_frame, place, off)


def _study(loaded: Loaded, *, demand_spec: str, add: int, candidates: str, cuts: tuple[float, ...],
           method: str) -> Any:
    from geo.study import run_study

    cands = loaded.stations.iloc[:0]
    if add:
        with option_errors("--candidates"):
            cands = load_candidates(candidates, demand_spec=demand_spec,
                                    network=loaded.networks[loaded.siting_mode])
    with option_errors():
        return run_study(loaded.networks, loaded.stations, loaded.demand, cands, minutes=cuts[-1],
                         cutoffs=cuts, add=add, siting_mode=loaded.siting_mode, areas=loaded.areas,
                         method=method)


def _scenarios(names: Sequence[str], loaded: Loaded, minutes: float) -> Any:
    """The comparison of the plans named by ``--scenario`` (one: ``base`` against it) on the report's
    network (its siting mode), demand and areas, or None without ``--scenario``."""
    if not names:
        return None
    from api.cli.scenario import Inputs, compare_stored

    first, second = (names[0], names[1]) if len(names) == 2 else ("base", names[0])
    inputs = Inputs(loaded.networks[loaded.siting_mode], loaded.demand, loaded.areas)
    return compare_stored(first, second, inputs, minutes, mode=loaded.siting_mode)


def report(
    network: list[str] = typer.Option([], "--network", help="MODE=FILE street network (repeatable)"),
    stations: str = typer.Option(..., "--stations", help="station file (CSV/XLSX/GeoJSON) or 'db'"),
    stations_crs: str | None = typer.Option(None, "--stations-crs", help="wgs84, gcj02 or bd09"),
    demand: list[str] = typer.Option(
        [], "--demand", help="points file, pois:FILE or network (repeatable; default network)"),
    demand_crs: str = typer.Option("wgs84", "--demand-crs", help="CRS of a demand points file"),
    areas: Path | None = AREAS_OPT,
    areas_level: str = AREAS_LEVEL_OPT,
    areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
    areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
    title: str | None = typer.Option(None, "--title", help="the area's name, e.g. 南京市玄武区"),
    add: int = typer.Option(0, "--add", min=0, max=50, help="new stations to propose (0: none)"),
    candidates: str = typer.Option(
        "network:300", "--candidates", help="sites for --add: a file, pois:FILE or network[:METERS]"),
    minutes: str = typer.Option("15", "--minutes", help="service threshold(s), minutes: 15 or 5,10,15"),
    clip: str | None = typer.Option(
        None, "--clip", help="clip .osm/.graphml networks to lon0,lat0,lon1,lat1"),
    crs: str = typer.Option("wgs84", "--crs", help="coordinates of proposals.csv: wgs84, gcj02, bd09"),
    lang: str = typer.Option(
        "", "--lang", help="zh or en: messages and table headers (default YIZHAN_LANG, else zh)"),
    method: str = typer.Option("exact", "--method", help="exact (HiGHS) or greedy"),
    scenario: list[str] = typer.Option(
        [], "--scenario", help="stored scenario to compare (twice: A then B; once: base against it)"),
    out: Path = typer.Option(..., "--out", help="output directory"),
    pdf: bool = typer.Option(False, "--pdf", help="also write report.pdf (A4, Chinese, static maps)"),
    as_json: bool = typer.Option(False, "--json", help="print the headline numbers as JSON"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Coverage, gaps and (with --add) proposals for your own area, as a report directory."""
    from geo.crs import resolve_crs

    setup_logging(verbose)
    cuts = _thresholds(minutes)
    with option_errors("--crs"):
        crs = resolve_crs(crs)
    lang = command_lang(lang, fallback="zh")
    if method not in {"exact", "greedy"}:
        raise fail(f"--method must be exact or greedy, got {method!r}")
    if len(scenario) > 2:
        raise fail(f"--scenario: give one or two stored plans (one: against its base), got {len(scenario)}")
    loaded = _load(network, clip, stations, stations_crs, demand, demand_crs, areas,
                   (areas_level, areas_code_field, areas_name_field), title)
    comparison = _scenarios(scenario, loaded, cuts[-1])  # before the study: an unknown plan fails fast
    result = _study(loaded, demand_spec=(demand or ["network"])[0], add=add, candidates=candidates,
                    cuts=cuts, method=method)
    from geo.report import stations_apart_from_demand

    apart = stations_apart_from_demand(loaded.networks, loaded.stations, loaded.demand)
    notes = _notes(stations, loaded.demand_source, loaded.off_network, areas, apart)
    written = _write(result, loaded, comparison, out=out, notes=notes, crs=crs, lang=lang, pdf=pdf)
    head = result.headline()
    head.update(place=loaded.place, demand_source=loaded.demand_source,
                stations_off_network=loaded.off_network, stations_apart_from_demand=apart,
                files=[str(p) for p in written])
    if as_json:
        print_json(json.loads(json.dumps(head, default=str)))
        return
    _print_summary(result, place=loaded.place, demand_source=loaded.demand_source, notes=notes[2:],
                   written=written, out=out, lang=lang)


def _write(result: Any, loaded: Loaded, comparison: Any, *, out: Path, notes: list[str], crs: str, lang: str,
           pdf: bool) -> list[Path]:
    """The report directory: maps, tables, report.md and, with ``pdf``, report.pdf; a comparison of
    scenarios adds its 方案比较 section to both and comparison.csv/.xlsx."""
    from geo.scenario.compare import comparison_markdown

    place, minutes = loaded.place, result.minutes
    appendix = "" if comparison is None else comparison_markdown(comparison)
    written = write_report(result, out, place=place, title=None, notes=notes, appendix=appendix,
                           map_title=f"{place}工会驿站{minutes:g}分钟服务圈", crs=crs, lang=lang)
    if comparison is not None:
        from api.cli.scenario import Inputs, write_comparison

        inputs = Inputs(loaded.networks[loaded.siting_mode], loaded.demand, loaded.areas)
        written += write_comparison(comparison, out, inputs=inputs, pdf=False, lang=lang)
    if pdf:
        from maps.report_pdf import ReportMeta, write_report_pdf

        sections: list[str] = []
        if comparison is not None:
            from maps.comparison_pdf import comparison_sections

            network = loaded.networks[loaded.siting_mode]
            number = "六、" if result.siting is not None else "五、"  # after the report's own sections
            sections = comparison_sections(comparison, network, areas=loaded.areas, number=number)
        meta = ReportMeta(title=f"{place}十五分钟工会服务圈评估报告", place=place, notes=tuple(notes))
        written.append(write_report_pdf(result, out / "report.pdf", meta=meta, appendix=sections))
    return written


def register(app: typer.Typer) -> None:
    """Add ``yizhan report`` to the main app."""
    app.command("report")(domain_errors(report))


#: the summary lines of ``yizhan report`` in each --lang
MESSAGES: dict[str, dict[str, str]] = {
    "zh": {"head": "{place}：现有站点 {n} 个，需求来源 {demand}",
           "mode": "  {mode}：{minutes:g} 分钟覆盖率 {share:.1f}%（需求 {total:.1f}），覆盖空白 {gaps} 处",
           "note": "说明：{note}", "done": "已写出 {count} 个文件到 {out}"},
    "en": {"head": "{place}: {n} station(s), demand {demand}",
           "mode": "  {mode}: {share:.1f} % of {total:.1f} demand within {minutes:g} min, "
                   "{gaps} gap hexagon(s)",
           "note": "note: {note}", "done": "wrote {count} files to {out}"},
}


def _print_summary(result: Any, *, place: str, demand_source: str, notes: Sequence[str],
                   written: Sequence[Path], out: Path, lang: str) -> None:
    from geo.study import mode_label_zh

    msg = MESSAGES[lang]
    say(msg["head"].format(place=place, n=result.open_stations, demand=demand_source))
    for mode, ms in result.modes.items():
        s = ms.coverage.summary
        shown = mode_label_zh(mode) if lang == "zh" else mode
        say(msg["mode"].format(mode=shown, minutes=result.minutes, share=100 * (s.covered_share or 0),
                                      total=s.demand_total, gaps=len(ms.gaps)))
    for note in notes:
        say(msg["note"].format(note=note))
    say(msg["done"].format(count=len(written), out=out))
