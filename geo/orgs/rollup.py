"""Rollups up the tree: for an organisation and each of its children, stations by status and kind,
and station targets against the stations actually there (pure aggregation of store counts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

#: statuses that count towards a target (a closed station no longer serves anyone)
COUNTING = ("open", "planned")


def summarise(
    org: Mapping[str, Any],
    children: Sequence[Mapping[str, Any]],
    counts: Sequence[tuple[str, str, str, int, int]],
    targets: Mapping[str, Mapping[int, int]],
) -> dict[str, Any]:
    """The summary of ``org`` and its ``children`` from ``counts`` rows ``(org, status, kind, year
    created, n)`` and ``targets`` (``org -> year -> stations``).

    For a target of year Y, ``actual`` counts the org's stations now open or planned that were
    created in or before Y; ``share`` is actual / target (``None`` for a target of 0).
    """

    def one(code: str, name: str, level: str) -> dict[str, Any]:
        mine = [c for c in counts if c[0] == code]
        by_status: Counter[str] = Counter()
        by_kind: Counter[str] = Counter()
        for _, status, kind, _, n in mine:
            by_status[status] += n
            by_kind[kind] += n
        progress = []
        for year, target in sorted(targets.get(code, {}).items()):
            actual = sum(n for _, status, _, y, n in mine if status in COUNTING and y <= year)
            progress.append({"year": year, "target": target, "actual": actual,
                             "share": None if target == 0 else round(actual / target, 4)})
        return {"code": code, "name": name, "level": level, "stations": sum(by_status.values()),
                "by_status": dict(sorted(by_status.items())), "by_kind": dict(sorted(by_kind.items())),
                "targets": progress}

    out = one(str(org["code"]), str(org["name"]), str(org["level"]))
    out["children"] = [one(str(c["code"]), str(c["name"]), str(c["level"])) for c in children]
    return out


def area_code_of(org: Mapping[str, Any]) -> str:
    """The area code under which coverage results list an organisation: the stored area its polygon
    came from (``area_source = "areas:<code>"``), else its own code."""
    source = str(org.get("area_source") or "")
    return source.removeprefix("areas:") if source.startswith("areas:") else str(org["code"])


def coverage_by_org(
    orgs: Sequence[Mapping[str, Any]], by_area: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Coverage of each organisation from a coverage result's per-area rows (``area_code``,
    ``demand_total``, ``demand_covered``, ``covered_share``): ``None`` values for an organisation
    whose area is not among them."""
    rows = {str(r["area_code"]): r for r in by_area}
    out = []
    for org in orgs:
        hit = rows.get(area_code_of(org))
        out.append({
            "code": org["code"], "name": org["name"], "area_code": area_code_of(org),
            "demand_total": None if hit is None else float(hit["demand_total"]),
            "demand_covered": None if hit is None else float(hit["demand_covered"]),
            "covered_share": None if hit is None else float(hit["covered_share"]),
        })  # fmt: skip
    return out


def org_summary(
    session: Session, code: str, *, by_area: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """:func:`summarise` of organisation ``code`` read from the store (NotFoundError if missing);
    with ``by_area`` (a coverage result's per-area rows) each row also gets ``covered_share``."""
    from geo.orgs import store

    org = store.get_org(session, code)
    children = org["child_orgs"]
    codes = [org["code"], *(c["code"] for c in children)]
    out = summarise(org, children, store.station_counts(session, codes), store.targets_of(session, codes))
    if by_area is not None:
        shares = {r["code"]: r["covered_share"] for r in coverage_by_org([org, *children], by_area)}
        for row in (out, *out["children"]):
            row["covered_share"] = shares.get(row["code"])
    return out
