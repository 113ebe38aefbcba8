"""OGC API - Features - Part 1: Core + GeoJSON, under ``/ogc`` (collections ``stations`` and ``areas``).

QGIS and GDAL (``ogrinfo OAPIF:http://host/ogc stations``) read the registry directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.routes._geojson import GEOJSON, features, page_links, record_feature
from api.routes.stations import BBOX_PATTERN, parse_bbox
from api.schemas import ErrorBody, Feature, FeatureCollection
from geo.errors import InputError, NotFoundError

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])

JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
COLLECTIONS: dict[str, dict[str, str]] = {
    "stations": {
        "title": "Worker service stations (工会驿站/户外劳动者服务站点)",
        "description": "The station registry: name, kind, status, amenities, opening hours, address, host.",
    },
    "areas": {
        "title": "Administrative areas",
        "description": "County, township and community boundaries used for per-area coverage.",
    },
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "invalid parameter"},
    404: {"model": ErrorBody, "description": "no such collection or feature"},
    422: {"model": ErrorBody, "description": "invalid parameter"},
    503: {"model": ErrorBody, "description": "the PostGIS store is unavailable"},
}

FParam = Annotated[
    Literal["json", "geojson", "application/json", "application/geo+json"] | None,
    Query(alias="f", description="output format (JSON only)"),
]


def _check_f(f: str | None) -> None:
    if f is not None and f.lower() not in ("json", "geojson", "application/json", "application/geo+json"):
        raise InputError(f"unsupported format f={f!r}; only json is served", field="f")


def _base(request: Request) -> str:
    return str(request.url_for("ogc_landing")).rstrip("/")


def _collection_doc(request: Request, session: Any, cid: str) -> dict[str, Any]:
    from geo.db import repository

    base = _base(request)
    if cid == "stations":
        bbox = repository.registry_summary(session)["bbox"]
    else:
        areas = repository.areas_frame(session)
        bbox = [float(v) for v in areas.total_bounds] if len(areas) else None
    bbox = bbox or [-180.0, -90.0, 180.0, 90.0]
    meta = COLLECTIONS[cid]
    return {
        "id": cid,
        "title": meta["title"],
        "description": meta["description"],
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
        "links": [
            {"href": f"{base}/collections/{cid}", "rel": "self", "type": JSON, "title": meta["title"]},
            {"href": f"{base}/collections/{cid}/items", "rel": "items", "type": GEOJSON, "title": "items"},
        ],
    }


def _check_collection(cid: str) -> None:
    if cid not in COLLECTIONS:
        raise NotFoundError(
            f"no collection {cid!r}; collections: {', '.join(COLLECTIONS)}", field="collectionId"
        )


@router.get("", name="ogc_landing", summary="Landing page", responses=ERRORS)
@router.get("/", include_in_schema=False)
def landing(request: Request, f: FParam = None) -> Any:
    _check_f(f)
    base = _base(request)
    openapi = str(request.url_for("openapi"))
    return {
        "title": "yizhan 驿站 - OGC API - Features",
        "description": "Worker service stations and administrative areas as OGC API - Features (GeoJSON).",
        "links": [
            {"href": base, "rel": "self", "type": JSON, "title": "this document"},
            {"href": openapi, "rel": "service-desc", "type": OPENAPI, "title": "the API definition"},
            {
                "href": str(request.url_for("swagger_ui_html")),
                "rel": "service-doc",
                "type": "text/html",
                "title": "the API documentation",
            },
            {
                "href": f"{base}/conformance",
                "rel": "conformance",
                "type": JSON,
                "title": "conformance classes",
            },
            {"href": f"{base}/collections", "rel": "data", "type": JSON, "title": "feature collections"},
        ],
    }


@router.get("/conformance", summary="Conformance classes", responses=ERRORS)
def conformance(f: FParam = None) -> Any:
    _check_f(f)
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", summary="Feature collections", responses=ERRORS)
def collections(request: Request, session: SessionDep, f: FParam = None) -> Any:
    _check_f(f)
    base = _base(request)
    return {
        "links": [{"href": f"{base}/collections", "rel": "self", "type": JSON, "title": "collections"}],
        "collections": [_collection_doc(request, session, cid) for cid in COLLECTIONS],
    }


@router.get("/collections/{collectionId}", summary="One feature collection", responses=ERRORS)
def collection_route(request: Request, session: SessionDep, collectionId: str, f: FParam = None) -> Any:
    _check_f(f)
    _check_collection(collectionId)
    return _collection_doc(request, session, collectionId)


def _items(
    session: Any, cid: str, *, bbox: tuple[float, float, float, float] | None, limit: int, offset: int
) -> tuple[Any, int, str]:
    from geo.db import repository

    if cid == "stations":
        frame, total = repository.list_stations(session, bbox=bbox, limit=limit, offset=offset)
        return frame, int(total), "station_id"
    frame, total = repository.list_areas(session, bbox=bbox, limit=limit, offset=offset)
    return frame, int(total), "area_code"


@router.get(
    "/collections/{collectionId}/items",
    response_model=FeatureCollection,
    responses={200: {"content": {GEOJSON: {}}}, **ERRORS},
    summary="Features of a collection",
)
def items_route(
    request: Request,
    session: SessionDep,
    collectionId: str,
    bbox: Annotated[
        str | None, Query(description="minx,miny,maxx,maxy (CRS84)", pattern=BBOX_PATTERN)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    f: FParam = None,
) -> Any:
    _check_f(f)
    _check_collection(collectionId)
    frame, total, id_col = _items(session, collectionId, bbox=parse_bbox(bbox), limit=limit, offset=offset)
    feats = features(frame, id_column=id_col)
    base = _base(request)
    params: dict[str, Any] = {"bbox": bbox} if bbox else {}
    links = page_links(
        f"{base}/collections/{collectionId}/items", params, limit=limit, offset=offset, total=total
    )
    links.append(
        {
            "href": f"{base}/collections/{collectionId}",
            "rel": "collection",
            "type": JSON,
            "title": COLLECTIONS[collectionId]["title"],
        }
    )
    body = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": total,
        "numberReturned": len(feats),
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "links": links,
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    response_model=Feature,
    responses={200: {"content": {GEOJSON: {}}}, **ERRORS},
    summary="One feature",
)
def item_route(
    request: Request, session: SessionDep, collectionId: str, featureId: str, f: FParam = None
) -> Any:
    from geo.db import repository

    _check_f(f)
    _check_collection(collectionId)
    base = _base(request)
    if collectionId == "stations":
        if not featureId.isdigit() or len(featureId) > 18:
            raise NotFoundError(f"no station {featureId!r}", field="featureId")
        feat = record_feature(repository.get_station(session, int(featureId)))
    else:
        frame = repository.areas_frame(session)
        match = frame[frame["area_code"].astype(str) == featureId]
        if match.empty:
            raise NotFoundError(f"no area {featureId!r}", field="featureId")
        feat = features(match.iloc[:1], id_column="area_code")[0]
    feat["links"] = [
        {"href": f"{base}/collections/{collectionId}/items/{featureId}", "rel": "self", "type": GEOJSON},
        {"href": f"{base}/collections/{collectionId}", "rel": "collection", "type": JSON},
    ]
    return JSONResponse(feat, media_type=GEOJSON)
