"""``/stations``: the registry as GeoJSON (read publicly, written with an API key)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import KEY_RESPONSES, check_station_import
from api.deps import DEFAULT_CRS, ActorDep, IfMatchDep, OutCRS, SessionDep, SettingsDep, etag_of
from api.errors import error_body
from api.routes._geojson import GEOJSON, features, json_value, page_links, record_feature
from api.schemas import (
    AmenityWord,
    ErrorBody,
    Feature,
    FeatureCollection,
    IsoTime,
    KindWord,
    StationFeatureIn,
    StationPatchIn,
    StationReplaceIn,
    StatusWord,
    Text,
)
from api.services import station_written
from geo.checks import check_bbox
from geo.crs import convert, in_mainland_china
from geo.errors import InputError, OutsideChinaError
from geo.ops.standards import latest_stars, with_stars

router = APIRouter(prefix="/stations", tags=["stations"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such station"},
    422: {"model": ErrorBody, "description": "invalid input (the body names the field)"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: {"model": ErrorBody, "description": "the body cannot be parsed"},
    **KEY_RESPONSES,
    403: {"model": ErrorBody, "description": "a viewer key, or the organisation may not change this station"},
    409: {"model": ErrorBody, "description": "conflicts with stored data"},
    412: {"model": ErrorBody, "description": "If-Match names a version the station is no longer at"},
}

_NUM = r" *-?(\d{1,3}(\.\d{0,17})?|\.\d{1,17}) *"  # up to 17 decimals: a JavaScript double
#: four (or six, OGC 3-D) comma-separated numbers
BBOX_PATTERN = rf"^{_NUM}(,{_NUM}){{3}}(,{_NUM},{_NUM})?$"
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".geojson", ".json", ".txt", ".tsv")


def parse_bbox(text: str | None, *, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` (degrees, in whatever CRS the caller names; an OGC 3-D box's heights
    are dropped)."""
    if text is None or text == "":
        return None
    parts = text.split(",")
    if len(parts) == 6:  # OGC 3-D bbox: drop the heights
        text = ",".join([parts[0], parts[1], parts[3], parts[4]])
    return check_bbox(text, field=field, strict=False)


def to_wgs84_point(lon: float, lat: float, crs: str, *, lon_field: str = "lon") -> tuple[float, float]:
    """Check an input point lies in mainland China (422 naming the field) and convert it to WGS-84."""
    if not bool(in_mainland_china(lon, lat)):
        raise OutsideChinaError(
            f"the point ({lon:.6f}, {lat:.6f}) is outside mainland China (crs={crs}); "
            "check lon/lat order and the coordinate system",
            field=lon_field,
        )
    if crs != "wgs84":
        lon, lat = convert(lon, lat, src=crs, dst="wgs84")
    return float(lon), float(lat)


def _props_from_feature(
    body: StationFeatureIn | StationReplaceIn | StationPatchIn, *, partial: bool
) -> dict[str, Any]:
    """Repository props from a Feature: the properties given, plus the point as ``lon``/``lat``."""
    props = body.properties.model_dump(exclude_unset=partial)
    if not partial:
        props = {k: v for k, v in props.items() if v is not None}
    if body.geometry is not None:
        props["lon"], props["lat"] = body.geometry.coordinates
    return props


