"""``yizhan stations qr``: one QR code per station (一站一码) and a printable A4 sheet."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from api.cli._common import domain_errors, print_json
from api.cli.lang import say


@domain_errors
def qr(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Directory for S<id>.png, stations_qr.pdf, stations_qr.csv."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Public base URL of the API (default: YIZHAN_PUBLIC_URL)."
    ),
    status: list[str] = typer.Option(["open"], "--status", help="Stations with these statuses (repeatable)."),
    station: list[int] = typer.Option([], "--station", help="Only these station ids (repeatable)."),
    json_out: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Write a PNG QR code per station pointing at its public page {base-url}/s/S<id>, and an A4 PDF
    sheet with the station names for printing."""
    from geo.db import repository as repo
    from geo.db.engine import session_scope
    from geo.errors import InputError
    from geo.ops.qr import write_station_qr

    base = base_url or os.environ.get("YIZHAN_PUBLIC_URL")
    if not base:
        raise InputError(
            "give --base-url or set YIZHAN_PUBLIC_URL (the address phones will open)", field="base_url"
        )
    with session_scope() as session:
        if station:
            records = [repo.get_station(session, i) for i in station]
        else:
            frame = repo.stations_frame(session, statuses=status)
            records = [
                {"station_id": int(i), "name": n}
                for i, n in zip(frame["station_id"], frame["name"], strict=True)
            ]
    sheet = write_station_qr(records, out, base_url=base)
    if json_out:
        print_json(
            {
                "pngs": [str(p) for p in sheet.pngs],
                "pdf": str(sheet.pdf),
                "index": str(sheet.index),
                "urls": list(sheet.urls),
            }
        )
    else:
        say(f"wrote {len(sheet.pngs)} QR codes, {sheet.pdf.name} and {sheet.index.name} to {out}")
