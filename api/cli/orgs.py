"""``yizhan orgs``: the organisation tree (import, list, show), targets and rollup reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from api.cli._common import domain_errors, fail, print_json
from api.cli.lang import say

app = typer.Typer(help="Organisations (小三级): import the tree, list, show, targets, reports.",
                  no_args_is_help=True)


@app.command("import")
@domain_errors
def import_(
    file: Path = typer.Argument(..., help="CSV (UTF-8/GBK), XLSX or GeoJSON: 组织代码, 名称, 级别, 上级代码 "
                                          "[, 区划代码]; GeoJSON polygons become the areas."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row, write nothing."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Import (upsert) organisations, all or nothing: any bad row rejects the file (exit 2)."""
    from geo.db.engine import session_scope
    from geo.errors import ImportRejectedError
    from geo.orgs import store
    from geo.orgs.tree import read_org_file

    with session_scope() as session:
        org_file = read_org_file(file, known=store.known_levels(session))
        try:
            counts = {"inserted": 0, "updated": 0, "with_area": 0}
            if dry_run and org_file.errors:
                raise ImportRejectedError("organisation file rejected", report=org_file)
            if not dry_run:
                counts = store.import_orgs(session, org_file, source=file.name)
        except ImportRejectedError as exc:
            _print_import({**org_file.to_dict(), **counts}, json_out, rejected=True)
            raise fail(exc.message, 2) from None
    _print_import({**org_file.to_dict(), **counts, "dry_run": dry_run}, json_out, rejected=False)


def _print_import(result: dict[str, Any], json_out: bool, *, rejected: bool) -> None:
    if json_out:
        print_json({**result, "accepted": not rejected})
        return
    head = "REJECTED (nothing imported)" if rejected else "dry run" if result.get("dry_run") else "imported"
    say(f"{head}: {result['inserted']} new, {result['updated']} updated, {result['with_area']} with "
               f"an area (of {result['rows_total']} rows)")
    if result["columns"]:
        say("columns: " + ", ".join(f"{h} → {f}" for h, f in result["columns"].items()))
    for e in result["errors"][:200]:
        say(f"{e['row']:>5}  {e['field']:<12} {e['message']}")


@app.command("list")
@domain_errors
def list_(
    parent: str | None = typer.Option(None, "--parent", help="Only the children of this code."),
    level: str | None = typer.Option(None, "--level", help="Only this level."),
    under: str | None = typer.Option(None, "--under", help="Only this organisation and those below it."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List organisations (code, level, name, parent, area yes/no)."""
    from geo.db.engine import session_scope
    from geo.orgs import store

    with session_scope() as session:
        rows = store.list_orgs(session, parent=parent, level=level, under=under)
    if json_out:
        print_json(rows)
        return
    for r in rows:
        area = "area" if r["has_area"] else "-"
        parent = r['parent_code'] or '—'
        say(f"{r['code']:<16} {r['level']:<10} {r['name']}  (parent {parent}, {area})")
    if not rows:
        say("no organisations")


@app.command("show")
@domain_errors
def show(code: str = typer.Argument(...), json_out: bool = typer.Option(False, "--json")) -> None:
    """One organisation: ancestors, children, active keys, area source."""
    from geo.db.engine import session_scope
    from geo.orgs import store

    with session_scope() as session:
        org = store.get_org(session, code)
    if json_out:
        print_json(org)
        return
    chain = " > ".join(f"{a['name']}" for a in org["ancestors"])
    say(f"{org['name']} ({org['code']}, {org['level']})" + (f"  under {chain}" if chain else ""))
    say(f"area: {org['area_source'] or ('yes' if org['has_area'] else 'none')}; "
               f"active keys: {org['active_keys']}; children: {org['children']}")
    for c in org["child_orgs"]:
        say(f"  {c['code']:<16} {c['level']:<10} {c['name']}")


@app.command("target")
@domain_errors
def target(
    code: str = typer.Argument(..., help="Organisation code."),
    year: int = typer.Option(..., "--year"),
    stations: int = typer.Option(..., "--stations", help="Stations to have by the end of the year."),
) -> None:
    """Set an organisation's station target for a year."""
    from geo.db.engine import session_scope
    from geo.orgs import store

    with session_scope() as session:
        row = store.set_target(session, code, year=year, stations=stations)
    say(f"target of {row['org']} for {row['year']}: {row['stations_target']} stations")


@app.command("report")
@domain_errors
def report(
    code: str = typer.Argument(...),
    coverage: Path | None = typer.Option(
        None, "--coverage", help="by_area.csv of a coverage run (yizhan coverage --out DIR): adds shares."
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Stations by status and kind, targets vs actual (and coverage shares) for an organisation and
    each child."""
    from geo.db.engine import session_scope
    from geo.orgs.rollup import org_summary

    by_area = _by_area(coverage) if coverage is not None else None
    with session_scope() as session:
        summary = org_summary(session, code, by_area=by_area)
    if json_out:
        print_json(summary)
        return
    for row in (summary, *summary["children"]):
        indent = "" if row is summary else "  "
        status = ", ".join(f"{k} {n}" for k, n in row["by_status"].items()) or "none"
        share = "" if row.get("covered_share") is None else f"; {row['covered_share']:.1%} of demand covered"
        say(f"{indent}{row['name']} ({row['code']}): {row['stations']} stations ({status}){share}")
        for t in row["targets"]:
            share = "—" if t["share"] is None else f"{t['share']:.0%}"
            say(f"{indent}  {t['year']}: {t['actual']} of {t['target']} ({share})")


def _by_area(path: Path) -> list[dict[str, Any]]:
    """The per-area rows of a coverage run's ``by_area.csv``."""
    import pandas as pd

    from geo.errors import InputError

    try:
        frame = pd.read_csv(path, dtype={"area_code": str})
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path.name}: {exc}", field="coverage") from None
    missing = {"area_code", "demand_total", "demand_covered", "covered_share"} - set(frame.columns)
    if missing:
        raise InputError(f"{path.name} lacks column(s) {', '.join(sorted(missing))}", field="coverage")
    return list(frame.to_dict("records"))
