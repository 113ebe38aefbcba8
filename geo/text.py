"""Text hygiene of user data: control characters are refused at input, spreadsheet formulas are
neutralised at export, and exported tables are written to a temporary file and renamed.

Input: NUL and the other C0 control characters except tab and newline (U+0000–U+0008,
U+000B–U+001F) are refused wherever a person's text enters (the API and every station importer):
PostgreSQL cannot store NUL, XLSX cannot hold the others, and none belongs in a name or address.
Importers first turn CR LF and lone CR inside a cell into LF (:func:`normalize_newlines`).

Export (OWASP "CSV injection"): a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR is a
live formula in Excel, LibreOffice and WPS. CSV cells get a leading ``'`` (:func:`unneutralise_formula`
undoes it when a file comes back in); XLSX text is always written as string cells, never formulas.
The stored value is unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from geo.errors import InputError

logger = logging.getLogger(__name__)

#: C0 control characters refused at input (tab U+0009 and newline U+000A are allowed)
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f]")
#: the same as a JSON-schema / OpenAPI ``pattern`` (ECMA regex) for documented string fields
NO_CONTROL_PATTERN = "^[^\\u0000-\\u0008\\u000B-\\u001F]*$"
#: first characters that make a spreadsheet cell a formula (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: characters XLSX (XML 1.0) cannot hold at all
_XLSX_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def display_width(text: str) -> int:
    """The columns ``text`` takes in a terminal: East Asian wide and fullwidth characters (汉字, ，) two,
    combining marks none, others one."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def pad(value: object, width: int, align: str = "<") -> str:
    """``str(value)`` padded with spaces to ``width`` terminal columns (:func:`display_width`), left
    (``<``) or right (``>``) aligned: the one way the command line lines up its text tables."""
    text = str(value)
    fill = " " * max(0, width - display_width(text))
    return text + fill if align == "<" else fill + text


def control_char_message(text: str) -> str | None:
    """A message naming the first refused control character in ``text``, or ``None`` if clean."""
    found = CONTROL_CHARS.search(text)
    if found is None:
        return None
    return (
        f"contains the control character U+{ord(found.group()):04X} at position {found.start() + 1}; "
        "remove it (only tab and newline are allowed)"
    )


def check_text(text: str, *, field: str) -> str:
    """Return ``text``, or raise :class:`InputError` naming ``field`` if it has a control character."""
    message = control_char_message(text)
    if message is not None:
        raise InputError(f"{field} {message}", field=field)
    return text


def normalize_newlines(text: str) -> str:
    """CR LF and lone CR (classic Mac) as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def neutralise_formula(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'``; others unchanged.
    Text whose leading quotes are followed by a formula character gets one quote more, so that
    :func:`unneutralise_formula` always gives the value back exactly."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_START):
        return "'" + value
    return value


def unneutralise_formula(value: Any) -> Any:
    """Undo :func:`neutralise_formula` (one ``'`` before quotes and a formula character goes)."""
    if isinstance(value, str) and value[:1] == "'" and value[1:].lstrip("'").startswith(FORMULA_START):
        return value[1:]
    return value


def _xlsx_text(value: str) -> str:
    cleaned = _XLSX_ILLEGAL.sub("\ufffd", value)
    if cleaned != value:
        logger.warning("a cell held control characters XLSX cannot store; written as U+FFFD")
    return cleaned


def _new_file(path: Path) -> Path:
    """A new empty file ``.<name>.<random>.tmp<suffix>`` beside ``path``, created exclusively with the
    permissions of any new file (0666 less the umask; :func:`tempfile.mkstemp` would give 0600, and the
    rename would keep them)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


@contextlib.contextmanager
def atomic_path(path: str | Path, *, field: str = "out") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on failure delete it.

    Raises
    ------
    InputError
        Naming ``field``, when the folder cannot be created or written (one line, no traceback).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_file(path)
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}", field=field) from None
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}", field=field) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_csv(frame: pd.DataFrame, path: str | Path, *, field: str = "out") -> Path:
    """Write a table as CSV (UTF-8 with BOM and CR LF, for Excel) with formulas neutralised, atomically."""
    safe = frame.map(neutralise_formula) if len(frame) else frame
    with atomic_path(path, field=field) as tmp:
        # CR LF line ends (as Excel writes): a cell holding CR or LF is then quoted
        safe.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return Path(path)


def write_xlsx(sheets: Mapping[str, pd.DataFrame], path: str | Path, *, field: str = "out") -> Path:
    """Write tables as the sheets of one XLSX workbook, atomically: every text value is a string cell,
    never a formula (the value is kept as it is), characters XLSX cannot hold become U+FFFD."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    for name, frame in sheets.items():
        ws = wb.create_sheet(title=name[:31])
        ws.append([str(c) for c in frame.columns])
        for row in frame.itertuples(index=False, name=None):
            cells = []
            for value in row:
                cell = WriteOnlyCell(ws, value=_xlsx_cell(value))
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # openpyxl makes "=..." a formula cell
                cells.append(cell)
            ws.append(cells)
    with atomic_path(path, field=field) as tmp:
        wb.save(tmp)
    return Path(path)


def _xlsx_cell(value: Any) -> Any:
    """A value openpyxl writes as a plain cell: text neutralised, missing values empty, lists joined."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return _xlsx_text(";".join(str(v) for v in value))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, bool | int | float):
        return value
    return _xlsx_text(str(value) if not isinstance(value, str) else value)
