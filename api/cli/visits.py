"""``yizhan visits``: import a visit log (一站一码), report station use."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from api.cli._common import domain_errors, fail, print_json
from api.cli.lang import say

app = typer.Typer(help="Station visits (一站一码): import visit logs, report use.", no_args_is_help=True)


def _date(value: str | None, name: str) -> dt.date | None:
    from geo.errors import InputError

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} must be a date YYYY-MM-DD, got {value!r}", field=name) from None


def _print_import(out: dict[str, Any], *, rejected: bool) -> None:
    head = "REJECTED (nothing imported)" if rejected else ("dry run" if out["dry_run"] else "imported")
    say(
        f"{head}: {out['imported']} new visits, {out['duplicates']} already stored "
        f"(of {out['rows_total']} rows)"
    )
    if out["columns"]:
        say("columns: " + ", ".join(f"{h} → {f}" for h, f in out["columns"].items()))
    for e in out["errors"][:200]:
        say(f"{e['row']:>5}  {e['field']:<13} {e['message']}")
    if len(out["errors"]) > 200:
        say(f"… and {len(out['errors']) - 200} more")


@app.command("import")
@domain_errors
def import_(
    file: Path = typer.Argument(
        ..., help="CSV (UTF-8/BOM/GBK) or XLSX visit log: 站点编号, 到访时间, 职业, 服务项目."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count, store nothing."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Import a visit log, all or nothing. Times without an offset are Asia/Shanghai. Phone numbers
    are stored only as a keyed hash (YIZHAN_VISITOR_HASH_KEY). Exit 0 when accepted, 2 when rejected."""
    from geo.db.engine import session_scope
    from geo.errors import ImportRejectedError
    from geo.ops.visits import hash_key_from_env, import_visits

    with session_scope() as session:
        try:
            report = import_visits(session, file, hash_key=hash_key_from_env(), dry_run=dry_run)
        except ImportRejectedError as exc:
            out = exc.report.to_dict()
            print_json(out) if json_out else _print_import(out, rejected=True)
            raise fail(exc.message, 2) from None
    out = report.to_dict()
    print_json(out) if json_out else _print_import(out, rejected=False)


@app.command("report")
@domain_errors
def report(
    date_from: str | None = typer.Option(None, "--from", help="First day YYYY-MM-DD (default 28 days ago)."),
    date_to: str | None = typer.Option(None, "--to", help="Last day, included (default yesterday)."),
    station: list[int] = typer.Option([], "--station", help="Only these station ids (repeatable)."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Visits per day and week, by worker group and service, repeat visitors and the low-use flag."""
    from geo.db.engine import session_scope
    from geo.ops.usage import usage_report

    with session_scope() as session:
        result = usage_report(
            session, start=_date(date_from, "from"), end=_date(date_to, "to"), station_ids=station or None
        )
    out = result.to_dict()
    if json_out:
        print_json(out)
        return
    say(
        f"{out['from']} – {out['to']} ({out['days']} days, {out['timezone']}): "
        f"{out['visits']} visits; low use = {out['low_use_rule']}"
    )
    say(
        f"{'id':>6} {'code':<8} {'visits':>7} {'/day':>6} {'median':>6} {'repeat':>6}  low  name · groups"
    )
    for s in result.stations:
        share = "—" if s.repeat_share is None else f"{s.repeat_share:.0%}"
        groups = ", ".join(f"{k} {n}" for k, n in s.by_worker_group.items())
        say(
            f"{s.station_id:>6} {s.code:<8} {s.visits:>7} {s.visits_per_day:>6.2f} "
            f"{s.area_median_per_day:>6.2f} {share:>6}  {'LOW' if s.low_use else '   '}  "
            f"{s.name} · {groups}"
        )
