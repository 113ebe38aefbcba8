"""``yizhan scenario``: stored plans (a base plus ordered actions) evaluated and compared.

    yizhan scenario create 扩面 --base db
    yizhan scenario add 扩面 --lon 121.47 --lat 31.23 --crs gcj02 --cost 80000 --phase 1 --year 2027
    yizhan scenario close 扩面 12                 # station 12 must be in the base (exit 3 otherwise)
    yizhan scenario remove-action 扩面 2         # the others keep their numbers
    yizhan scenario eval 扩面 --network walk.npz --demand workers.csv --areas streets.geojson --out out/扩面
    yizhan scenario compare base 扩面 --network walk.npz --demand workers.csv --out out/compare --pdf

``base`` in ``compare`` is the other scenario's base without actions. ``compare --out DIR`` writes
``comparison.csv``/``.xlsx`` (the total, every area and every worker group; the figures of ``--json``)
and, with ``--pdf``, ``comparison.pdf`` (A4, Chinese, with a map of the difference). Scenarios live in PostGIS
(:mod:`geo.scenario.store`); the core is :mod:`geo.scenario`.
"""

from __future__ import annotations

import re
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
    load_demand,
    load_stations,
    option_errors,
)
from api.cli.lang import say

app = typer.Typer(help="scenarios: stored plans (add, close, relocate, hours) evaluated and compared",
                  no_args_is_help=True)

BASE = "base"
PHASE_OPT = typer.Option(1, "--phase", help="phase of the action (1, 2, ...)")
YEAR_OPT = typer.Option(None, "--year", help="year of the action")
COST_OPT = typer.Option(0.0, "--cost", help="cost of the action, yuan")


def _store() -> Any:
    from geo.scenario import store

    return store


def _append(scenario: str, kind: str, **fields: Any) -> None:
    """Validate the action, check that a station it names is in the scenario's base (exit 3 naming
    the station and the scenario, nothing stored) and store it after the last one."""
    from geo.db.engine import session_scope
    from geo.scenario.plan import ON_STATION, check_station, make_action

    action = make_action(kind, **fields)
    with session_scope() as session:
        scn = _store().get_scenario(session, scenario)
    if action.kind in ON_STATION:
        check_station(load_stations(scn.base, crs=None), scn, action)  # the base `eval` reads
    with session_scope() as session:
        stored = _store().add_action(session, scenario, action)
    say(f"{scenario}: action {stored.seq} ({kind}) added")


@app.command("create")
@domain_errors
def create(name: str, base: str = typer.Option("db", "--base", help="db (the registry) or a station file"),
           description: str = typer.Option("", "--description")) -> None:
    """Store a new, empty scenario."""
    from geo.db.engine import session_scope

    if base != "db" and not Path(base).is_file():
        raise fail(f"--base: station file not found: {base}", 3)
    with session_scope() as session:
        _store().create_scenario(session, name, base=base, description=description)
    say(f"scenario {name} created (base {base})")


@app.command("add")
@domain_errors
def add(name: str, lon: float = typer.Option(..., "--lon"), lat: float = typer.Option(..., "--lat"),
        crs: str = typer.Option("wgs84", "--crs", help="CRS of --lon/--lat: wgs84, gcj02, bd09"),
        station_name: str | None = typer.Option(None, "--name"),
        kind: str | None = typer.Option(None, "--kind", help="station kind (code or Chinese label)"),
        amenity: list[str] = typer.Option([], "--amenity", help="amenity (repeatable)"),
        hours: str | None = typer.Option(None, "--hours", help="opening hours, OSM syntax"),
        cost: float = COST_OPT, phase: int = PHASE_OPT, year: int | None = YEAR_OPT) -> None:
    """Add a new station at a point."""
    _append(name, "add", lon=lon, lat=lat, crs=crs, name=station_name, station_kind=kind,
            amenities=amenity, opening_hours=hours, cost=cost, phase=phase, year=year)


@app.command("close")
@domain_errors
def close(name: str, station_id: str, cost: float = COST_OPT, phase: int = PHASE_OPT,
          year: int | None = YEAR_OPT) -> None:
    """Close an existing station."""
    _append(name, "close", station_id=station_id, cost=cost, phase=phase, year=year)


