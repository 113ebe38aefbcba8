"""一站一码: one QR code per station pointing at its public page ``{base_url}/s/S<id>``, as PNG files
and a printable A4 PDF sheet (six stations a page, name, code and URL under each code).

QR codes are made with ``segno`` (error correction M, 4-module quiet zone); the sheet with
``reportlab`` in a CJK TrueType font (WenQuanYi Micro Hei from ``fonts-wqy-microhei``, or Noto CJK;
``YIZHAN_CJK_FONT`` names another). Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo.errors import InputError
from geo.ops.codes import public_url, station_code

logger = logging.getLogger(__name__)

FONT_ENV = "YIZHAN_CJK_FONT"
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
SHEET_NAME = "stations_qr.pdf"
INDEX_NAME = "stations_qr.csv"
COLUMNS, ROWS = 2, 3


@dataclass(frozen=True)
class QrSheet:
    """What :func:`write_station_qr` wrote."""

    pngs: tuple[Path, ...]
    pdf: Path
    index: Path
    urls: tuple[str, ...]


def cjk_font_path() -> Path:
    """A TrueType font with Chinese glyphs (``YIZHAN_CJK_FONT`` first)."""
    env = os.environ.get(FONT_ENV)
    for cand in ((env,) if env else ()) + FONT_CANDIDATES:
        if cand and Path(cand).is_file():
            return Path(cand)
    raise InputError(f"no CJK font found; install fonts-wqy-microhei or set {FONT_ENV}", field="font")


def _replace(tmp: Path, final: Path) -> Path:
    tmp.replace(final)
    return final


def _write_png(url: str, path: Path) -> Path:
    import segno

    tmp = path.with_suffix(".png.tmp")
    segno.make(url, error="m", micro=False).save(str(tmp), kind="png", scale=10, border=4)
    return _replace(tmp, path)


def _register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = "YizhanCJK"
    if name not in pdfmetrics.getRegisteredFontNames():
        path = cjk_font_path()
        font = TTFont(name, str(path), subfontIndex=0) if path.suffix == ".ttc" else TTFont(name, str(path))
        pdfmetrics.registerFont(font)
    return name


def _fit(canvas: Any, text: str, font: str, size: float, width: float) -> float:
    while size > 6 and canvas.stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _write_pdf(cells: Sequence[tuple[str, str, str, Path]], path: Path, *, title: str) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas as pdf_canvas

    font = _register_font()
    tmp = path.with_suffix(".pdf.tmp")
    c = pdf_canvas.Canvas(str(tmp), pagesize=A4)
    c.setTitle(title)
    page_w, page_h = A4
    cell_w, cell_h = (page_w - 20 * mm) / COLUMNS, (page_h - 20 * mm) / ROWS
    qr_size = min(cell_w, cell_h) - 40 * mm
    for i, (name, code, url, png) in enumerate(cells):
        if i and i % (COLUMNS * ROWS) == 0:
            c.showPage()
        col, row = i % COLUMNS, (i // COLUMNS) % ROWS
        x0, y0 = 10 * mm + col * cell_w, page_h - 10 * mm - (row + 1) * cell_h
        cx = x0 + cell_w / 2
        c.drawImage(str(png), cx - qr_size / 2, y0 + 30 * mm, qr_size, qr_size)
        size = _fit(c, name, font, 14, cell_w - 8 * mm)
        c.setFont(font, size)
        c.drawCentredString(cx, y0 + 22 * mm, name)
        c.setFont(font, 9)
        c.drawCentredString(cx, y0 + 16 * mm, f"{code} · 扫码登记到访 · 报告问题")
        c.setFont(font, _fit(c, url, font, 8, cell_w - 8 * mm))
        c.drawCentredString(cx, y0 + 11 * mm, url)
        c.setDash(2, 3)
        c.rect(x0 + 2 * mm, y0 + 2 * mm, cell_w - 4 * mm, cell_h - 4 * mm)
        c.setDash()
    c.save()
    return _replace(tmp, path)


def write_station_qr(stations: Sequence[Mapping[str, Any]], out_dir: str | Path, *, base_url: str) -> QrSheet:
    """Write ``S<id>.png`` for every station, the A4 sheet ``stations_qr.pdf`` and an index CSV.

    Parameters
    ----------
    stations
        Records with ``station_id`` and ``name`` (as the repository returns them).
    base_url
        Public base URL of the API (``YIZHAN_PUBLIC_URL``), e.g. ``https://yizhan.example.org``.

    Raises
    ------
    InputError
        No stations, a bad base URL, or no CJK font.
    """
    if not stations:
        raise InputError("no stations to make QR codes for", field="stations")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells, pngs, urls = [], [], []
    for st in stations:
        sid = int(st["station_id"])
        url = public_url(base_url, sid)
        png = _write_png(url, out / f"{station_code(sid)}.png")
        cells.append((str(st["name"]), station_code(sid), url, png))
        pngs.append(png)
        urls.append(url)
    pdf = _write_pdf(cells, out / SHEET_NAME, title="驿站二维码 · 一站一码")
    index = out / INDEX_NAME
    tmp = index.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["station_id", "code", "name", "url", "png"])
        for (name, code, url, png), st in zip(cells, stations, strict=True):
            writer.writerow([int(st["station_id"]), code, name, url, png.name])
    _replace(tmp, index)
    logger.info("wrote %d QR codes and %s to %s", len(pngs), SHEET_NAME, out)
    return QrSheet(pngs=tuple(pngs), pdf=pdf, index=index, urls=tuple(urls))
