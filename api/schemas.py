"""Request and response models (pydantic v2) with bounds; GeoJSON shapes follow RFC 7946."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from geo import catalog
from geo.crs import CRS_NAMES, MAINLAND_BBOX
from geo.scenario.plan import PHASE_RANGE, YEAR_RANGE
from geo.text import NO_CONTROL_PATTERN, control_char_message

Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
StrictLon = Annotated[Lon, Field(strict=True)]
StrictLat = Annotated[Lat, Field(strict=True)]


def _code_enum(name: str, codes: tuple[str, ...], doc: str) -> type[StrEnum]:
    """A string enum whose members are ``codes`` (built from the data at import, never typed out)."""
    enum = StrEnum(name, [(code, code) for code in codes])  # type: ignore[misc]
    enum.__doc__ = doc
    return enum


if TYPE_CHECKING:  # the members come from data: the type checker sees string enums of any member
    from enum import EnumMeta

    class _DataEnumMeta(EnumMeta):
        def __getattr__(cls, name: str) -> Any: ...

    class Mode(StrEnum, metaclass=_DataEnumMeta): ...

    class OutCRS(StrEnum, metaclass=_DataEnumMeta): ...
else:
    #: travel modes served by the API: one member per entry of ``data/modes.toml``
    Mode = _code_enum("Mode", catalog.mode_codes(), "Travel modes served by the API (data/modes.toml).")
    #: coordinate systems accepted on input and produced on output (:data:`geo.crs.CRS_NAMES`)
    OutCRS = _code_enum("OutCRS", CRS_NAMES, "Coordinate systems accepted and produced by the API.")


def _no_control_chars(value: str) -> str:
    """Refuse NUL and the other C0 control characters except tab and newline (:mod:`geo.text`)."""
    message = control_char_message(value)
    if message is not None:
        raise ValueError(f"text {message}")
    return value


#: text from a person: no control characters other than tab and newline (documented as a pattern)
Text = Annotated[
    str, AfterValidator(_no_control_chars), Field(json_schema_extra={"pattern": NO_CONTROL_PATTERN})
]
#: a finite number (NaN and ±Infinity are refused, also when given as 1e999); JSON numbers only
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
def _json_integer(value: Any) -> Any:
    """A JSON integer: an int or an integral float (``268.0``), never ``true`` or ``"5"``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("give a whole number")
    return int(value) if isinstance(value, float) and value.is_integer() else value


# whole JSON numbers in bounds (no ``true``, no ``"5"``: the schema says integer)
Seats = Annotated[int, Field(ge=0, le=10_000), BeforeValidator(_json_integer)]
SitesToAdd = Annotated[int, Field(ge=1, le=200), BeforeValidator(_json_integer)]
MinPerArea = Annotated[int, Field(ge=0, le=20), BeforeValidator(_json_integer)]

#: a non-empty code or label in a query list (amenity, kind, status)
Word = Annotated[Text, Field(min_length=1, max_length=60)]


def _words(entries: Any) -> list[str]:
    """Every spelling ``geo.catalog`` resolves for a checklist: codes, Chinese and English labels,
    aliases (matching ignores case and spaces besides)."""
    out: list[str] = []
    for e in entries:
        for word in (e.code, e.label_zh, e.label_en, *e.aliases):
            if word not in out:
                out.append(word)
    return out


#: a station kind: code or label from data/station_kinds.toml (the schema lists them)
KindWord = Annotated[Word, Field(json_schema_extra={"enum": _words(catalog.station_kinds())})]
#: a status: planned, open or closed, or a Chinese word for one
StatusWord = Annotated[Word, Field(json_schema_extra={"enum": list(catalog.STATUS_ALIASES)})]
#: an amenity: code or label from data/amenities.toml
AmenityWord = Annotated[Word, Field(json_schema_extra={"enum": _words(catalog.amenities())})]
#: a worker group: code or label from data/worker_groups.toml
GroupWord = Annotated[Word, Field(json_schema_extra={"enum": _words(catalog.worker_groups())})]

