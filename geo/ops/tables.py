"""Reading the small tables operations take in (visit logs, map POI exports): CSV or XLSX."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from geo.errors import InputError


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError("cannot decode the file as UTF-8 or GBK/GB18030", field="file")


def read_table(path: Path) -> tuple[list[Any], list[list[Any]]]:
    """The header row and the body rows of a CSV (UTF-8/BOM/GBK, sniffed delimiter) or XLSX file."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise InputError(f"cannot read {path.name} as XLSX: {exc}", field="file") from exc
        try:
            ws = wb.active
            rows = [list(r) for r in ws.iter_rows(values_only=True)] if ws is not None else []
        finally:
            wb.close()
    elif suffix in (".csv", ".txt", ".tsv"):
        text_ = _decode(path.read_bytes())
        try:
            dialect: Any = csv.Sniffer().sniff(text_[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        rows = [list(r) for r in csv.reader(io.StringIO(text_), dialect)]
    else:
        raise InputError(f"unsupported file type {suffix!r}; use .csv or .xlsx", field="file")
    if not rows:
        raise InputError(f"{path.name} is empty", field="file")
    return rows[0], rows[1:]
