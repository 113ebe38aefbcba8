"""The duplicate check within a station file (issue #15): the same answer as the pairwise reference
where no spot is over-full, and an over-full spot (a geocoder's district centre) reported, not
compared pair by pair."""

from __future__ import annotations

from typing import Any

import numpy as np

from geo.stations import DUPLICATE_METERS, MAX_PER_SPOT, file_duplicates, local_meters, similar_names


def reference(records: list[tuple[int, dict[str, Any]]]) -> dict[int, tuple[str, str]]:
    """Brute force over every pair, in row order (the rule the fast check must keep)."""
    out: dict[int, tuple[str, str]] = {}
    seen: dict[tuple[Any, str], int] = {}
    for row, rec in records:
        key = (rec.get("source"), rec["external_id"])
        if key in seen:
            out[row] = ("external_id", "")
        else:
            seen[key] = row
    xy = local_meters(np.array([r["lon"] for _, r in records]), np.array([r["lat"] for _, r in records]))
    for i in range(len(records)):
        for j in range(i + 1, len(records)):
            (row_i, a), (row_j, b) = records[i], records[j]
            if row_i in out or row_j in out or np.hypot(*(xy[i] - xy[j])) > DUPLICATE_METERS:
                continue
            if a["external_id"] != b["external_id"] and similar_names(a["name"], b["name"]):
                out[row_j] = ("name", "")
    return out


def _records(n: int, spread_m: float, seed: int) -> list[tuple[int, dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    names = ["工会驿站", "工会驿站一", "爱心驿站", "科技园驿站", "南山驿站", "港湾"]
    lon = 113.93 + rng.uniform(0, spread_m / 102_000, n)
    lat = 22.54 + rng.uniform(0, spread_m / 110_574, n)
    return [
        (i + 2, {"external_id": f"E{rng.integers(0, n)}", "source": "s", "name": str(rng.choice(names)),
                 "lon": float(lon[i]), "lat": float(lat[i])})
        for i in range(n)
    ]  # fmt: skip


def test_same_as_pairwise_reference_without_crowded_spots() -> None:
    for seed in range(5):
        records = _records(600, spread_m=800, seed=seed)
        ours = file_duplicates(records)
        assert not any(f == "lon" for f, _ in ours.values())  # no spot over-full at this density
        assert {r: f for r, (f, _) in ours.items()} == {r: f for r, (f, _) in reference(records).items()}


def test_an_over_full_spot_is_reported_row_by_row() -> None:
    n = MAX_PER_SPOT * 50
    records = [
        (i + 2, {"external_id": f"E{i}", "source": "s", "name": f"第{i}号驿站", "lon": 113.93, "lat": 22.54})
        for i in range(n)
    ]
    out = file_duplicates(records)
    assert len(out) == n and {f for f, _ in out.values()} == {"lon"}
    assert f"{n:,} rows lie within" in next(iter(out.values()))[1]
