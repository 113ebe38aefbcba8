"""Settings of the HTTP API, read from ``YIZHAN_*`` environment variables (pydantic-settings).

``YIZHAN_DATABASE_URL``      plain ``postgresql://`` URL (default from :func:`geo.config.database_url`)
``YIZHAN_DATA_DIR``          real data directory (default from :func:`geo.config.data_dir`)
``YIZHAN_API_KEYS``          comma-separated keys accepted in ``X-API-Key`` for writes (none: writes refused)
``YIZHAN_NETWORKS``          ``walk=path,ebike=path`` (default: the Shenzhen Nanshan OSM extract, both modes)
``YIZHAN_NETWORK_CLIP``      ``minx,miny,maxx,maxy`` clip of the networks (default the Nanshan core)
``YIZHAN_DEMAND_POIS``       POI file for the demand of ``/coverage`` (default the Nanshan POIs)
``YIZHAN_MAX_UPLOAD_BYTES``  largest accepted station-file upload (default 5 MB)
``YIZHAN_SNAP_MAX_METERS``   snap limit of ``/nearest`` (default 300 m)
``YIZHAN_HORIZON_MINUTES``   search horizon of the precomputed nearest structures (default 60 min)
``YIZHAN_REGISTRY_CHECK_SECONDS``  how often /nearest reads the registry version (default 0.5 s; API
                             writes are seen at once, other writers within this delay)
``YIZHAN_THREADS``           worker threads for sync endpoints (default 64)
``YIZHAN_DB_POOL_SIZE``, ``YIZHAN_DB_MAX_OVERFLOW``, ``YIZHAN_DB_POOL_TIMEOUT_SECONDS``  connection pool

Nothing is read at import time: :func:`get_settings` builds a :class:`Settings` on demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from geo import config

#: the dense core of the Shenzhen Nanshan extract (SOURCES.md): relation ways reach far outside it
NANSHAN_CORE: tuple[float, float, float, float] = (113.92, 22.535, 113.97, 22.56)
NANSHAN_OSM = Path("shenzhen_roadnetworkcreator") / "shenzhen_nanshan_osm.osm"
NANSHAN_POIS = Path("shenzhen_roadnetworkcreator") / "shenzhen_nanshan_osm_pois.geojson"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything the API needs to start; one instance per app (``app.state.settings``)."""

    model_config = SettingsConfigDict(env_prefix="YIZHAN_", extra="ignore", frozen=True)

    database_url: str = Field(default_factory=config.database_url)
    data_dir: Path = Field(default_factory=config.data_dir)
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    networks: Annotated[dict[str, Path], NoDecode] = Field(default_factory=dict)
    network_clip: Annotated[tuple[float, float, float, float] | None, NoDecode] = NANSHAN_CORE
    demand_pois: Path | None = None
    load_networks: bool = True
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    snap_max_meters: float = Field(default=300.0, gt=0, le=5000)
    horizon_minutes: float = Field(default=60.0, gt=0, le=240)
    max_k: int = Field(default=20, ge=1, le=100)
    siting_time_limit_seconds: float = Field(default=120.0, gt=0, le=600)
    registry_check_seconds: float = Field(default=0.5, ge=0, le=60)
    threads: int = Field(default=64, ge=4, le=512)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=30, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # region (nation-scale coverage): YIZHAN_REGION_RESULT, a `yizhan region coverage` folder for /maps/region
    region_result: Path | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        return tuple(_split_csv(value) or ())

    @field_validator("networks", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            out: dict[str, str] = {}
            for part in _split_csv(value):
                mode, sep, path = part.partition("=")
                if not sep or not mode.strip() or not path.strip():
                    raise ValueError(f"YIZHAN_NETWORKS entries must look like mode=path, got {part!r}")
                out[mode.strip()] = path.strip()
            return out
        return value

    @field_validator("network_clip", mode="before")
    @classmethod
    def _parse_clip(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() in ("", "none", "off"):
                return None
            parts = _split_csv(value)
            if len(parts) != 4:
                raise ValueError(f"YIZHAN_NETWORK_CLIP must be minx,miny,maxx,maxy, got {value!r}")
            return tuple(float(p) for p in parts)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        config.sqlalchemy_url(value)  # raises ValueError on a non-postgresql URL
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.networks:
            osm = self.data_dir / NANSHAN_OSM
            object.__setattr__(self, "networks", {"walk": osm, "ebike": osm})
        if self.demand_pois is None:
            object.__setattr__(self, "demand_pois", self.data_dir / NANSHAN_POIS)
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The SQLAlchemy (psycopg2) form of :attr:`database_url`."""
        return config.sqlalchemy_url(self.database_url)


def get_settings() -> Settings:
    """Build the settings from the environment (called by :func:`api.app.create_app`)."""
    return Settings()
