"""The bad-input corpus: every case is answered 4xx with the one error body naming the field (or, for
a station file, the rejected rows), never 500; the same station files through ``yizhan stations
import`` give one line on stderr and exit 2, never a traceback. The last-resort 500 handler is tested
on a route made to fail, and is reached by no case of the corpus.

Cases come from the reliability trial of issue #15 (non-finite numbers, NUL and control characters,
malformed station files) and from reading the parsers (JSON integers over 4,300 digits, amenity cells
that look like nested JSON, GPKG and XLSX that are not, query-string names with NUL).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from api.settings import Settings
from tests.api._support import SHENZHEN_UNIVERSITY, WRITE, station_feature

LON, LAT = SHENZHEN_UNIVERSITY
DEEP = 100_000  # nesting depth beyond any recursion limit


@dataclass(frozen=True)
class Case:
    """One request: ``path`` may hold ``{sid}`` (a stored station's id)."""

    method: str
    path: str
    body: str | None = None  # raw JSON text (so NaN and Infinity go out as written)
    field: str | None = None  # the error's expected "field" (None: not checked)
    statuses: tuple[int, ...] = (422,)
    headers: dict[str, str] = dc_field(default_factory=lambda: dict(WRITE))


def feature_text(lon: str = str(LON), lat: str = str(LAT), **props: str) -> str:
    """A station Feature as JSON text; ``props`` values are JSON literals (``"NaN"``, ``'"x"'``)."""
    properties = {"name": '"好驿站"', "kind": '"union_station"', **props}
    inner = ", ".join(f'"{k}": {v}' for k, v in properties.items())
    return (
        f'{{"type": "Feature", "geometry": {{"type": "Point", "coordinates": [{lon}, {lat}]}}, '
        f'"properties": {{{inner}}}}}'
    )


def patch_text(**props: str) -> str:
    inner = ", ".join(f'"{k}": {v}' for k, v in props.items())
    return f'{{"type": "Feature", "properties": {{{inner}}}}}'


def s(text: str) -> str:
    """A JSON string literal (control characters escaped as JSON requires)."""
    return json.dumps(text)


NEAREST = f"/nearest?crs=wgs84&lon={LON}&lat={LAT}"
JSON_CASES: dict[str, Case] = {
    # non-finite numbers in bodies (the validation handler used to fail echoing them)
    "post-lon-nan": Case("POST", "/stations", feature_text(lon="NaN"), "geometry.coordinates.0"),
    "post-lat-infinity": Case("POST", "/stations", feature_text(lat="Infinity"), "geometry.coordinates.1"),
    "post-lon-minus-infinity": Case(
        "POST", "/stations", feature_text(lon="-Infinity"), "geometry.coordinates.0"
    ),
    "post-lon-1e999": Case("POST", "/stations", feature_text(lon="1e999"), "geometry.coordinates.0"),
    "post-area-nan": Case("POST", "/stations", feature_text(floor_area_m2="NaN"), "properties.floor_area_m2"),
    "post-area-infinity": Case(
        "POST", "/stations", feature_text(floor_area_m2="Infinity"), "properties.floor_area_m2"
    ),
    "post-area-1e999": Case(
        "POST", "/stations", feature_text(floor_area_m2="1e999"), "properties.floor_area_m2"
    ),
    "post-seats-nan": Case("POST", "/stations", feature_text(seats="NaN"), "properties.seats"),
    "post-seats-1e999": Case("POST", "/stations", feature_text(seats="1e999"), "properties.seats"),
    "put-lat-nan": Case("PUT", "/stations/{sid}", feature_text(lat="NaN"), "geometry.coordinates.1"),
    "patch-area-nan": Case(
        "PATCH", "/stations/{sid}", patch_text(floor_area_m2="NaN"), "properties.floor_area_m2"
    ),
    "patch-area-minus-infinity": Case(
        "PATCH", "/stations/{sid}", patch_text(floor_area_m2="-Infinity"), "properties.floor_area_m2"
    ),
    "patch-point-nan": Case(
        "PATCH",
        "/stations/{sid}",
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, NaN]}, "properties": {}}',
        "geometry.coordinates.0",
    ),
    "siting-minutes-nan": Case("POST", "/siting", '{"minutes": NaN, "add": 1}', "minutes"),
    "siting-minutes-infinity": Case("POST", "/siting", '{"minutes": Infinity, "add": 1}', "minutes"),
    "siting-minutes-1e999": Case("POST", "/siting", '{"minutes": 1e999, "add": 1}', "minutes"),
    "siting-share-nan": Case("POST", "/siting", '{"target_share": NaN}', "target_share"),
    "siting-budget-infinity": Case("POST", "/siting", '{"budget": Infinity}', "budget"),
    "siting-limit-nan": Case(
        "POST", "/siting", '{"add": 1, "time_limit_seconds": NaN}', "time_limit_seconds"
    ),
    # NUL and C0 control characters in body strings (NUL used to reach psycopg2)
    "post-name-nul": Case("POST", "/stations", feature_text(name=s("驿\x00站")), "properties.name"),
    "post-address-nul": Case("POST", "/stations", feature_text(address=s("\x00")), "properties.address"),
    "post-phone-soh": Case("POST", "/stations", feature_text(phone=s("0755\x01")), "properties.phone"),
    "post-host-escape": Case(
        "POST", "/stations", feature_text(host_org=s("\x1b[31m")), "properties.host_org"
    ),
    "post-name-cr": Case("POST", "/stations", feature_text(name=s("a\rb")), "properties.name"),
    "post-kind-nul": Case("POST", "/stations", feature_text(kind=s("union\x00")), "properties.kind"),
    "post-amenity-nul": Case(
        "POST", "/stations", feature_text(amenities=s(["toilet\x00"])), "properties.amenities.0"
    ),
    "post-hours-vt": Case(
        "POST", "/stations", feature_text(opening_hours=s("24/7\x0b")), "properties.opening_hours"
    ),
    "post-external-id-nul": Case(
        "POST", "/stations", feature_text(external_id=s("x\x00")), "properties.external_id"
    ),
    "put-name-nul": Case("PUT", "/stations/{sid}", feature_text(name=s("\x00")), "properties.name"),
    "patch-name-nul": Case("PATCH", "/stations/{sid}", patch_text(name=s("a\x00b")), "properties.name"),
    "patch-township-bel": Case(
        "PATCH", "/stations/{sid}", patch_text(township_name=s("\x07")), "properties.township_name"
    ),
    # bodies that are not the JSON asked for
    "body-not-json": Case("POST", "/stations", "{", None, (400, 422)),
    "body-deeply-nested": Case("POST", "/stations", "[" * DEEP + "]" * DEEP, None, (400, 422)),
    "body-integer-5000-digits": Case(
        "POST", "/stations", feature_text(lon="1" + "0" * 5000), None, (400, 422)
    ),
    "body-array": Case("POST", "/stations", "[]", None),
    "body-string": Case("POST", "/stations", '"Feature"', None),
    "body-invalid-utf8": Case("POST", "/stations", None, None, (400, 422)),
    "patch-not-a-feature": Case("PATCH", "/stations/{sid}", '{"type": "Point"}', "type"),
    # query strings
    "query-kind-nul": Case("GET", "/stations?kind=%00", None, "kind", headers={}),
    "query-area-code-esc": Case("GET", "/stations?area_code=a%1Bb", None, "area_code", headers={}),
    "query-bbox-nul": Case("GET", "/stations?bbox=113%00,22,114,23", None, "bbox", headers={}),
    "query-open-at-nul": Case("GET", "/stations?open_at=2026-01-01%00", None, "open_at", headers={}),
    "query-name-nul": Case("GET", "/stations?%00=1", None, None, headers={}),
    "query-nearest-amenity-nul": Case("GET", NEAREST + "&amenity=%00", None, "amenity", headers={}),
    "query-nearest-lon-nul": Case("GET", "/nearest?lon=113%00&lat=22.5", None, "lon", headers={}),
    "query-nearest-lon-nan": Case("GET", "/nearest?crs=wgs84&lon=nan&lat=22.5", None, "lon", headers={}),
    "query-nearest-lat-infinity": Case(
        "GET", "/nearest?crs=wgs84&lon=113.9&lat=inf", None, "lat", headers={}
    ),
    "query-nearest-lon-1e999": Case("GET", "/nearest?crs=wgs84&lon=1e999&lat=22.5", None, "lon", headers={}),
    "query-coverage-minutes-nan": Case("GET", "/coverage?minutes=nan", None, "minutes", headers={}),
    "query-coverage-amenity-soh": Case("GET", "/coverage?amenity=%01", None, "amenity", headers={}),
    "query-gaps-minutes-infinity": Case("GET", "/gaps?minutes=Infinity", None, "minutes", headers={}),
    "query-ogc-bbox-nul": Case("GET", "/collections/stations/items?bbox=%00", None, "bbox", headers={}),
    "query-limit-1e999": Case("GET", "/stations?limit=1e999", None, "limit", headers={}),
    "query-bbox-nan": Case("GET", "/stations?bbox=nan,nan,nan,nan", None, "bbox", headers={}),
    "query-import-source-nul": Case("POST", "/stations/import?source=%00", None, "source"),
    "query-bad-percent-utf8": Case("GET", "/stations?kind=%ff%fe", None, None, (404, 422), headers={}),
    "path-huge-station-id": Case("GET", "/stations/" + "9" * 30, None, None, (404, 422), headers={}),
}