@router.get(
    "",
    response_model=FeatureCollection,
    responses={200: {"content": {GEOJSON: {}}}, **ERRORS},
    summary="List stations (GeoJSON, filters, paging)",
)
def list_stations_route(
    request: Request,
    session: SessionDep,
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in the coordinate system `crs` (default WGS-84)",
              pattern=BBOX_PATTERN),
    ] = None,
    kind: Annotated[list[KindWord] | None, Query(description="station kind code(s)", max_length=20)] = None,
    status: Annotated[
        list[StatusWord] | None, Query(description="planned, open or closed", max_length=3)
    ] = None,
    amenity: Annotated[
        list[AmenityWord] | None, Query(description="required amenity code(s)", max_length=20)
    ] = None,
    area_code: Annotated[Text | None, Query(max_length=30)] = None,
    open_at: Annotated[
        IsoTime | None, Query(description="only stations open then (naive = China time)")
    ] = None,
    crs: Annotated[
        OutCRS, Query(description="coordinate system of `bbox` and of the output (converted on input)")
    ] = DEFAULT_CRS,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """Stations as a GeoJSON FeatureCollection with ``numberMatched``/``numberReturned`` and paging links."""
    from geo.db import repository

    frame, total = repository.list_stations(
        session,
        bbox=parse_bbox(bbox),
        bbox_crs=crs.value,
        kinds=kind or (),
        statuses=status or (),
        amenities=amenity or (),
        area_code=area_code,
        open_at=open_at,
        limit=limit,
        offset=offset,
    )
    frame = with_stars(session, frame)  # station operations: latest star rating
    feats = features(frame, id_column="station_id", crs=crs.value)
    params: dict[str, Any] = {k: request.query_params.getlist(k) for k in request.query_params}
    body = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": int(total),
        "numberReturned": len(feats),
        "links": page_links(
            str(request.url_for("list_stations_route")), params, limit=limit, offset=offset, total=int(total)
        ),
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get(
    "/{station_id:int}",
    response_model=Feature,
    responses={200: {"content": {GEOJSON: {}}}, **ERRORS},
    summary="One station",
)
def get_station_route(
    session: SessionDep,
    station_id: int,
    crs: Annotated[OutCRS, Query(description="coordinate system of the output")] = DEFAULT_CRS,
) -> Any:
    from geo.db import repository

    rec = repository.get_station(session, station_id)
    rec["stars"] = latest_stars(session, [station_id]).get(station_id)  # station operations
    return _station_response(rec, crs=crs.value)


def _station_response(rec: dict[str, Any], *, crs: str = "wgs84", status_code: int = 200,
                      headers: dict[str, str] | None = None) -> JSONResponse:
    """One station as a GeoJSON Feature with its version as the ``ETag``."""
    return JSONResponse(record_feature(rec, crs=crs), status_code=status_code, media_type=GEOJSON,
                        headers={"ETag": etag_of(rec["version"]), **(headers or {})})


@router.post(
    "",
    status_code=201,
    response_model=Feature,
    responses={201: {"content": {GEOJSON: {}}}, **WRITE_ERRORS},
    summary="Add a station (GeoJSON Feature)",
)
def create_station_route(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    body: StationFeatureIn,
    crs: Annotated[OutCRS, Query(description="coordinate system of the input geometry")] = DEFAULT_CRS,
) -> Any:
    from geo.db import repository

    props = _props_from_feature(body, partial=False)
    rec = repository.create_station(session, props, actor=actor, crs=crs.value)
    station_written(request, session)
    location = str(request.url_for("get_station_route", station_id=str(rec["station_id"])))
    return _station_response(rec, status_code=201, headers={"Location": location})


@router.put(
    "/{station_id:int}",
    response_model=Feature,
    responses={200: {"content": {GEOJSON: {}}}, **WRITE_ERRORS},
    summary="Replace a station",
)
def replace_station_route(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    station_id: int,
    body: StationReplaceIn,
    if_match: IfMatchDep,
    crs: Annotated[OutCRS, Query(description="coordinate system of the input geometry")] = DEFAULT_CRS,
) -> Any:
    """Replace every field; with ``If-Match``, only if the station is still at that ETag (else 412)."""
    from geo.db import repository

    props = _props_from_feature(body, partial=False)
    rec = repository.update_station(
        session, station_id, props, actor=actor, partial=False, crs=crs.value, if_versions=if_match
    )
    station_written(request, session)
    return _station_response(rec)


@router.patch(
    "/{station_id:int}",
    response_model=Feature,
    responses={200: {"content": {GEOJSON: {}}}, **WRITE_ERRORS},
    summary="Change some fields of a station",
)
def patch_station_route(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    station_id: int,
    body: StationPatchIn,
    if_match: IfMatchDep,
    crs: Annotated[OutCRS, Query(description="coordinate system of the input geometry")] = DEFAULT_CRS,
) -> Any:
    """Set only the fields given, in one statement (concurrent changes of other fields are kept);
    with ``If-Match``, only if the station is still at that ETag (else 412, nothing applied)."""
    from geo.db import repository

    props = _props_from_feature(body, partial=True)
    if not props:
        raise InputError("nothing to change: give at least one property or a geometry", field="properties")
    rec = repository.update_station(
        session, station_id, props, actor=actor, partial=True, crs=crs.value, if_versions=if_match
    )
    station_written(request, session)
    return _station_response(rec)


