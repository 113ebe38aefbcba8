"""The authorisation rules (:mod:`geo.orgs.authz`) applied to changes against the store, for the
API and the CLI alike: one station write, or a whole station file (refused whole, every
offending row listed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from geo.errors import ForbiddenError, ImportForbiddenError
from geo.orgs import store
from geo.orgs.authz import OrgScope, station_refusal, write_refusal
from geo.orgs.keys import Principal
from geo.stations import ImportReport, RowError


@dataclass(frozen=True)
class RefusedRows:
    """The rows of a station file the caller may not write (the shape of an import summary)."""

    errors: tuple[RowError, ...]
    rows_total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": 0,
            "updated": 0,
            "unchanged": 0,
            "rejected": len({e.row for e in self.errors}),
            "accepted": False,
            "dry_run": False,
            "rows_total": self.rows_total,
            "errors": [e.to_dict() for e in self.errors],
            "columns": {},
        }


def check_write(principal: Principal, scope: OrgScope | None) -> None:
    """Raise :class:`ForbiddenError` when ``principal`` may write nothing (a viewer key)."""
    refusal = write_refusal(principal, scope)
    if refusal is not None:
        raise ForbiddenError(refusal, field="X-API-Key")


def check_station(
    session: Session,
    principal: Principal,
    scope: OrgScope | None,
    *,
    station_id: int | None = None,
    new_point: tuple[float, float] | None = None,
) -> None:
    """Raise :class:`ForbiddenError` (naming the organisation) unless ``principal`` may change
    station ``station_id`` (``None``: create one) and put it at ``new_point`` (WGS-84)."""
    if principal.national and principal.can_write:
        return
    current = store.station_facts(session, station_id) if station_id is not None else None
    refusal = station_refusal(principal, scope, current=current, new_point=new_point)
    if refusal is not None:
        raise ForbiddenError(refusal, field="station_id" if current is not None else "geometry")


def check_import(
    session: Session, principal: Principal, scope: OrgScope | None, report: ImportReport, *, source: str
) -> None:
    """Raise :class:`ImportForbiddenError` listing every row of ``report`` that ``principal`` may
    not write (new stations outside its area, stored stations neither in its area nor its own)."""
    check_write(principal, scope)
    if principal.national:
        return
    frame = report.frame
    if frame.empty:
        return
    sources = (
        frame["source"] if "source" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    )
    keys = [
        (str(s) if isinstance(s, str) and s else source, str(e))
        for s, e in zip(sources, frame["external_id"], strict=True)
    ]
    facts = store.station_facts_by_key(session, keys)
    rows = frame["row"] if "row" in frame.columns else pd.Series(range(2, len(frame) + 2), index=frame.index)
    errors: list[RowError] = []
    for key, row, geom in zip(keys, rows, frame.geometry, strict=True):
        refusal = station_refusal(
            principal, scope, current=facts.get(key), new_point=(float(geom.x), float(geom.y))
        )
        if refusal is not None:
            errors.append(RowError(int(row), "geometry", refusal))
    if errors:
        where = scope.label if scope is not None else repr(principal.org_code)
        raise ImportForbiddenError(
            f"station file refused: {len(errors)} row(s) lie outside the area of {where} or belong to "
            "another organisation; nothing was imported",
            report=RefusedRows(tuple(errors), int(report.rows_total)),
        )