_LON_MIN, _LAT_MIN, _LON_MAX, _LAT_MAX = MAINLAND_BBOX
#: an input point's longitude/latitude: documented as the mainland China box that the domain check
#: (geo.crs.in_mainland_china, 422 naming the field, "looks swapped" hints) enforces
LonIn = Annotated[Lon, Field(json_schema_extra={"minimum": _LON_MIN, "maximum": _LON_MAX})]
LatIn = Annotated[Lat, Field(json_schema_extra={"minimum": _LAT_MIN, "maximum": _LAT_MAX})]
#: the same in JSON bodies (numbers only)
BodyLon = Annotated[StrictLon, Field(json_schema_extra={"minimum": _LON_MIN, "maximum": _LON_MAX})]
BodyLat = Annotated[StrictLat, Field(json_schema_extra={"minimum": _LAT_MIN, "maximum": _LAT_MAX})]

#: ISO 8601 date or date-time, optional seconds/fraction and offset; naive = China time
ISO_TIME_PATTERN = (
    r"^([1-9]\d{3}|\d[1-9]\d{2}|\d{2}[1-9]\d|\d{3}[1-9])-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])"
    r"|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8]))"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-](0\d|1[0-4])(:?[0-5]\d)?)?)?$"
)


def _iso_time(value: Any) -> Any:
    """Accept ISO 8601 text only (pydantic alone would take ``0.5`` as a Unix time)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not re.match(ISO_TIME_PATTERN, value.strip()):
        raise ValueError("give an ISO 8601 date-time such as 2026-11-23T08:30 (China time) or ...+08:00")
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"not a valid date-time: {exc}") from None


IsoTime = Annotated[
    dt.datetime,
    BeforeValidator(_iso_time),
    WithJsonSchema({"type": "string", "pattern": ISO_TIME_PATTERN, "example": "2026-11-23T08:30:00+08:00"}),
]

#: travel-time limits of every endpoint (minutes)
MAX_MINUTES = 120.0


class ErrorBody(BaseModel):
    """Every error response."""

    detail: str
    field: str | None = None
    errors: list[Any] | None = None
    row_errors: list[Any] | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    database_error: str | None = None
    networks: dict[str, dict[str, int]]


# ---------------------------------------------------------------------------------------------- GeoJSON


class PointGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["Point"]
    coordinates: tuple[BodyLon, BodyLat]


class LineStringGeometry(BaseModel):
    type: Literal["LineString"]
    coordinates: list[list[float]]


class Geometry(BaseModel):
    """Any GeoJSON geometry (output)."""

    model_config = ConfigDict(extra="allow")

    type: str
    coordinates: Any = None


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int | str | None = None
    geometry: Geometry | None
    properties: dict[str, Any]


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    numberMatched: int | None = None
    numberReturned: int | None = None
    links: list[Link] = Field(default_factory=list)
    timeStamp: str | None = None


# --------------------------------------------------------------------------------------------- stations


class StationFields(BaseModel):
    """Registry fields of a station that can be replaced (PUT): every field but the identity."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    kind: KindWord = "union_station"
    status: StatusWord = "open"
    amenities: list[AmenityWord] = Field(default_factory=list, max_length=40)
    opening_hours: Text | None = Field(default=None, max_length=500)
    address: Text | None = Field(default=None, max_length=500)
    host_org: Text | None = Field(default=None, max_length=200)
    phone: Text | None = Field(default=None, max_length=60)
    county_code: Text | None = Field(default=None, max_length=30)
    county_name: Text | None = Field(default=None, max_length=100)
    township_code: Text | None = Field(default=None, max_length=30)
    township_name: Text | None = Field(default=None, max_length=100)
    community_code: Text | None = Field(default=None, max_length=30)
    community_name: Text | None = Field(default=None, max_length=100)
    seats: Seats | None = None
    floor_area_m2: Finite | None = Field(default=None, ge=0, le=1_000_000)


class StationProperties(StationFields):
    """Registry fields of a new station (POST): codes or Chinese labels accepted; ``external_id``
    names it within its source (it cannot change afterwards)."""

    external_id: Text | None = Field(default=None, max_length=100)


