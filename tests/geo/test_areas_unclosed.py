"""An OSM boundary whose ways are all present but do not close is reported by name and left out,
not closed into a guessed polygon (``geo.areas.areas_from_osm``; ``--areas`` of the commands)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.services import read_areas_file
from geo.areas import areas_from_osm
from geo.errors import InputError

SQUARE = [(1, 112.940, 28.180), (2, 112.950, 28.180), (3, 112.950, 28.190), (4, 112.940, 28.190)]
OPEN = [(11, 112.950, 28.180), (12, 112.960, 28.180), (13, 112.960, 28.190)]  # three sides only


def _osm(path: Path, *, with_closed: bool = True) -> Path:
    nodes = "".join(f'<node id="{i}" lon="{x}" lat="{y}"/>' for i, x, y in SQUARE + OPEN)
    ways = ('<way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/></way>'
            '<way id="200"><nd ref="11"/><nd ref="12"/><nd ref="13"/></way>')
    good = ('<relation id="1000"><member type="way" ref="100" role="outer"/>'
            '<tag k="type" v="boundary"/><tag k="boundary" v="administrative"/>'
            '<tag k="admin_level" v="8"/><tag k="name" v="好街道"/>'
            '<tag k="ref:GB" v="430104001"/></relation>')
    bad = ('<relation id="2000"><member type="way" ref="200" role="outer"/>'
           '<tag k="type" v="boundary"/><tag k="boundary" v="administrative"/>'
           '<tag k="admin_level" v="8"/><tag k="name" v="坏街道"/></relation>')
    path.write_text(f'<?xml version="1.0"?><osm version="0.6">{nodes}{ways}{good if with_closed else ""}'
                    f"{bad}</osm>", encoding="utf-8")
    return path


def test_open_boundary_is_named_and_left_out(tmp_path: Path) -> None:
    areas = areas_from_osm(_osm(tmp_path / "a.osm"), admin_level=8)
    assert list(areas["area_name"]) == ["好街道"]
    assert areas.attrs["unclosed"] == ["坏街道"]
    assert areas.geometry.iloc[0].area == pytest.approx(0.01 * 0.01)


def test_only_open_boundaries_is_an_error_naming_them(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="坏街道"):
        read_areas_file(_osm(tmp_path / "b.osm", with_closed=False), level="township")


def test_commands_warn_by_name(tmp_path: Path) -> None:
    osm = _osm(tmp_path / "c.osm")
    out = tmp_path / "areas.geojson"
    r = CliRunner().invoke(app, ["areas", "export", "--areas", str(osm), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "坏街道" in r.stderr and "does not close" in r.stderr
    assert "好街道" in out.read_text(encoding="utf-8")