@app.command("relocate")
@domain_errors
def relocate(name: str, station_id: str, lon: float = typer.Option(..., "--lon"),
             lat: float = typer.Option(..., "--lat"), crs: str = typer.Option("wgs84", "--crs"),
             cost: float = COST_OPT, phase: int = PHASE_OPT, year: int | None = YEAR_OPT) -> None:
    """Move an existing station to a point."""
    _append(name, "relocate", station_id=station_id, lon=lon, lat=lat, crs=crs, cost=cost, phase=phase,
            year=year)


@app.command("hours")
@domain_errors
def hours(name: str, station_id: str, opening_hours: str = typer.Option(..., "--hours"),
          cost: float = COST_OPT, phase: int = PHASE_OPT, year: int | None = YEAR_OPT) -> None:
    """Change an existing station's opening hours (e.g. extend to 22:00)."""
    _append(name, "hours", station_id=station_id, opening_hours=opening_hours, cost=cost, phase=phase,
            year=year)


@app.command("remove-action")
@domain_errors
def remove_action(name: str, seq: int = typer.Argument(..., min=1, help="the action's number (scenario show)")
                  ) -> None:
    """Remove one action of a scenario (the others keep their numbers)."""
    from geo.db.engine import session_scope

    with session_scope() as session:
        removed = _store().remove_action(session, name, seq)
    say(f"{name}: action {removed.seq} ({removed.kind}) removed")


@app.command("list")
@domain_errors
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every scenario with its action count and cost."""
    from geo.db.engine import session_scope

    with session_scope() as session:
        rows = _store().list_scenarios(session)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        say(f"{r['name']}\t{r['actions']} action(s)\t{float(r['cost']):,.0f} yuan\tbase {r['base']}")


@app.command("show")
@domain_errors
def show(name: str, as_json: bool = typer.Option(False, "--json"),
         crs: str = typer.Option("wgs84", "--crs", help="CRS of the printed lon/lat: wgs84, gcj02, bd09")
         ) -> None:
    """A scenario's actions in order (points in --crs, stored WGS-84), with cost per phase."""
    from geo.checks import check_crs
    from geo.db.engine import session_scope
    from geo.scenario.plan import actions_frame, actions_in_crs

    crs = check_crs(crs, field="--crs")
    with session_scope() as session:
        scn = _store().get_scenario(session, name)
    actions = actions_in_crs(scn.actions, crs)
    if as_json:
        print_json({"name": scn.name, "base": scn.base, "crs": crs, "total_cost": scn.total_cost,
                    "actions": actions_frame(actions).to_dict("records"),
                    "phases": scn.cost_by_phase().to_dict("records")})
        return
    say(f"{scn.name} (base {scn.base}): {len(scn.actions)} action(s), {scn.total_cost:,.0f} yuan")
    for a in actions:
        where = f" at {a.lon:.6f},{a.lat:.6f} ({crs})" if a.lon is not None else ""
        say(f"  {a.seq}. {a.kind} {a.station_id or ''}{where} phase {a.phase} cost {a.cost:,.0f}")


@app.command("delete")
@domain_errors
def delete(name: str) -> None:
    """Delete a scenario and its actions."""
    from geo.db.engine import session_scope

    with session_scope() as session:
        _store().delete_scenario(session, name)
    say(f"scenario {name} deleted")


@dataclass(frozen=True)
class Inputs:
    network: Any
    demand: Any
    areas: Any


def _inputs(network: Path, mode: str, demand: list[str], demand_crs: str, areas: Path | None,
            areas_level: str, areas_code_field: str | None, areas_name_field: str | None) -> Inputs:
    from api.services import load_network_file

    if not network.is_file():
        raise fail(f"--network: file not found: {network}", 3)
    with option_errors("--network"):
        net = load_network_file(network, mode)
    frame, _info = load_demand(demand, street_network=lambda: net, crs=demand_crs, group=None,
                               weight_field=None, clip=None)
    area_frame = None if areas is None else load_areas(areas, level=areas_level, code_field=areas_code_field,
                                                       name_field=areas_name_field)
    return Inputs(net, frame, area_frame)