class StationPatch(BaseModel):
    """Partial update: only the given fields change (``null`` empties an optional field; name, kind
    and status cannot be emptied, so they are not nullable)."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    kind: KindWord = Field(default=None)  # type: ignore[assignment]
    status: StatusWord = Field(default=None)  # type: ignore[assignment]
    amenities: list[AmenityWord] | None = Field(default=None, max_length=40)
    opening_hours: Text | None = Field(default=None, max_length=500)
    address: Text | None = Field(default=None, max_length=500)
    host_org: Text | None = Field(default=None, max_length=200)
    phone: Text | None = Field(default=None, max_length=60)
    county_code: Text | None = Field(default=None, max_length=30)
    county_name: Text | None = Field(default=None, max_length=100)
    township_code: Text | None = Field(default=None, max_length=30)
    township_name: Text | None = Field(default=None, max_length=100)
    community_code: Text | None = Field(default=None, max_length=30)
    community_name: Text | None = Field(default=None, max_length=100)
    seats: Seats | None = None
    floor_area_m2: Finite | None = Field(default=None, ge=0, le=1_000_000)


class StationFeatureIn(BaseModel):
    """A GeoJSON Feature carrying one station (POST and PUT)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Feature"]
    id: StrictInt | Annotated[Text, Field(max_length=100)] | None = None  # a long digit string is no id
    geometry: PointGeometry
    properties: StationProperties


class StationReplaceIn(BaseModel):
    """A GeoJSON Feature replacing every field of one station (PUT; its identity stays)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Feature"]
    id: StrictInt | Annotated[Text, Field(max_length=100)] | None = None  # a long digit string is no id
    geometry: PointGeometry
    properties: StationFields


class StationPatchIn(BaseModel):
    """A GeoJSON Feature with some properties and optionally a new point (PATCH): at least one
    property or the geometry."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [
            {"required": ["geometry"], "properties": {"geometry": {"type": "object"}}},
            {"required": ["properties"], "properties": {"properties": {"minProperties": 1}}},
        ]},
    )

    type: Literal["Feature"] = "Feature"
    id: StrictInt | Annotated[Text, Field(max_length=100)] | None = None  # a long digit string is no id
    geometry: PointGeometry | None = None
    properties: StationPatch = Field(default_factory=StationPatch)


class ImportResult(BaseModel):
    """Outcome of ``POST /stations/import``."""

    model_config = ConfigDict(extra="allow")

    dry_run: bool
    source: str


# ---------------------------------------------------------------------------------------------- nearest


class NearestQuery(BaseModel):
    lon: float
    lat: float
    crs: str
    lon_wgs84: float
    lat_wgs84: float
    mode: str
    k: int
    amenity: list[str]
    at: str | None
    snap_meters: float


class NearestResult(BaseModel):
    station: Feature
    minutes: float
    meters: float
    route: LineStringGeometry
    amap_url: str
    hours_today: str | None = None


class NearestResponse(BaseModel):
    query: NearestQuery
    results: list[NearestResult]


# --------------------------------------------------------------------------------------------- coverage


class CoverageResponse(BaseModel):
    query: dict[str, Any]
    demand_source: str = Field(description='the demand measured: "file:NAME", "network:street_length"…')
    summary: dict[str, Any]
    by_area: list[dict[str, Any]]
    by_group: list[dict[str, Any]]
    amenity_unknown: dict[str, Any] | None = Field(
        default=None, description="with amenity=: stations with no amenity data (unknown, left out)"
    )


class AreaTable(BaseModel):
    query: dict[str, Any]
    demand_source: str
    areas: list[dict[str, Any]]


# ----------------------------------------------------------------------------------------------- siting


