"""Vector files read through one home (``geo.vector``): GDAL's driver jargon becomes a reason a
planner can act on, and GDAL's warnings about data it read anyway become log lines, not
RuntimeWarnings with a pyogrio source line (real files of Shanghai and Xi'an)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from geo.errors import InputError
from geo.vector import read_vector_file

FILES = {"shanghai": "shanghai_maptalks_tilezen/shanghai_bund_pois.geojson",
         "xian": "xian_gotrackit/xian_gotrackit_node.shp"}  # fmt: skip


@pytest.mark.parametrize("city", sorted(FILES))
def test_real_files_read_as_geopandas_does_without_warnings(
    city: str, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = data_dir / FILES[city]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = gpd.read_file(path)
    with warnings.catch_warnings(record=True) as escaped, caplog.at_level(logging.INFO, logger="geo.vector"):
        warnings.simplefilter("always")
        frame = read_vector_file(path, what="a points file", field="path")
    assert not escaped, [str(w.message) for w in escaped]
    assert frame.equals(reference)
    if city == "shanghai":  # the Bund POIs repeat feature ids: GDAL's note is one log line
        assert any("Several features with id" in r.getMessage() for r in caplog.records)


def test_unreadable_file_names_what_it_should_be(tmp_path: Path) -> None:
    path = tmp_path / "街道.geojson"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_vector_file(path, what="a boundary file", field="areas")
    assert raised.value.field == "areas"
    assert raised.value.message == (
        "cannot read 街道.geojson as a boundary file: not a vector format GDAL reads "
        "(GeoJSON, Shapefile, GeoPackage, KML, FlatGeobuf, ...)"
    )


def test_cli_areas_file_that_is_not_vector(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text("not json", encoding="utf-8")
    network = data_dir / "xian_gotrackit" / "xian_gotrackit_drive.graphml"
    r = CliRunner().invoke(cli, ["coverage", "--network", str(network), "--stations", "none",
                                 "--demand", "network", "--areas", str(bad)])  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "not a vector format GDAL reads" in r.stderr and "<DRIVER>" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