@pytest.fixture()
def station_id(add_station: Any) -> int:
    return int(add_station("坏输入测试驿站", LON, LAT)["id"])


def _assert_error_body(r: Any, case_field: str | None) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert "field" in body, body
    if case_field is not None:
        assert body["field"] == case_field, body
    return body


@pytest.mark.parametrize("name", list(JSON_CASES))
def test_request_corpus(name: str, client: TestClient, station_id: int) -> None:
    case = JSON_CASES[name]
    path = case.path.replace("{sid}", str(station_id))
    headers = {**case.headers}
    content: bytes | None = None
    if case.body is not None:
        content = case.body.encode()
        headers["Content-Type"] = "application/json"
    elif name == "body-invalid-utf8":
        content, headers["Content-Type"] = b'{"type": "Feature\xff\xfe"}', "application/json"
    if name == "query-import-source-nul":
        r = client.post(path, headers=headers, files={"file": ("s.csv", b"name,lon,lat\nx,113.9,22.5\n")})
    else:
        r = client.request(case.method, path, content=content, headers=headers)
    assert r.status_code in case.statuses, f"{name}: {r.status_code} {r.text[:300]}"
    _assert_error_body(r, case.field)
    assert "\x00" not in r.text


# ---------------------------------------------------------------------------------------------- files