@router.delete(
    "/{station_id:int}",
    response_model=Feature,
    responses={200: {"content": {GEOJSON: {}}}, **WRITE_ERRORS},
    summary="Close a station (soft delete: status closed, history kept)",
)
def delete_station_route(
    request: Request, session: SessionDep, actor: ActorDep, station_id: int, if_match: IfMatchDep
) -> Any:
    """With ``If-Match``, only if the station is still at that ETag (else 412, nothing applied)."""
    from geo.db import repository

    rec = repository.close_station(session, station_id, actor=actor, if_versions=if_match)
    station_written(request, session)
    return _station_response(rec)


async def _save_upload(upload: UploadFile, limit: int, folder: Path) -> Path:
    """Save the upload under a name whose suffix tells its format: the file name's when it is one of
    :data:`UPLOAD_SUFFIXES`, else sniffed from the content (:func:`sniffed_suffix`)."""
    suffix = Path(Path(upload.filename or "").name).suffix.lower()
    dest = folder / "upload.bin"
    size = 0
    with dest.open("wb") as fh:
        while chunk := await upload.read(1 << 16):
            size += len(chunk)
            if size > limit:
                raise _TooLarge(limit)
            fh.write(chunk)
    if size == 0:
        raise InputError("the uploaded file is empty", field="file")
    if suffix not in UPLOAD_SUFFIXES:
        with dest.open("rb") as fh:
            suffix = sniffed_suffix(fh.read(4096))
    return dest.rename(folder / f"upload{suffix}")


def sniffed_suffix(head: bytes) -> str:
    """The suffix of a station file from its first bytes: a ZIP (XLSX), JSON, else CSV/text."""
    if head.startswith(b"PK\x03\x04"):
        return ".xlsx"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        return ".geojson"
    return ".csv"


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


@router.post(
    "/import",
    responses={
        **WRITE_ERRORS,
        413: {"model": ErrorBody, "description": "file larger than the upload limit"},
        422: {"model": ErrorBody, "description": "file rejected; row_errors lists every row error"},
    },
    summary="Import a station file (CSV/XLSX/GeoJSON), all or nothing",
)
async def import_stations_route(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    actor: ActorDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8/GBK), XLSX or GeoJSON station file")],
    crs: Annotated[OutCRS, Query(description="coordinate system of the file's coordinates")] = DEFAULT_CRS,
    source: Annotated[Text | None, Query(max_length=200, description="provenance label")] = None,
    skip_invalid: Annotated[bool, Query(description="import the valid rows, skip the others")] = False,
    dry_run: Annotated[bool, Query(description="validate only, store nothing")] = False,
) -> Any:
    """Same validation and all-or-nothing rule as ``yizhan stations import``."""
    from api.offload import in_process
    from geo.db import repository
    from geo.stations import read_station_file

    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + 64 * 1024:
        return _too_large(settings.max_upload_bytes)
    with tempfile.TemporaryDirectory(prefix="yizhan-upload-") as tmp:
        try:
            path = await _save_upload(file, settings.max_upload_bytes, Path(tmp))
        except _TooLarge as exc:
            return _too_large(exc.limit)
        label = source or Path(file.filename or "upload").stem

        # reading and checking the file is CPU work that needs no session: in the worker process,
        # so that the GIL stays free for /nearest (#15); storing it needs the request's session
        report = await in_process(read_station_file, path, crs=crs.value, source=label)

        def work() -> JSONResponse:
            """Store and render the summary, off the event loop."""
            check_station_import(request, session, report, source=label)  # orgs: rows outside → 403
            summary = repository.import_stations(
                session, report, source=label, actor=actor, skip_invalid=skip_invalid, dry_run=dry_run
            )
            out = summary.to_dict()
            out["station_ids"] = list(summary.station_ids)
            out["source"] = label
            return JSONResponse(json_value(out), status_code=200 if dry_run else 201)

        response = await run_in_threadpool(work)
    if not dry_run:
        await run_in_threadpool(station_written, request, session)
    return response


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        error_body(f"the file is larger than the upload limit of {limit} bytes", "file"), status_code=413
    )