def _scenario(name: str, *, base_of: str | None = None) -> Any:
    """The stored scenario ``name``, or ``base_of``'s base without actions when ``name`` is ``base``."""
    from geo.db.engine import session_scope
    from geo.scenario.plan import Scenario

    with session_scope() as session:
        scn = _store().get_scenario(session, base_of if name == BASE and base_of else name)
    return Scenario(name=BASE, base=scn.base) if name == BASE else scn


def compare_stored(first: str, second: str, inputs: Inputs, minutes: float, *, mode: str = "walk") -> Any:
    """The :class:`geo.scenario.compare.PlanComparison` of two stored plans (``base``: the other plan's
    base without actions) on the inputs; shared with ``yizhan report --scenario``."""
    from geo.scenario.compare import compare_plans

    plans = _scenario(first, base_of=second), _scenario(second, base_of=first)
    bases = load_stations(plans[0].base, crs=None), load_stations(plans[1].base, crs=None)
    with option_errors():
        return compare_plans(plans, bases, inputs.network, inputs.demand, minutes=minutes, areas=inputs.areas,
                             mode=mode)


def write_comparison(pc: Any, out: Path, *, inputs: Inputs, pdf: bool, place: str = "",
                     lang: str = "zh") -> list[Path]:
    """``out/comparison.csv`` and ``.xlsx`` (formulas neutralised, written atomically; headers and
    coded cells in ``lang``) and, with ``pdf``, ``out/comparison.pdf``."""
    from geo.report import COMPARISON_HEADERS_ZH, for_people
    from geo.scenario.compare import actions_table, comparison_table
    from geo.text import write_csv, write_xlsx

    table = comparison_table(pc.comparison)
    sheets = {"总体": table[table["level"] == "total"], "分区域": table[table["level"] == "area"],
              "分群体": table[table["level"] == "group"]}
    for plan, stations in zip(pc.plans, pc.stations, strict=True):
        # characters XLSX refuses in a sheet name become _
        sheet = re.sub(r"[\\/?*\[\]:]", "_", f"动作-{plan.name}")[:31]
        sheets[sheet] = actions_table(plan, stations, mode=pc.mode)
    sheets = {k: for_people(v, lang, names=COMPARISON_HEADERS_ZH) for k, v in sheets.items()}
    written = [write_csv(for_people(table, lang, names=COMPARISON_HEADERS_ZH), out / "comparison.csv",
                         field="--out"),
               write_xlsx(sheets, out / "comparison.xlsx", field="--out")]
    if pdf:
        from maps.comparison_pdf import write_comparison_pdf
        from maps.report_pdf import ReportMeta

        a, b = pc.names
        bases = ("站点库（PostGIS）" if p.base == "db" else Path(p.base).name for p in pc.plans)
        notes = tuple(f"方案 {p.name} 的基础站点：{base}。" for p, base in zip(pc.plans, bases, strict=True))
        meta = ReportMeta(title=f"{place}工会驿站方案比较：{a} 与 {b}", place=place, notes=notes)
        written.append(write_comparison_pdf(pc, out / "comparison.pdf", network=inputs.network,
                                            areas=inputs.areas, meta=meta))
    return written


def _evaluate(scn: Any, inputs: Inputs, minutes: float) -> tuple[Any, float]:
    """Coverage of scenario ``scn`` on the inputs, and its cost."""
    from geo.scenario.evaluate import evaluate_scenario  # the evaluation the API serves too

    base = load_stations(scn.base, crs=None)
    with option_errors():
        result = evaluate_scenario(inputs.network, base, scn, inputs.demand, minutes=minutes,
                                   areas=inputs.areas)
    return result, scn.total_cost


