"""``/maps/region``: the 全国一张图 of a ``yizhan region coverage`` folder (``YIZHAN_REGION_RESULT``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import SettingsDep
from api.schemas import ErrorBody
from geo.errors import NotFoundError

router = APIRouter(prefix="/maps", tags=["maps"])

HTML_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "an HTML page"},
    404: {"model": ErrorBody, "description": "the server was given no region result folder"},
    422: {"model": ErrorBody, "description": "invalid parameter"},
}


@router.get("/region", responses=HTML_OK, summary="全国一张图: counties by covered share")
def region_page(
    settings: SettingsDep,
    tiles: Annotated[
        Literal["osm", "amap", "none"], Query(description="basemap (amap tiles are GCJ-02)")
    ] = "osm",
) -> Any:
    """Counties coloured by covered share with province and prefecture tables (assets from /static)."""
    from geo.region import read_region_result
    from maps.region import region_map

    if settings.region_result is None:
        raise NotFoundError("this server was started without a region result (YIZHAN_REGION_RESULT)",
                            field="region_result")  # fmt: skip
    areas, summary = read_region_result(settings.region_result)
    return HTMLResponse(region_map(areas, summary, tiles=tiles, assets="local").get_root().render())
