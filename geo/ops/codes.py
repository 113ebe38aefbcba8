"""The public code of a station (一站一码): ``S`` followed by its registry id, e.g. ``S42``.

It is what the QR code on the station's door points at (``/s/S42``) and what a visit log may name a
station by instead of its external id. Case and surrounding spaces are ignored on input.
"""

from __future__ import annotations

import re

from geo.errors import InputError

_CODE = re.compile(r"^\s*[sS](\d{1,15})\s*$")


def station_code(station_id: int) -> str:
    """The public code of the station with registry id ``station_id``."""
    if int(station_id) <= 0:
        raise InputError(f"station id must be positive, got {station_id}", field="station_id")
    return f"S{int(station_id)}"


def parse_station_code(text: str) -> int | None:
    """The registry id a public code names, or ``None`` when ``text`` is not a code."""
    m = _CODE.match(str(text))
    return int(m.group(1)) if m else None


def public_url(base_url: str, station_id: int) -> str:
    """The URL of the station's public page: ``{base_url}/s/{code}``."""
    base = str(base_url).strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", base):
        raise InputError(f"base URL must start with http:// or https://, got {base_url!r}", field="base_url")
    return f"{base}/s/{station_code(station_id)}"