@app.command("eval")
@domain_errors
def evaluate(
    name: str, network: Path = typer.Option(..., "--network"), mode: str = typer.Option("walk", "--mode"),
    demand: list[str] = typer.Option([], "--demand"), demand_crs: str = typer.Option("wgs84", "--demand-crs"),
    areas: Path | None = AREAS_OPT, areas_level: str = AREAS_LEVEL_OPT,
    areas_code_field: str | None = AREAS_CODE_FIELD_OPT, areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
    minutes: float = typer.Option(15.0, "--minutes"), out: Path | None = typer.Option(None, "--out"),
    as_json: bool = typer.Option(False, "--json"), verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Coverage of a scenario: summary, per area and group; DIR/demand.geojson per point."""
    from geo.checks import check_minutes
    from geo.report import write_geojson, write_table

    setup_logging(verbose)
    minutes = check_minutes(minutes, field="--minutes")
    scn = _scenario(name)  # an unknown name fails before any file is read
    inputs = _inputs(network, mode, demand, demand_crs, areas, areas_level, areas_code_field,
                     areas_name_field)
    result, cost = _evaluate(scn, inputs, minutes)
    summary = {**result.summary.as_dict(), "scenario": name, "cost": cost}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_geojson(result.demand, out / "demand.geojson")
        write_table(result.by_area, out, "coverage_by_area")
        write_table(result.by_group, out, "coverage_by_group")
    if as_json:
        print_json({**summary, "by_area": result.by_area.to_dict("records"),
                    "by_group": result.by_group.to_dict("records")})
        return
    share = 100 * (summary["covered_share"] or 0)
    say(f"{name}: covered {share:.1f}% of {summary['demand_total']:.1f} "
               f"within {minutes:g} min ({summary['stations']} open station(s)), cost {cost:,.0f} yuan")


@app.command("compare")
@domain_errors
def compare(
    first: str, second: str, network: Path = typer.Option(..., "--network"),
    mode: str = typer.Option("walk", "--mode"), demand: list[str] = typer.Option([], "--demand"),
    demand_crs: str = typer.Option("wgs84", "--demand-crs"), areas: Path | None = AREAS_OPT,
    areas_level: str = AREAS_LEVEL_OPT, areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
    areas_name_field: str | None = AREAS_NAME_FIELD_OPT, minutes: float = typer.Option(15.0, "--minutes"),
    out: Path | None = typer.Option(None, "--out"), as_json: bool = typer.Option(False, "--json"),
    pdf: bool = typer.Option(False, "--pdf", help="also write DIR/comparison.pdf (A4, Chinese, map)"),
    title: str = typer.Option("", "--title", help="the area's name for the PDF, e.g. 长沙市岳麓区"),
    map_file: Path | None = typer.Option(None, "--map", help="write the map of B against A (HTML) here"),
) -> None:
    """Two plans side by side (``base`` = the other plan's base): per area and per worker group."""
    from geo.checks import check_minutes
    from geo.report import write_geojson, write_table

    minutes = check_minutes(minutes, field="--minutes")
    if pdf and out is None:
        raise fail("--pdf needs --out DIR (the PDF is written to DIR/comparison.pdf)")
    for name, other in ((first, second), (second, first)):
        _scenario(name, base_of=other)  # an unknown name fails before any file is read
    inputs = _inputs(network, mode, demand, demand_crs, areas, areas_level, areas_code_field,
                     areas_name_field)
    pc = compare_stored(first, second, inputs, minutes, mode=mode)
    cmp = pc.comparison
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_table(cmp.by_area, out, "compare_by_area")
        write_table(cmp.by_group, out, "compare_by_group")
        write_geojson(cmp.changed, out / "changed.geojson")
        write_comparison(pc, out, inputs=inputs, pdf=pdf, place=title)
    if map_file is not None:
        from maps.scenario import write_comparison_map

        write_comparison_map(map_file, pc.results[0].stations, pc.results[1].stations, cmp, name=second,
                             base_name=first, minutes=minutes)
    if as_json:
        print_json({"a": first, "b": second, **cmp.summary, "by_area": cmp.by_area.to_dict("records"),
                    "by_group": cmp.by_group.to_dict("records")})
        return
    s = cmp.summary
    say(f"{first} → {second}: covered {100 * float(s['covered_share_a'] or 0):.1f}% → "
               f"{100 * float(s['covered_share_b'] or 0):.1f}%; workers gained {s['gained']:.1f}, lost "
               f"{s['lost']:.1f}; cost {s['cost_a']:,.0f} → {s['cost_b']:,.0f} yuan")
    if out is not None:
        shown = f", PDF {out / 'comparison.pdf'}" if pdf else ""
        say(f"tables in {out / 'comparison.csv'} and .xlsx{shown}")
