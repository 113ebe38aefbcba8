"""geo.checks: one rule, one wording per argument kind, the field named in every error."""

from __future__ import annotations

import math

import pytest

from geo import checks
from geo.errors import InputError


@pytest.mark.parametrize("value", [15, 15.0, "15", 0.5, 120])
def test_minutes_accepts_a_threshold(value: object) -> None:
    assert checks.check_minutes(value) == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, 121, math.nan, math.inf, "abc", None, "1e999"])
def test_minutes_rejects_with_one_wording(value: object) -> None:
    with pytest.raises(InputError) as err:
        checks.check_minutes(value, field="--minutes")
    assert err.value.field == "--minutes"
    assert err.value.message.startswith("--minutes must be a")


def test_minutes_list_sorted_unique() -> None:
    assert checks.check_minutes_list(["15", 5, 10, 5]) == (5.0, 10.0, 15.0)
    with pytest.raises(InputError, match="at least one threshold"):
        checks.check_minutes_list([])


def test_horizon_is_at_least_the_threshold() -> None:
    assert checks.check_horizon_minutes(60, minutes=15) == 60.0
    with pytest.raises(InputError, match=r"horizon_minutes must be a number of minutes in \[15"):
        checks.check_horizon_minutes(10, minutes=15)


def test_counts_shares_and_positive_numbers() -> None:
    assert checks.check_count(3, field="k", maximum=10) == 3
    for bad in (0, 11, 2.5, True, "3"):
        with pytest.raises(InputError, match=r"^k must be"):
            checks.check_count(bad, field="k", maximum=10)
    assert checks.check_share(0.8, field="target") == 0.8
    with pytest.raises(InputError, match="between 0 and 1"):
        checks.check_share(1.2, field="target")
    assert checks.check_positive("4.5", field="speed_kph", unit="km/h") == 4.5
    with pytest.raises(InputError, match=r"speed_kph must be a number > 0 km/h"):
        checks.check_positive(0, field="speed_kph", unit="km/h")
    assert checks.check_non_negative(0, field="snap_meters") == 0.0


def test_mode_crs_and_bbox_delegate_to_their_homes() -> None:
    assert checks.check_mode("ebike") == "ebike"
    with pytest.raises(InputError, match="unknown mode"):
        checks.check_mode("car")
    assert checks.check_crs("gcj02") == "gcj02"
    with pytest.raises(InputError) as err:
        checks.check_crs("utm", field="--crs")
    assert err.value.field == "--crs"
    assert checks.check_bbox("113.9,22.5,114.0,22.6") == (113.9, 22.5, 114.0, 22.6)
    for bad in ("1,2,3", "114,22.5,113.9,22.6", [0, 0, 0, 0], "a,b,c,d"):
        with pytest.raises(InputError, match=r"^bbox must be"):
            checks.check_bbox(bad)


def test_travel_modes_come_from_the_data_file() -> None:
    import tomllib

    from geo.catalog import DATA_DIR, mode_codes, mode_speeds_kph, travel_modes

    raw = tomllib.loads((DATA_DIR / "modes.toml").read_text(encoding="utf-8"))
    assert mode_codes() == tuple(raw)
    for code, spec in raw.items():
        mode = travel_modes()[code]
        assert (mode.speed_kph, mode.access, mode.amap_mode) == (spec["speed_kph"], spec["access"],
                                                                  spec["amap_mode"])
        assert mode_speeds_kph()[code] == spec["speed_kph"]


def test_weights_choices_resolution_and_point_frames_have_one_wording_each() -> None:
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    assert checks.check_weights([1, "2.5", 0]).tolist() == [1.0, 2.5, 0.0]
    for bad, row in (([1, -1], 1), ([float("nan")], 0), (["x", 1], 0), ([1, 2, float("inf")], 2)):
        with pytest.raises(InputError, match=rf"^demand must be a number ≥ 0 in every row; row {row} has"):
            checks.check_weights(bad, field="demand")
    assert checks.check_choice("greedy", field="--method", choices=("exact", "greedy")) == "greedy"
    with pytest.raises(InputError, match=r"^--method must be one of exact, greedy, got 'fast'$"):
        checks.check_choice("fast", field="--method", choices=("exact", "greedy"))
    assert checks.check_h3_resolution(np.int64(9)) == 9
    for bad in (16, -1, 8.5, True):
        with pytest.raises(InputError, match=r"^resolution must be"):
            checks.check_h3_resolution(bad)
    # a point query (zero width) is a box only when strict=False (the API's and the CLI's filters)
    assert checks.check_bbox("114,22.5,114,22.5", strict=False) == (114.0, 22.5, 114.0, 22.5)
    with pytest.raises(InputError, match="lon0 < lon1"):
        checks.check_bbox("114,22.5,114,22.5")
    with pytest.raises(InputError, match="lon0 ≤ lon1"):
        checks.check_bbox("114,22.5,113,22.6", strict=False)
    points = gpd.GeoDataFrame(geometry=[shapely.Point(114, 22.5)], crs="EPSG:4326")
    checks.check_point_frame(points, field="stations")
    with pytest.raises(InputError, match=r"^stations must be in EPSG:4326"):
        checks.check_point_frame(points.to_crs(3857), field="stations")
    with pytest.raises(InputError, match=r"^stations geometry must be points$"):
        checks.check_point_frame(points.set_geometry([shapely.box(0, 0, 1, 1)]), field="stations")
    with pytest.raises(InputError, match=r"^stations must be a GeoDataFrame, got DataFrame$"):
        checks.check_point_frame(pd.DataFrame({"lon": [114.0]}), field="stations")


def test_output_suffixes_have_one_wording() -> None:
    from pathlib import Path

    assert checks.check_suffix(Path("out/x.GeoJSON"), (".geojson", ".csv"), field="--out") == ".geojson"
    with pytest.raises(InputError, match=r"^--out must end in \.geojson or \.csv, got x\.txt$"):
        checks.check_suffix(Path("out/x.txt"), (".geojson", ".csv"), field="--out")
