"""The public page of one station (一站一码): what its QR code opens on a worker's phone.

Shows the station's name, kind, status, hours, address, amenities and stars, accepted problem reports,
and two actions: "I am here" (``POST {api_base}/stations/{id}/visits``) and "report a problem"
(``POST {api_base}/feedback``). Every value from the registry or from workers is escaped (Jinja
autoescape; the script writes only through ``textContent``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from geo import catalog
from geo.errors import InputError
from maps.finder import TEMPLATES

KIND_LABELS_ZH: dict[str, str] = {
    "closed": "报告已关闭",
    "broken": "报告设施损坏",
    "full": "报告已满",
    "moved": "报告已搬迁",
    "other": "报告问题",
}
KIND_LABELS_EN: dict[str, str] = {
    "closed": "reported closed",
    "broken": "reported broken",
    "full": "reported full",
    "moved": "reported moved",
    "other": "problem reported",
}


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)


def report_lines(
    reports: Sequence[Mapping[str, Any]], *, lang: str = "zh", now: dt.datetime | None = None
) -> list[dict[str, str]]:
    """Accepted reports as display lines: ``label`` ("报告已关闭 · 2 小时前") and the worker's ``text``."""
    from geo.ops.feedback import report_age

    labels = KIND_LABELS_ZH if lang == "zh" else KIND_LABELS_EN
    out = []
    for r in reports:
        at = r.get("moderated_at") or r["created_at"]
        out.append(
            {
                "label": f"{labels.get(r['kind'], r['kind'])} · {report_age(at, now=now, lang=lang)}",
                "text": str(r.get("text") or ""),
            }
        )
    return out


def station_page(
    station: Mapping[str, Any],
    *,
    code: str,
    stars: int | None = None,
    reports: Sequence[Mapping[str, Any]] = (),
    api_base: str = "",
    lang: str = "zh",
) -> str:
    """Render the public page of ``station`` (a registry record as :func:`repository.get_station`
    returns it) as one HTML string."""
    if lang not in ("zh", "en"):
        raise InputError(f"unknown lang {lang!r}; use zh or en", field="lang")
    if stars is not None and not 1 <= int(stars) <= 5:
        raise InputError(f"stars must be 1–5, got {stars}", field="stars")
    amen = {e.code: (e.label_zh if lang == "zh" else e.label_en) for e in catalog.amenities()}
    kinds = {e.code: (e.label_zh if lang == "zh" else e.label_en) for e in catalog.station_kinds()}
    groups = [(e.code, e.label_zh if lang == "zh" else e.label_en) for e in catalog.worker_groups()]
    config = {"api_base": api_base.rstrip("/"), "station_id": int(station["station_id"]), "lang": lang}
    config_json = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    return (
        _env()
        .get_template("station_page.html")
        .render(
            lang=lang,
            station=station,
            code=code,
            kind_label=kinds.get(str(station.get("kind")), station.get("kind")),
            amenities=[amen.get(a, a) for a in station.get("amenities") or []],
            stars=stars,
            reports=report_lines(reports, lang=lang),
            groups=groups,
            services=[
                (a, amen[a])
                for a in (
                    "drinking_water",
                    "toilet",
                    "charging",
                    "microwave",
                    "seating",
                    "air_conditioning",
                    "first_aid",
                )
                if a in amen
            ],
            config_json=Markup(config_json),
        )
    )
