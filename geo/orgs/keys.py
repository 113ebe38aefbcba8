"""API keys: named bootstrap keys from the environment, generated organisation keys, their stored
hash, and a verifier that keeps per-request checks cheap.

A generated key reads ``yz_<key id>_<secret>``: the key id (12 hex digits) is public and stored to
find the row; the whole key is hashed with scrypt (:func:`hashlib.scrypt`, OpenSSL) under a random
salt, and only that hash is stored. Neither the key nor any part of the secret is stored or logged.

Bootstrap keys (``YIZHAN_API_KEYS=name:secret,...``) are admins of national scope; they are kept in
memory and compared in constant time (:func:`hmac.compare_digest`) with every candidate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from geo.errors import InputError

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("viewer", "editor", "admin")
#: key names: letters, digits, ``_ . -`` and CJK, up to 64 characters
NAME_PATTERN = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z_.\-\u4e00-\u9fff]{0,63}$")
TOKEN_PREFIX = "yz"
KEY_ID_HEX = 12
#: scrypt cost: 2**14 x 8 x 1 (16 MB, tens of ms), the OWASP minimum for interactive logins
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_BYTES = 2**14, 8, 1, 32


@dataclass(frozen=True)
class EnvKey:
    """A bootstrap key from ``YIZHAN_API_KEYS`` (the secret never appears in ``repr``)."""

    name: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Principal:
    """Who makes a request: the key's name (written to the audit trail), its role and organisation
    (``None`` for a bootstrap key: national scope)."""

    key_name: str
    role: str
    org_code: str | None = None

    @property
    def national(self) -> bool:
        return self.org_code is None

    @property
    def can_write(self) -> bool:
        return self.role in ("editor", "admin")


@dataclass(frozen=True)
class StoredKey:
    """A key row as the verifier needs it (no secret: only its hash)."""

    name: str
    key_id: str
    org_code: str
    role: str
    secret_hash: str = field(repr=False)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def check_name(name: str, *, field_name: str = "name") -> str:
    """A valid key name (422-style :class:`InputError` naming ``field_name`` otherwise)."""
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise InputError(
            f"key name {name!r} must be 1-64 letters, digits, CJK characters or _ . - "
            "(starting with a letter or digit)",
            field=field_name,
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; use one of {', '.join(ROLES)}", field="role")
    return role


def parse_env_keys(entries: Sequence[str], *, warn: bool = True) -> tuple[EnvKey, ...]:
    """Named bootstrap keys from ``YIZHAN_API_KEYS`` entries.

    ``name:secret`` names a key; a plain ``secret`` still works (with a warning) and is called
    ``env-1``, ``env-2``... by its position. A part before ``:`` that is not a valid name is taken
    as part of a plain secret.
    """
    out: list[EnvKey] = []
    names: set[str] = set()
    for pos, entry in enumerate(entries, start=1):
        name, sep, secret = entry.partition(":")
        if not sep or not NAME_PATTERN.match(name.strip()) or not secret:
            name, secret = f"env-{pos}", entry
            if warn:
                logger.warning(
                    "YIZHAN_API_KEYS entry %d has no name; it is called %r in the audit trail "
                    "(write it as name:secret)",
                    pos,
                    name,
                )
        name = name.strip()
        if name in names:
            raise InputError(f"YIZHAN_API_KEYS names the key {name!r} twice", field="YIZHAN_API_KEYS")
        names.add(name)
        out.append(EnvKey(name, secret))
    return tuple(out)


def match_env_key(candidate: str, keys: Sequence[EnvKey]) -> EnvKey | None:
    """The bootstrap key equal to ``candidate``, compared in constant time with every key."""
    found: EnvKey | None = None
    given = candidate.encode()
    for key in keys:
        if hmac.compare_digest(key.secret.encode(), given):
            found = key
    return found


def new_token() -> tuple[str, str]:
    """A fresh key: ``(key_id, token)`` with ``token = yz_<key_id>_<43 url-safe characters>``."""
    key_id = secrets.token_hex(KEY_ID_HEX // 2)
    return key_id, f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def token_key_id(token: str) -> str | None:
    """The public key id of a generated key (``None`` when ``token`` does not have that form)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != KEY_ID_HEX or not parts[2]:
        return None
    if not all(c in "0123456789abcdef" for c in parts[1]):
        return None
    return parts[1]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_token(token: str) -> str:
    """``scrypt$n$r$p$salt$hash`` of ``token`` (16-byte random salt, base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(token.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_token(token: str, stored: str) -> bool:
    """Whether ``token`` hashes to ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            token.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


class KeyVerifier:
    """Turns an ``X-API-Key`` value into a :class:`Principal`, cheaply.

    The scrypt check runs once per key and process: a key proven once is remembered by the SHA-256
    of the key (in memory only). Its row (revoked? expired?) is read again through ``lookup`` when
    older than ``ttl_seconds``, so a key created or revoked in the store takes effect within that
    delay in every running server. Thread-safe.

    Parameters
    ----------
    env_keys
        Bootstrap keys (admins of national scope).
    ttl_seconds
        How long a key row is trusted without reading it again.
    max_entries
        Bound of each cache (least recently used dropped first).
    clock
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        env_keys: Sequence[EnvKey] = (),
        *,
        ttl_seconds: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env_keys = tuple(env_keys)
        self.ttl_seconds = float(ttl_seconds)
        self.max_entries = int(max_entries)
        self._clock = clock
        self._proven: OrderedDict[bytes, str] = OrderedDict()  # sha256(token) -> key_id
        self._rows: OrderedDict[str, tuple[float, StoredKey | None]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, lookup: Callable[[str], StoredKey | None]) -> Principal | None:
        """The principal of ``token``, or ``None`` when it is no valid, unexpired, unrevoked key.

        ``lookup(key_id)`` reads one key row from the store (``None`` when there is none).
        """
        env = match_env_key(token, self.env_keys)
        if env is not None:
            return Principal(env.name, "admin", None)
        key_id = token_key_id(token)
        if key_id is None:
            return None
        row = self._row(key_id, lookup)
        if row is None or not row.usable(datetime.now(UTC)):
            return None
        fingerprint = hashlib.sha256(token.encode()).digest()
        with self._lock:
            proven = self._proven.get(fingerprint) == key_id
            if proven:
                self._proven.move_to_end(fingerprint)
        if not proven:
            if not check_token(token, row.secret_hash):
                return None
            with self._lock:
                self._remember(self._proven, fingerprint, key_id)
        return Principal(row.name, row.role, row.org_code)

    def _row(self, key_id: str, lookup: Callable[[str], StoredKey | None]) -> StoredKey | None:
        now = self._clock()
        with self._lock:
            cached = self._rows.get(key_id)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        row = lookup(key_id)
        with self._lock:
            self._remember(self._rows, key_id, (now, row))
        return row

    def _remember(self, cache: OrderedDict[Any, Any], key: object, value: object) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self.max_entries:
            cache.popitem(last=False)

    def forget(self) -> None:
        """Drop every cached row (the next request of each key reads the store)."""
        with self._lock:
            self._rows.clear()