def _csv(rows: list[str], newline: str = "\n") -> bytes:
    return newline.join(["编号,名称,经度,纬度,类型,地址,设施,面积,座位", *rows, ""]).encode("utf-8")


def _geojson(features: Any, **top: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features, **top}, ensure_ascii=False).encode()


def _point_feature(name: str = "好驿站", coords: Any = (LON, LAT), **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(coords)},
        "properties": {"name": name, **props},
    }


def _xlsx(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD = f"G1,好驿站,{LON},{LAT},工会驿站,南山,饮水,20,4"
WKT_FEATURE = {"type": "Feature", "geometry": f"POINT ({LON} {LAT})", "properties": {"name": "x"}}


@dataclass(frozen=True)
class FileCase:
    """A station file; ``rows``: the expected ``(row, field)`` errors, or ``None`` when the file as a
    whole is refused (``field == "file"``)."""

    name: str
    data: bytes
    rows: tuple[tuple[int, str], ...] | None = None


FILE_CASES: dict[str, FileCase] = {
    "geojson-features-not-objects": FileCase(
        "s.geojson",
        _geojson([1, "x", None, [1, 2], _point_feature()]),
        ((1, "feature"), (2, "feature"), (3, "feature"), (4, "feature")),
    ),
    "geojson-wkt-geometry": FileCase("s.geojson", _geojson([WKT_FEATURE]), ((1, "geometry"),)),
    "geojson-coordinates-object": FileCase(
        "s.geojson",
        _geojson([{**_point_feature(), "geometry": {"type": "Point", "coordinates": {"a": 1, "b": 2}}}]),
        ((1, "geometry"),),
    ),
    "geojson-coordinates-text": FileCase(
        "s.geojson",
        _geojson([{**_point_feature(), "geometry": {"type": "Point", "coordinates": "1,2"}}]),
        ((1, "geometry"),),
    ),
    "geojson-geometry-type-list": FileCase(
        "s.geojson",
        _geojson([{**_point_feature(), "geometry": {"type": ["Point"], "coordinates": [1, 2]}}]),
        ((1, "geometry"),),
    ),
    "geojson-polygon": FileCase(
        "s.geojson",
        _geojson([{**_point_feature(), "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}}]),
        ((1, "geometry"),),
    ),
    "geojson-properties-list": FileCase(
        "s.geojson",
        _geojson([{"type": "Feature", "geometry": None, "properties": ["name"]}]),
        ((1, "feature"),),
    ),
    "geojson-properties-text": FileCase(
        "s.geojson", _geojson([{"type": "Feature", "geometry": None, "properties": "x"}]), ((1, "feature"),)
    ),
    "geojson-deeply-nested": FileCase("s.geojson", b'{"features": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    "geojson-integer-5000-digits": FileCase("s.geojson", b'{"features": [' + b"1" * 5000 + b"]}"),
    "geojson-top-level-array": FileCase("s.geojson", b"[]"),
    "geojson-features-object": FileCase("s.geojson", b'{"type": "FeatureCollection", "features": {}}'),
    "geojson-not-json": FileCase("s.geojson", b"{'features': []}"),
    "geojson-lon-nan": FileCase(
        "s.geojson", _geojson([_point_feature(coords=(float("nan"), LAT))]), ((1, "lon"),)
    ),
    "geojson-lat-infinity": FileCase(
        "s.geojson", _geojson([_point_feature(coords=(LON, float("inf")))]), ((1, "lat"),)
    ),
    "geojson-lon-1e999": FileCase(
        "s.geojson",
        _geojson([_point_feature(coords=(0, LAT))]).replace(b"[0, ", b"[1e999, "),
        ((1, "lon"),),
    ),
    "geojson-name-nul": FileCase("s.geojson", _geojson([_point_feature("好\x00驿站")]), ((1, "name"),)),
    "geojson-address-escape": FileCase(
        "s.geojson", _geojson([_point_feature(address="\x1b[2J")]), ((1, "address"),)
    ),
    "geojson-amenity-list-nul": FileCase(
        "s.geojson", _geojson([_point_feature(amenities=["toilet\x00"])]), ((1, "amenities"),)
    ),
    "geojson-crs-unknown": FileCase(
        "s.geojson",
        _geojson(
            [_point_feature(coordinates_crs="pluto"), _point_feature("另一个", coordinates_crs="wgs84")]
        ),
        ((1, "coordinates_crs"),),
    ),
    "csv-cell-over-131072": FileCase(
        "s.csv", _csv([GOOD, "G2," + "长" * 131_073 + f",{LON},{LAT},,,,,"]), ((3, "name"),)
    ),
    "csv-name-nul": FileCase("s.csv", _csv([GOOD.replace("好驿站", "好\x00驿站")]), ((2, "name"),)),
    "csv-name-soh": FileCase("s.csv", _csv([GOOD.replace("好驿站", "好\x01驿站")]), ((2, "name"),)),
    "csv-address-unit-separator": FileCase(
        "s.csv", _csv([GOOD.replace("南山", "南\x1f山")]), ((2, "address"),)
    ),
    "csv-amenity-escape": FileCase("s.csv", _csv([GOOD.replace("饮水", "饮水\x1b")]), ((2, "amenities"),)),
    "csv-amenities-nested-json": FileCase(
        "s.csv", _csv([GOOD.replace("饮水", '"' + "[" * 5000 + '"')]), ((2, "amenities"),)
    ),
    "csv-lon-1e999": FileCase("s.csv", _csv([GOOD.replace(str(LON), "1e999")]), ((2, "lon"),)),
    "csv-lat-infinity": FileCase("s.csv", _csv([GOOD.replace(str(LAT), "Infinity")]), ((2, "lat"),)),
    "csv-area-infinity": FileCase("s.csv", _csv([GOOD.replace(",20,", ",inf,")]), ((2, "floor_area_m2"),)),
    "csv-seats-1e400": FileCase("s.csv", _csv([GOOD.replace(",4", ",1e400")]), ((2, "seats"),)),
    "csv-no-coordinate-columns": FileCase("s.csv", "名称,地址\n好驿站,南山\n".encode()),
    "csv-undecodable": FileCase("s.csv", b"\xff\xff\xff,\xff\n"),
    "csv-named-json": FileCase("s.json", _csv([GOOD])),
    "xlsx-garbage": FileCase("s.xlsx", b"PK\x03\x04 not really a workbook"),
    "empty-file": FileCase("s.csv", b""),
    "csv-header-only": FileCase("s.csv", "编号,名称,经度,纬度,类型\n".encode()),
    "csv-header-and-blank-lines": FileCase("s.csv", "名称,经度,纬度\n\n,,\n".encode()),
    "geojson-no-features": FileCase("s.geojson", b'{"type": "FeatureCollection", "features": []}'),
}


def _row_fields(body: dict[str, Any]) -> set[tuple[int, str]]:
    return {(e["row"], e["field"]) for e in body.get("row_errors") or body.get("errors") or []}


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_file_corpus_http(name: str, client: TestClient) -> None:
    case = FILE_CASES[name]
    r = client.post("/stations/import?dry_run=true", headers=WRITE, files={"file": (case.name, case.data)})
    assert r.status_code == 422, f"{name}: {r.status_code} {r.text[:300]}"
    body = _assert_error_body(r, None if case.rows else "file")
    if case.rows:
        assert set(case.rows) <= _row_fields(body), body["row_errors"]


runner = CliRunner()


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_file_corpus_cli(name: str, database_url: str, tmp_path: Path) -> None:
    case = FILE_CASES[name]
    path = tmp_path / case.name
    path.write_bytes(case.data)
    result = runner.invoke(cli_app, ["stations", "import", str(path), "--dry-run", "--json"])
    assert result.exit_code == 2, f"{name}: {result.exit_code} {result.output[-500:]}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    if case.rows:
        assert set(case.rows) <= _row_fields(json.loads(result.stdout))


# ------------------------------------------------------------------------------------ files accepted


def test_cr_only_line_endings_are_read(client: TestClient) -> None:
    """Classic Mac Excel writes CR alone between lines; a quoted cell may hold CR LF."""
    second = f'G2,"第二\r\n驿站",{LON + 0.01},{LAT},工会驿站,南山,饮水,20,4'
    data = _csv([GOOD, second], newline="\r")
    r = client.post("/stations/import?dry_run=true", headers=WRITE, files={"file": ("mac.csv", data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows_total"], body["imported"], body["errors"]) == (2, 2, [])


def test_tab_and_newline_are_kept(client: TestClient) -> None:
    r = client.post(
        "/stations", headers=WRITE, json=station_feature("制表\t驿站", LON, LAT, address="第一行\n第二行")
    )
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["address"] == "第一行\n第二行"


def test_file_without_suffix_is_sniffed(client: TestClient) -> None:
    """A schema-valid upload (any file name) is read by its content."""
    for name, data in (("upload", _csv([GOOD])), ("stations.dat", _geojson([_point_feature()]))):
        r = client.post("/stations/import?dry_run=true", headers=WRITE, files={"file": (name, data)})
        assert r.status_code == 200, r.text
        assert r.json()["rows_total"] == 1


# ----------------------------------------------------------------------------------- last resort


def test_last_resort_handler_answers_500_without_details() -> None:
    app: FastAPI = create_app(Settings(load_networks=False))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal state")

    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "field": None}
    assert "secret" not in r.text


def test_raw_control_byte_in_query_string() -> None:
    """Clients like httpx refuse to send one; a raw socket can. The guard reads the raw bytes."""
    from api.errors import query_text_problem

    problem = query_text_problem(b"kind=a\x01b")
    assert problem is not None and problem[0] == "kind" and "U+0001" in problem[1]
    assert query_text_problem(b"kind=a%09b&x=%0A") is None  # tab and newline pass


def test_corpus_size() -> None:
    assert len(JSON_CASES) + len(FILE_CASES) >= 60
