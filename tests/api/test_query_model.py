"""``api.deps.query_model`` answers exactly as FastAPI's own ``Annotated[Model, Query()]`` does."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from api.deps import query_model


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=-1, le=1, description="a bounded number")
    n: int = Field(3, ge=1, le=5)
    colour: Colour = Colour.red
    tags: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, max_length=3)
    maybe_ids: list[int] | None = None
    pair: tuple[int, ...] = ()
    flag: bool = False
    when: datetime | None = None
    label: str | None = Field(None, alias="label-text")
    station_ids: list[int] = Field(default_factory=list, alias="id")


ours_dep, OURS_DOCS = query_model(Params)


def _apps() -> tuple[TestClient, TestClient]:
    native, ours = FastAPI(), FastAPI()

    @native.get("/p")
    async def native_route(p: Annotated[Params, Query()]) -> Any:
        return p.model_dump(mode="json", by_alias=True)

    @ours.get("/p", openapi_extra=OURS_DOCS)
    async def ours_route(p: Annotated[Params, Depends(ours_dep)]) -> Any:
        return p.model_dump(mode="json", by_alias=True)

    return TestClient(native), TestClient(ours)


NATIVE, OURS = _apps()

QUERIES = [
    "x=0.5",
    "x=0.5&n=5&colour=blue&flag=true&when=2026-11-22T22:00",
    "x=0.5&tags=a&tags=b",
    "x=0.5&tags=a&tags=b&tags=c&tags=d",
    "x=0.5&tags=",
    "x=0.5&maybe_ids=1&maybe_ids=2",
    "x=0.5&maybe_ids=one",
    "x=0.5&pair=1&pair=2&pair=3",
    "x=0.5&label-text=hi",
    "x=0.5&label=hi",
    "x=0.5&id=1&id=2",
    "x=0&x=0.25",
    "x=",
    "",
    "x=2",
    "x=nan",
    "x=1e-1&n=",
    "x=0.5&n=6",
    "x=0.5&colour=green",
    "x=0.5&flag=maybe",
    "x=0.5&when=yesterday",
    "x=0.5&radius=3",
]


@pytest.mark.parametrize("query", QUERIES)
def test_same_answer_as_fastapi_query_models(query: str) -> None:
    a, b = NATIVE.get(f"/p?{query}"), OURS.get(f"/p?{query}")
    assert (b.status_code, b.json()) == (a.status_code, a.json())


def test_documented_parameters_match_the_model() -> None:
    native = {p["name"]: p for p in NATIVE.get("/openapi.json").json()["paths"]["/p"]["get"]["parameters"]}
    ours = {p["name"]: p for p in OURS.get("/openapi.json").json()["paths"]["/p"]["get"]["parameters"]}
    assert list(ours) == list(native)
    for name, param in ours.items():
        assert param["in"] == "query" and param["required"] == native[name]["required"], name
        assert param.get("description") == native[name].get("description"), name
    # enums are inlined instead of referenced from components
    assert ours["colour"]["schema"]["enum"] == ["red", "blue"]
    assert "$ref" not in str(ours)
    assert ours["x"]["schema"]["minimum"] == -1 and ours["tags"]["schema"]["maxItems"] == 3