class SitingRequest(BaseModel):
    """A siting scenario: give exactly one of ``add``, ``target_share`` or ``budget``."""

    model_config = ConfigDict(
        extra="forbid", use_enum_values=True, validate_default=True,  # mode and crs stay plain str
        json_schema_extra={"oneOf": [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
            for name in ("add", "target_share", "budget")
        ]},
    )

    mode: Mode = Field(default=Mode("walk"), description="travel mode (data/modes.toml)")
    minutes: Finite = Field(default=15.0, gt=0, le=MAX_MINUTES)
    add: SitesToAdd | None = None
    target_share: Finite | None = Field(default=None, gt=0, le=1)
    budget: Finite | None = Field(default=None, gt=0, le=1e9)
    min_per_area: MinPerArea | None = None
    candidates: Literal["pois", "network"] = Field(
        default="pois", description="host POIs of YIZHAN_DEMAND_POIS, or network nodes every 300 m"
    )
    method: Literal["exact", "greedy"] = "exact"
    time_limit_seconds: Finite = Field(default=30.0, gt=0, le=120)
    crs: OutCRS = Field(
        default=OutCRS("wgs84"), description="coordinates of the proposed sites in the answer"
    )

    @model_validator(mode="after")
    def _one_objective(self) -> SitingRequest:
        given = [n for n in ("add", "target_share", "budget") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of add, target_share or budget"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


# ------------------------------------------------------------------------------ coverage at several cutoffs
#: the most thresholds one coverage request may ask for (``minutes=5,10,15``)
MAX_CUTOFFS = 12


class CoverageCutoffsResponse(CoverageResponse):
    """``/coverage``; with several ``minutes`` or ``nth`` also ``cutoffs`` and ``nth`` (absent otherwise)."""

    cutoffs: list[dict[str, Any]] | None = Field(
        default=None,
        description="one entry per threshold: minutes, demand_total, demand_covered, covered_share and, "
        "with nth, demand_covered_nth / covered_share_nth (demand with nth stations within the threshold)",
    )
    nth: int | None = Field(default=None, description="N of the N-th nearest station asked for")


class AreaCutoffsTable(AreaTable):
    """``/coverage/areas``; with several ``minutes`` or ``nth`` also ``cutoffs`` and ``nth``."""

    cutoffs: list[dict[str, Any]] | None = None
    nth: int | None = None

# -------------------------------------------------------------------------------------------- scenarios
#: a scenario's name: starts with a visible character (so it never strips to nothing), no control
#: characters but tab and newline
SCENARIO_NAME_PATTERN = (
    "^[^\\s\\u0000-\\u001F\\u007F-\\u00A0\\u1680\\u180E\\u2000-\\u200B\\u2028\\u2029\\u202F\\u205F\\u3000"
    "\\uFEFF][^\\u0000-\\u0008\\u000B-\\u001F]*$"
)
ScenarioName = Annotated[str, Field(min_length=1, max_length=200, pattern=SCENARIO_NAME_PATTERN)]
Phase = Annotated[int, Field(ge=PHASE_RANGE[0], le=PHASE_RANGE[1]), BeforeValidator(_json_integer)]
Year = Annotated[int, Field(ge=YEAR_RANGE[0], le=YEAR_RANGE[1]), BeforeValidator(_json_integer)]
Cost = Annotated[Finite, Field(ge=0, le=1e12, description="yuan")]
StationRef = Annotated[Text, Field(min_length=1, max_length=100, description="the station's id in the base")]


class ScenarioIn(BaseModel):
    """A new, empty scenario (``POST /scenarios``); its base is the registry (``db``)."""

    model_config = ConfigDict(extra="forbid")

    name: ScenarioName
    base: Literal["db"] = Field(default="db", description="the station registry (station files: CLI only)")
    description: Text = Field(default="", max_length=2000)


class _ActionCommon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cost: Cost = 0.0
    phase: Phase = 1
    year: Year | None = None


class AddActionIn(_ActionCommon):
    """Open a new station at ``lon``/``lat`` (in the ``crs`` of the query)."""

    kind: Literal["add"]
    lon: BodyLon
    lat: BodyLat
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    station_kind: KindWord | None = None
    amenities: list[AmenityWord] = Field(default_factory=list, max_length=40)
    opening_hours: Text | None = Field(default=None, min_length=1, max_length=500)


class CloseActionIn(_ActionCommon):
    """Close a station of the scenario's base."""

    kind: Literal["close"]
    station_id: StationRef


class RelocateActionIn(_ActionCommon):
    """Move a station to ``lon``/``lat`` (in the ``crs`` of the query)."""

    kind: Literal["relocate"]
    station_id: StationRef
    lon: BodyLon
    lat: BodyLat


class HoursActionIn(_ActionCommon):
    """Change a station's opening hours (OSM ``opening_hours`` syntax)."""

    kind: Literal["hours"]
    station_id: StationRef
    opening_hours: Text = Field(min_length=1, max_length=500)


class AmenitiesActionIn(_ActionCommon):
    """Replace a station's amenities."""

    kind: Literal["amenities"]
    station_id: StationRef
    amenities: list[AmenityWord] = Field(max_length=40)


ScenarioActionIn = Annotated[
    AddActionIn | CloseActionIn | RelocateActionIn | HoursActionIn | AmenitiesActionIn,
    Field(discriminator="kind"),
]


class ScenarioAction(BaseModel):
    """One stored action: its point (``lon``/``lat``) in ``crs``, the CRS asked for (stored WGS-84, with
    ``source_crs``, the CRS it was given in)."""

    seq: int
    kind: str
    station_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = Field(description="CRS of lon/lat: the crs asked for (wgs84 by default)")
    source_crs: str = Field(description="CRS the point was given in")
    name: str | None = None
    station_kind: str | None = None
    amenities: list[str] | None = None
    opening_hours: str | None = None
    cost: float
    phase: int
    year: int | None = None


class ScenarioOut(BaseModel):
    name: str
    base: str
    description: str
    crs: str = Field(description="CRS of the actions' lon/lat: the crs asked for (wgs84 by default)")
    total_cost: float
    actions: list[ScenarioAction]
    phases: list[dict[str, Any]] = Field(description="cost and action count per phase (and year)")


class ScenarioList(BaseModel):
    scenarios: list[dict[str, Any]]


class ScenarioCoverage(BaseModel):
    scenario: str
    query: dict[str, Any]
    demand_source: str
    cost: float
    summary: dict[str, Any]
    by_area: list[dict[str, Any]]
    by_group: list[dict[str, Any]]
    evaluation: dict[str, Any] = Field(
        description="incremental (only the actions appended since the last evaluation applied) or a full pass"
    )


class ScenarioComparison(BaseModel):
    """Plan ``a`` against plan ``b`` (``base`` = the other plan's base without actions), the figures of
    ``yizhan scenario compare --json``."""

    model_config = ConfigDict(extra="allow")

    a: str
    b: str
    query: dict[str, Any]
    demand_source: str
    by_area: list[dict[str, Any]]
    by_group: list[dict[str, Any]]

# -- fairness in exact siting (#21)
class FairSitingRequest(SitingRequest):
    """A siting scenario with optional fairness constraints (exact ``add`` or ``budget`` only): every area at
    least ``min_share_per_area`` covered, every area's p95 travel time at most ``max_p95_per_area_minutes``
    (95 % of its weight within them), every worker group at least ``min_share_per_group`` covered. The answer
    adds ``per_area``, ``per_group``, ``price_of_fairness`` and ``binding_areas``/``binding_groups``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                      for name in ("add", "target_share", "budget")],
            # fairness is a constraint of the exact maximal covering model: method exact, no target_share
            "allOf": [{
                "if": {"anyOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                                 for name in ("min_share_per_area", "max_p95_per_area_minutes",
                                              "min_share_per_group")]},
                "then": {"properties": {"method": {"const": "exact"}, "target_share": {"type": "null"}}},
            }],
        },
    )  # fmt: skip

    min_share_per_area: Finite | None = Field(
        default=None, ge=0, le=1, description="share 0-1 of each area's demand covered (needs stored areas)"
    )
    max_p95_per_area_minutes: Finite | None = Field(
        default=None, gt=0, le=MAX_MINUTES, description="p95 minutes per area (needs stored areas)"
    )
    min_share_per_group: Finite | None = Field(
        default=None, ge=0, le=1, description="share 0-1 of each worker group's demand covered"
    )
