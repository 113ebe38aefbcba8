"""Settings of the HTTP API, read from ``YIZHAN_*`` environment variables (pydantic-settings).

``YIZHAN_DATABASE_URL``      plain ``postgresql://`` URL (default from :func:`geo.config.database_url`)
``YIZHAN_DATA_DIR``          real data directory (default from :func:`geo.config.data_dir`)
``YIZHAN_API_KEYS``          bootstrap admin keys ``name:secret,...`` (national scope; a plain ``secret``
                             still works, named ``env-1``... with a warning); organisation keys: the store
``YIZHAN_KEY_CACHE_SECONDS``  how long a verified key row is trusted before it is read again (default 5 s)
``YIZHAN_AUTH_MAX_FAILURES``, ``YIZHAN_AUTH_WINDOW_SECONDS``  wrong keys per client and window (10 in 60 s)
``YIZHAN_NETWORKS``          ``walk=path,ebike=path`` (default: the Shenzhen Nanshan OSM extract, both modes)
``YIZHAN_NETWORKS``          ``walk=path,ebike=path`` (default: the bundled Nanshan sample, both modes)
``YIZHAN_NETWORK_CLIP``      ``minx,miny,maxx,maxy`` clip of the networks (default: no clip; the bundled
                             sample alone is clipped to its dense Nanshan core)
``YIZHAN_DEMAND``            demand of the coverage endpoints, comma-separated like ``yizhan coverage
                             --demand``: a points file, ``pois:FILE`` or ``network`` (street length of the
                             served network). Default: ``network``, or for the bundled sample its POIs +
                             street length
``YIZHAN_DEMAND_CRS``        CRS of a demand points file (wgs84, gcj02, bd09; default wgs84)
``YIZHAN_DEMAND_POIS``       POI file: candidates of ``/siting`` (and demand when ``YIZHAN_DEMAND`` is unset)
``YIZHAN_AREAS``             boundary file (GeoJSON/GPKG/SHP/.osm) of the per-area tables (default: the
                             store's ``areas`` table); ``YIZHAN_AREAS_LEVEL``, ``YIZHAN_AREAS_CODE_FIELD``,
                             ``YIZHAN_AREAS_NAME_FIELD`` as the ``--areas-*`` options
``YIZHAN_MAX_UPLOAD_BYTES``  largest accepted station-file upload (default 5 MB)
``YIZHAN_SNAP_MAX_METERS``   snap limit of ``/nearest`` (default 300 m)
``YIZHAN_HORIZON_MINUTES``   search horizon of the precomputed nearest structures (default 60 min)
``YIZHAN_REGISTRY_CHECK_SECONDS``  how often /nearest reads the registry version (default 0.5 s; API
                             writes are seen at once, other writers within this delay)
``YIZHAN_THREADS``           worker threads for sync endpoints (default 64)
``YIZHAN_DB_POOL_SIZE``, ``YIZHAN_DB_MAX_OVERFLOW``, ``YIZHAN_DB_POOL_TIMEOUT_SECONDS``  connection pool
``YIZHAN_PUBLIC_URL``        base URL of the public station pages in QR codes (station operations)
``YIZHAN_VISIT_LIMIT_PER_CLIENT``, ``YIZHAN_VISIT_LIMIT_PER_STATION``, ``YIZHAN_FEEDBACK_LIMIT_PER_CLIENT``,
``YIZHAN_OPS_RATE_WINDOW_SECONDS``  keyless visit/feedback posts allowed per window
                             (default 6, 120, 5 per 600 s)

Nothing is read at import time: :func:`get_settings` builds a :class:`Settings` on demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from geo import config
from geo.catalog import mode_codes

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
    network_clip: Annotated[tuple[float, float, float, float] | None, NoDecode] = None
    demand: Annotated[tuple[str, ...], NoDecode] = ()
    demand_crs: str = "wgs84"
    demand_pois: Path | None = None
    areas: Path | None = None
    areas_level: str = "township"
    areas_code_field: str | None = None
    areas_name_field: str | None = None
    load_networks: bool = True
    #: set when no networks were given and the bundled Nanshan sample is served
    sample: bool = False
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
    # station operations: public pages (一站一码) and the keyless visit/feedback posts
    public_url: str = "http://127.0.0.1:8000"
    visit_limit_per_client: int = Field(default=6, ge=1)
    visit_limit_per_station: int = Field(default=120, ge=1)
    feedback_limit_per_client: int = Field(default=5, ge=1)
    ops_rate_window_seconds: float = Field(default=600.0, gt=0)
    # organisations and access (orgs)
    key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    auth_max_failures: int = Field(default=10, ge=1, le=10_000)
    auth_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    # region (nation-scale coverage): YIZHAN_REGION_RESULT, a `yizhan region coverage` folder for /maps/region
    region_result: Path | None = None

    @field_validator("api_keys", "demand", mode="before")
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
        """No networks given: the bundled sample, with its core clip and POIs unless others are set.
        Networks given: served as they are (no clip unless asked, no sample demand)."""
        if not self.networks:
            osm = self.data_dir / NANSHAN_OSM
            object.__setattr__(self, "networks", dict.fromkeys(mode_codes(), osm))
            object.__setattr__(self, "sample", True)
            if "network_clip" not in self.model_fields_set:
                object.__setattr__(self, "network_clip", NANSHAN_CORE)
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
