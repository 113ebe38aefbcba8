"""Tests for geo.crs: WGS-84 / GCJ-02 / BD-09 conversions, location tests and frame conversion.

Reference values come from published projects and vendor documentation, each named beside its
values. Round-trip accuracy is measured in metres with an independent haversine distance.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import shapely

from geo import crs
from geo.errors import InputError

EARTH_RADIUS_METERS = 6_371_008.8


def haversine_meters(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance on the mean-radius sphere (independent of geo.crs)."""
    p1 = np.radians(np.asarray(lat1, dtype=float))
    p2 = np.radians(np.asarray(lat2, dtype=float))
    d_phi = p2 - p1
    d_lambda = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    a = np.sin(d_phi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(d_lambda / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_METERS * np.arcsin(np.sqrt(a)), dtype=np.float64)


@pytest.fixture(scope="module")
def china_grid() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A 0.1-degree grid (about 220,000 points) over the mainland-China box, plus jitter."""
    lon, lat = np.meshgrid(np.arange(73.4, 135.1, 0.1), np.arange(18.1, 53.6, 0.1))
    rng = np.random.default_rng(20261123)
    lon = lon + rng.uniform(0, 0.1, lon.shape)
    lat = lat + rng.uniform(0, 0.1, lat.shape)
    return np.clip(lon, 73.4, 135.1).ravel(), np.clip(lat, 18.1, 53.6).ravel()


# -------------------------------------------------------------------------------------------------
# round trips

ROUND_TRIPS = [
    ("wgs84", "gcj02"),
    ("gcj02", "wgs84"),
    ("wgs84", "bd09"),
    ("bd09", "wgs84"),
    ("gcj02", "bd09"),
    ("bd09", "gcj02"),
]


@pytest.mark.parametrize(("src", "dst"), ROUND_TRIPS)
def test_round_trip_is_better_than_a_tenth_of_a_metre_over_china(
    china_grid: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], src: str, dst: str
) -> None:
    lon, lat = china_grid
    there_lon, there_lat = crs.convert(lon, lat, src=src, dst=dst)
    back_lon, back_lat = crs.convert(there_lon, there_lat, src=dst, dst=src)
    error = haversine_meters(lon, lat, back_lon, back_lat)
    assert np.isfinite(error).all()
    assert error.max() < 0.1, f"{src}->{dst}->{src}: max error {error.max():.3g} m"
    # the conversion really moved the points (otherwise the round trip would prove nothing);
    # the GCJ-02 offset field passes close to zero in places, so check the median
    moved = haversine_meters(lon, lat, there_lon, there_lat)
    assert moved.min() > 1
    assert np.median(moved) > 300


def test_named_functions_agree_with_convert(
    china_grid: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
) -> None:
    lon, lat = china_grid[0][:5000], china_grid[1][:5000]
    pairs = {
        ("wgs84", "gcj02"): crs.wgs84_to_gcj02,
        ("gcj02", "wgs84"): crs.gcj02_to_wgs84,
        ("wgs84", "bd09"): crs.wgs84_to_bd09,
        ("bd09", "wgs84"): crs.bd09_to_wgs84,
        ("gcj02", "bd09"): crs.gcj02_to_bd09,
        ("bd09", "gcj02"): crs.bd09_to_gcj02,
    }
    for (src, dst), func in pairs.items():
        a_lon, a_lat = func(lon, lat)
        b_lon, b_lat = crs.convert(lon, lat, src=src, dst=dst)
        np.testing.assert_array_equal(a_lon, b_lon)
        np.testing.assert_array_equal(a_lat, b_lat)


def test_inverse_is_exact_not_the_one_step_approximation(
    china_grid: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
) -> None:
    # The inverse must reproduce its input through the forward transform to 1e-9 degrees; the
    # one-step approximation 2g - f(g) used by many snippets misses by metres in places.
    g_lon, g_lat = china_grid
    w_lon, w_lat = crs.gcj02_to_wgs84(g_lon, g_lat)
    f_lon, f_lat = crs.wgs84_to_gcj02(w_lon, w_lat)
    assert np.abs(f_lon - g_lon).max() < 1e-9
    assert np.abs(f_lat - g_lat).max() < 1e-9
    shift_lon, shift_lat = crs.wgs84_to_gcj02(g_lon, g_lat)
    f1_lon, f1_lat = crs.wgs84_to_gcj02(2 * g_lon - shift_lon, 2 * g_lat - shift_lat)
    assert haversine_meters(f1_lon, f1_lat, g_lon, g_lat).max() > 1.0

    b_lon, b_lat = 116.404, 39.915
    g2_lon, g2_lat = crs.bd09_to_gcj02(b_lon, b_lat)
    fb_lon, fb_lat = crs.gcj02_to_bd09(g2_lon, g2_lat)
    assert abs(fb_lon - b_lon) < 1e-9
    assert abs(fb_lat - b_lat) < 1e-9


# -------------------------------------------------------------------------------------------------
# published reference values


def test_coordtransform_readme_values() -> None:
    # wandergis/coordtransform, test/app.js ("//result" block), input (116.404, 39.915).
    lon, lat = crs.wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-12)
    assert lat == pytest.approx(39.91640428150164, abs=1e-12)
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-12)
    assert lat == pytest.approx(39.92133699351021, abs=1e-12)
    # coordtransform's inverses are one-step approximations (gcj02towgs84 = 2g - f(g), bd09togcj02
    # is Baidu's approximate formula): ours is exact, so it agrees only to within a few metres.
    lon, lat = crs.gcj02_to_wgs84(116.404, 39.915)
    assert haversine_meters(lon, lat, 116.39775550083061, 39.91359571849836) < 1.0
    lon, lat = crs.bd09_to_gcj02(116.404, 39.915)
    assert haversine_meters(lon, lat, 116.39762729119315, 39.90865673957631) < 1.0


@pytest.mark.parametrize(
    ("wgs_lon", "wgs_lat", "gcj_lon", "gcj_lat"),
    [
        # googollee/eviltransform, go/transform_test.go and python/test.py (shanghai, shenzhen, beijing)
        (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
        (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
        (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    ],
)
def test_eviltransform_values(wgs_lon: float, wgs_lat: float, gcj_lon: float, gcj_lat: float) -> None:
    lon, lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert lon == pytest.approx(gcj_lon, abs=1e-9)
    assert lat == pytest.approx(gcj_lat, abs=1e-9)
    # eviltransform's exact inverse must land within 0.5 m; ours within a millimetre
    back_lon, back_lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert haversine_meters(back_lon, back_lat, wgs_lon, wgs_lat) < 1e-3


def test_gcoord_values() -> None:
    # hujiulong/gcoord, test/unit/crs/GCJ02.spec.ts and BD09.spec.ts, input [123, 45], 5 decimals.
    # gcoord's GCJ02 -> WGS84 iterates to 1e-6 degrees, so compare to that precision.
    lon, lat = crs.gcj02_to_wgs84(123.0, 45.0)
    assert lon == pytest.approx(122.99395597, abs=1e-6)
    assert lat == pytest.approx(44.99804071, abs=1e-6)
    lon, lat = crs.gcj02_to_bd09(123.0, 45.0)
    assert lon == pytest.approx(123.00636499, abs=1e-8)
    assert lat == pytest.approx(45.00636899, abs=1e-8)
    # gcoord's BD09 inverse is Baidu's one-step formula (sub-metre error); ours iterates
    lon, lat = crs.bd09_to_gcj02(123.0, 45.0)
    assert lon == pytest.approx(122.99363304, abs=1e-5)
    assert lat == pytest.approx(44.99365430, abs=1e-5)
    lon, lat = crs.bd09_to_wgs84(123.0, 45.0)
    assert haversine_meters(lon, lat, 122.98762210, 44.99171540) < 1.0
    # gcoord: "not in China" -> unchanged
    assert crs.gcj02_to_wgs84(183.0, 45.0) == (183.0, 45.0)


def test_aliyun_documented_example() -> None:
    # Alibaba Cloud address-purification API "TransferCoord" documentation
    # (help.aliyun.com/zh/address-purification/addrpapi/developer-reference/coordinate-system-conversion):
    # GCJ02 120.026268,30.279164 -> BD09 120.032768,30.285238, WGS84 120.021519,30.281543 (6 decimals).
    lon, lat = crs.gcj02_to_bd09(120.026268, 30.279164)
    assert round(lon, 6) == 120.032768
    assert round(lat, 6) == 30.285238
    # Their WGS84 is the one-step approximation: it maps forward 1-2 m away from the input,
    # ours maps forward onto it; both agree within 2 m.
    lon, lat = crs.gcj02_to_wgs84(120.026268, 30.279164)
    assert haversine_meters(lon, lat, 120.021519, 30.281543) < 2.0
    fwd = crs.wgs84_to_gcj02(120.021519, 30.281543)
    assert haversine_meters(*fwd, 120.026268, 30.279164) > 1.0
    fwd = crs.wgs84_to_gcj02(lon, lat)
    assert haversine_meters(*fwd, 120.026268, 30.279164) < 1e-3


EASTERN_CITIES = {
    "北京": (116.397, 39.909),
    "天津": (117.200, 39.084),
    "济南": (117.000, 36.675),
    "青岛": (120.383, 36.067),
    "南京": (118.797, 32.060),
    "上海": (121.473, 31.230),
    "杭州": (120.155, 30.274),
    "福州": (119.296, 26.074),
    "厦门": (118.089, 24.480),
    "广州": (113.264, 23.129),
    "深圳": (114.057, 22.543),
    "沈阳": (123.431, 41.806),
}


@pytest.mark.parametrize("city", sorted(EASTERN_CITIES))
def test_offset_in_eastern_china_is_300_to_700_meters(city: str) -> None:
    # DOMAIN.md: "Offsets are 300-700 m in eastern China."
    lon, lat = EASTERN_CITIES[city]
    g_lon, g_lat = crs.wgs84_to_gcj02(lon, lat)
    offset = float(haversine_meters(lon, lat, g_lon, g_lat))
    assert 300 <= offset <= 700, f"{city}: {offset:.0f} m"
    # BD-09 adds a further shift of several hundred metres on top of GCJ-02
    b_lon, b_lat = crs.gcj02_to_bd09(g_lon, g_lat)
    assert 300 <= float(haversine_meters(g_lon, g_lat, b_lon, b_lat)) <= 1000


# -------------------------------------------------------------------------------------------------
# bounding box

BORDER_CASES = [
    # (lon, lat) just outside, (lon, lat) just inside the rough GCJ box
    ((72.0039, 40.0), (72.0041, 40.0)),  # west
    ((137.8348, 35.0), (137.8346, 35.0)),  # east
    ((110.0, 0.8292), (110.0, 0.8294)),  # south
    ((120.0, 55.8272), (120.0, 55.8270)),  # north
]


@pytest.mark.parametrize(("outside", "inside"), BORDER_CASES)
def test_bbox_border(outside: tuple[float, float], inside: tuple[float, float]) -> None:
    assert crs.out_of_china(*outside) is True
    assert crs.out_of_china(*inside) is False
    assert crs.wgs84_to_gcj02(*outside) == outside
    assert crs.gcj02_to_wgs84(*outside) == outside
    shifted = crs.wgs84_to_gcj02(*inside)
    assert 100 < float(haversine_meters(*inside, *shifted)) < 2000
    # Round trip 0.05 degrees inside the border. Right at the north and east borders the shift
    # can push a point out of the box, where GCJ-02 -> WGS-84 passes it through unchanged (the
    # rule is ambiguous there); these borders lie in the sea or abroad.
    step = (np.sign(inside[0] - outside[0]) * 0.05, np.sign(inside[1] - outside[1]) * 0.05)
    deeper = (inside[0] + step[0], inside[1] + step[1])
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(*deeper))
    assert float(haversine_meters(*deeper, *back)) < 0.01


def test_points_abroad_pass_through_gcj_unchanged() -> None:
    lon = np.array([-0.1276, 2.3522, 151.2093, -74.006])  # London, Paris, Sydney, New York
    lat = np.array([51.5072, 48.8566, -33.8688, 40.7128])
    for func in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
    assert crs.out_of_china(lon, lat).all()


def test_in_mainland_china_and_swapped() -> None:
    lon = np.array([116.397, 39.909, 0.0, 121.5654, 73.3, 135.2, 110.0, 110.0, 126.535])
    lat = np.array([39.909, 116.397, 0.0, 25.0330, 39.0, 48.0, 18.0, 53.7, 45.802])
    inside = crs.in_mainland_china(lon, lat)
    assert inside.tolist() == [True, False, False, True, False, False, False, False, True]
    swapped = crs.looks_swapped(lon, lat)
    assert swapped.tolist() == [False, True, False, False, False, False, False, False, False]
    assert crs.in_china is crs.in_mainland_china
    assert crs.in_mainland_china(116.397, 39.909) is True
    assert crs.looks_swapped(39.909, 116.397) is True
    assert crs.in_mainland_china(float("nan"), 39.9) is False


# -------------------------------------------------------------------------------------------------
# input forms


def test_scalar_inputs_give_floats_and_arrays_give_arrays() -> None:
    out = crs.wgs84_to_gcj02(116.404, 39.915)
    assert isinstance(out, tuple)
    assert all(type(v) is float for v in out)
    arr = crs.wgs84_to_gcj02(np.array([116.404, 121.47]), np.array([39.915, 31.23]))
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == (2,) for v in arr)
    assert arr[0][0] == out[0]
    # lists, ints, a pandas Series and broadcasting of a scalar latitude
    lst = crs.convert([116, 117], 40, src="wgs84", dst="bd09")
    assert lst[0].shape == (2,)
    assert lst[1].shape == (2,)
    series = pd.Series([116.404, 121.47])
    s_lon, _ = crs.gcj02_to_wgs84(series, pd.Series([39.915, 31.23]))
    assert isinstance(s_lon, np.ndarray)
    # 2-D arrays keep their shape
    grid_lon, grid_lat = np.meshgrid([116.0, 117.0, 118.0], [30.0, 31.0])
    g_lon, g_lat = crs.bd09_to_wgs84(grid_lon, grid_lat)
    assert g_lon.shape == (2, 3)
    assert g_lat.shape == (2, 3)


def test_inputs_are_not_mutated() -> None:
    lon = np.array([116.404, 121.47])
    lat = np.array([39.915, 31.23])
    lon0, lat0 = lon.copy(), lat.copy()
    for src, dst in ROUND_TRIPS:
        out_lon, _ = crs.convert(lon, lat, src=src, dst=dst)
        assert out_lon is not lon
    same_lon, _ = crs.convert(lon, lat, src="wgs84", dst="EPSG:4326")
    assert same_lon is not lon
    np.testing.assert_array_equal(same_lon, lon)
    np.testing.assert_array_equal(lon, lon0)
    np.testing.assert_array_equal(lat, lat0)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("src", "dst"), ROUND_TRIPS)
def test_nan_in_nan_out(src: str, dst: str) -> None:
    lon = np.array([116.404, np.nan, 121.47, np.inf])
    lat = np.array([39.915, 31.0, np.nan, 30.0])
    out_lon, out_lat = crs.convert(lon, lat, src=src, dst=dst)
    assert np.isfinite(out_lon[0])
    assert np.isfinite(out_lat[0])
    assert np.isnan(out_lon[1]) or np.isnan(out_lat[1])
    assert np.isnan(out_lon[2]) or np.isnan(out_lat[2])
    assert not np.isfinite(out_lon[3]) or not np.isfinite(out_lat[3])
    s_lon, s_lat = crs.convert(float("nan"), float("nan"), src=src, dst=dst)
    assert np.isnan(s_lon)
    assert np.isnan(s_lat)


# -------------------------------------------------------------------------------------------------
# CRS names


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("WGS84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("wgs-84", "wgs84"),
        ("gcj-02", "gcj02"),
        ("GCJ02", "gcj02"),
        ("amap", "gcj02"),
        ("高德", "gcj02"),
        ("bd-09", "bd09"),
        (" BD09 ", "bd09"),
        ("baidu", "bd09"),
    ],
)
def test_resolve_crs_aliases(name: str, code: str) -> None:
    assert crs.resolve_crs(name) == code


@pytest.mark.parametrize("name", ["utm", "EPSG:3857", "", "cgcs2000"])
def test_bad_crs_name_raises_input_error_naming_the_field(name: str) -> None:
    with pytest.raises(InputError) as info:
        crs.convert(116.0, 40.0, src=name, dst="wgs84")
    assert info.value.field == "crs"
    assert "wgs84" in info.value.message
    with pytest.raises(InputError) as info:
        crs.convert(116.0, 40.0, src="wgs84", dst=name)
    assert info.value.field == "crs"


def test_non_numeric_coordinates_raise_input_error() -> None:
    with pytest.raises(InputError) as info:
        crs.wgs84_to_gcj02("east", 40.0)
    assert info.value.field == "lon/lat"
    with pytest.raises(InputError):
        crs.wgs84_to_gcj02(np.zeros(3), np.zeros(2))


# -------------------------------------------------------------------------------------------------
# frames


def _amap_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["驿站A", "驿站B", "驿站C"], "kind": ["union", "union", "bank"]},
        geometry=[shapely.Point(116.404, 39.915), None, shapely.Point(121.47, 31.23)],
        crs="EPSG:4326",
        index=pd.Index([10, 11, 12], name="row"),
    )


def test_to_wgs84_frame_converts_copies_and_records_source() -> None:
    gdf = _amap_frame()
    before = gdf.copy()
    out = crs.to_wgs84_frame(gdf, src="GCJ-02")
    # input untouched
    assert gdf.geometry.equals(before.geometry)
    assert "source_crs" not in gdf.columns
    assert out is not gdf
    assert out.crs.equals("EPSG:4326")
    assert out.index.equals(gdf.index)
    assert list(out["name"]) == ["驿站A", "驿站B", "驿站C"]
    assert set(out["source_crs"]) == {"gcj02"}
    assert out.geometry.iloc[1] is None
    exp_lon, exp_lat = crs.gcj02_to_wgs84([116.404, 121.47], [39.915, 31.23])
    np.testing.assert_allclose(out.geometry.x.iloc[[0, 2]], exp_lon, atol=1e-12)
    np.testing.assert_allclose(out.geometry.y.iloc[[0, 2]], exp_lat, atol=1e-12)
    moved = haversine_meters(gdf.geometry.x.iloc[0], gdf.geometry.y.iloc[0], *exp_lon[:1], *exp_lat[:1])
    assert 300 < float(moved) < 700


def test_to_wgs84_frame_from_bd09_and_wgs84() -> None:
    gdf = _amap_frame()
    out = crs.to_wgs84_frame(gdf, src="baidu")
    exp = crs.bd09_to_wgs84(116.404, 39.915)
    assert (out.geometry.iloc[0].x, out.geometry.iloc[0].y) == pytest.approx(exp, abs=1e-12)
    assert set(out["source_crs"]) == {"bd09"}
    same = crs.to_wgs84_frame(gdf, src="wgs84")
    assert same.geometry.iloc[0].equals(gdf.geometry.iloc[0])
    assert set(same["source_crs"]) == {"wgs84"}


def test_to_wgs84_frame_from_plain_dataframe_and_mercator() -> None:
    df = pd.DataFrame({"name": ["a", "b"], "lon": [116.404, "bad"], "lat": [39.915, 31.0]})
    out = crs.to_wgs84_frame(df, src="gcj02")
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.geometry.iloc[1] is None
    assert "lon" in df.columns
    assert "geometry" not in df.columns
    exp = crs.gcj02_to_wgs84(116.404, 39.915)
    assert (out.geometry.iloc[0].x, out.geometry.iloc[0].y) == pytest.approx(exp, abs=1e-12)
    merc = _amap_frame().to_crs("EPSG:3857")
    out2 = crs.to_wgs84_frame(merc, src="gcj02")
    assert out2.crs.equals("EPSG:4326")
    assert out2.geometry.iloc[0].x == pytest.approx(exp[0], abs=1e-9)
    with pytest.raises(InputError) as info:
        crs.to_wgs84_frame(pd.DataFrame({"x": [1.0]}), src="gcj02")
    assert info.value.field == "lon"


def test_to_wgs84_frame_rejects_non_points_and_bad_crs() -> None:
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(116, 39, 117, 40)], crs="EPSG:4326")
    with pytest.raises(InputError) as info:
        crs.to_wgs84_frame(gdf, src="gcj02")
    assert info.value.field == "geometry"
    with pytest.raises(InputError) as info:
        crs.to_wgs84_frame(_amap_frame(), src="google")
    assert info.value.field == "crs"


@pytest.mark.parametrize(
    "box",
    [
        (113.90, 22.50, 114.00, 22.60),  # Shenzhen Nanshan
        (121.40, 31.15, 121.55, 31.28),  # Shanghai centre
        (112.90, 28.15, 113.05, 28.25),  # Changsha
        (108.88, 34.20, 109.00, 34.30),  # Xi'an
    ],
)
def test_bbox_to_wgs84_holds_every_converted_point_of_the_box(box: tuple[float, float, float, float]) -> None:
    """Brute force: 400 points along the box's edges and a 20 × 20 grid inside, converted one by one
    (the scalar path), all lie in the returned box (to a few metres), which is never more than a few
    metres wider than their own envelope. (The four corners alone miss up to ~60 m of the box.)"""
    from geo.crs import bbox_to_wgs84, convert

    x0, y0, x1, y1 = box
    assert bbox_to_wgs84(box, src="wgs84") == box
    t = np.linspace(0.0, 1.0, 100)
    gx, gy = np.meshgrid(np.linspace(x0, x1, 20), np.linspace(y0, y1, 20))
    w, h = x1 - x0, y1 - y0
    xs = np.concatenate([x0 + t * w, x0 + t * w, np.full(100, x0), np.full(100, x1), gx.ravel()])
    ys = np.concatenate([np.full(100, y0), np.full(100, y1), y0 + t * h, y0 + t * h, gy.ravel()])
    for src in ("gcj02", "bd09"):
        got = bbox_to_wgs84(box, src=src)
        pairs = [convert(float(x), float(y), src=src, dst="wgs84") for x, y in zip(xs, ys, strict=True)]
        px, py = [p[0] for p in pairs], [p[1] for p in pairs]
        exact = (min(px), min(py), max(px), max(py))
        metres = 5 / 111_000  # 5 m in degrees (a little less in longitude at these latitudes: conservative)
        assert got[0] <= exact[0] + metres and got[1] <= exact[1] + metres
        assert got[2] >= exact[2] - metres and got[3] >= exact[3] - metres
        assert max(abs(g - e) for g, e in zip(got, exact, strict=True)) < metres
        assert 0.001 < x0 - got[0] < 0.02  # the offset itself: hundreds of metres to the south-west


def test_bbox_to_wgs84_contains_every_converted_point() -> None:
    """Points inside a GCJ-02/BD-09 box convert to points inside the returned WGS-84 box (two cities)."""
    import numpy as np

    from geo.crs import bbox_to_wgs84, convert

    rng = np.random.default_rng(7)
    for lon0, lat0 in ((121.47, 31.23), (112.97, 28.19)):  # Shanghai, Changsha
        box = (lon0 - 0.05, lat0 - 0.04, lon0 + 0.05, lat0 + 0.04)
        x = np.concatenate([rng.uniform(box[0], box[2], 20000), np.linspace(box[0], box[2], 2001)])
        y = np.concatenate([rng.uniform(box[1], box[3], 20000), np.full(2001, box[1])])
        for src in ("gcj02", "bd09"):
            out = bbox_to_wgs84(box, src=src)
            lon, lat = convert(x, y, src=src, dst="wgs84")
            assert ((lon >= out[0]) & (lon <= out[2]) & (lat >= out[1]) & (lat <= out[3])).all()
            assert out[2] - out[0] < 0.1 + 1e-3 and out[3] - out[1] < 0.08 + 1e-3  # not inflated (< 100 m)
        assert bbox_to_wgs84(box, src="wgs84") == box
