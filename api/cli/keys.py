"""``yizhan keys``: API keys of organisations (create prints the secret once; list; revoke), and
the ``--key`` / ``--as-org`` identity of CLI commands."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import typer
from sqlalchemy.orm import Session

from api.cli._common import domain_errors, print_json
from api.cli.lang import say

app = typer.Typer(help="API keys of organisations (the secret is shown once, only its hash is stored).",
                  no_args_is_help=True)

KEY_HELP = "Act with this API key (its organisation's rights; audit: its name). Env: YIZHAN_KEY."
AS_ORG_HELP = "Act for this organisation (its area and subtree rules apply; audit: --actor and the org)."


def cli_principal(session: Session, *, key: str | None, as_org: str | None, actor: str,
                  role: str = "admin") -> Any:
    """Who a CLI command acts as: the key's principal (``--key``), an operator acting for an
    organisation (``--as-org``, with ``role``), or, with neither, the operator with national scope
    (whoever can reach the database can change it anyway)."""
    from api.settings import Settings
    from geo.errors import ForbiddenError, InputError, NotFoundError
    from geo.orgs import store
    from geo.orgs.keys import KeyVerifier, Principal, parse_env_keys

    if key and as_org:
        raise InputError("give --key or --as-org, not both", field="key")
    if key:
        verifier = KeyVerifier(parse_env_keys(Settings(load_networks=False).api_keys), ttl_seconds=0)
        principal = verifier.verify(key, lambda key_id: store.stored_key(session, key_id))
        if principal is None:
            raise ForbiddenError("the API key is not valid (unknown, revoked or expired)", field="key")
        return principal
    if as_org:
        if store.org_scope(session, as_org) is None:
            raise NotFoundError(f"organisation {as_org!r} not found", field="as_org")
        return Principal(actor, role, as_org)
    return Principal(actor, "admin", None)


def authorise_import(session: Session, report: Any, *, source: str, key: str | None, as_org: str | None,
                     actor: str) -> str:
    """Refuse a station file with rows the CLI identity may not write (exit 2, rows listed); mark
    the transaction's audit rows with its organisation. Returns the audit actor."""
    from geo.orgs import guard, store

    principal = cli_principal(session, key=key, as_org=as_org, actor=actor, role="editor")
    guard.check_import(session, principal, _scope(session, principal), report, source=source)
    store.set_audit_org(session, principal.org_code)
    return str(principal.key_name)


def _scope(session: Session, principal: Any) -> Any:
    from geo.orgs import store

    return None if principal.org_code is None else store.org_scope(session, principal.org_code)


def _check_admin(session: Session, principal: Any, org: str) -> None:
    from geo.errors import ForbiddenError
    from geo.orgs.authz import key_admin_refusal

    refusal = key_admin_refusal(principal, _scope(session, principal), org)
    if refusal is not None:
        raise ForbiddenError(refusal, field="org")


def _expiry(text: str | None) -> datetime | None:
    from geo.errors import InputError

    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), tzinfo=UTC)
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--expires must be a date (2027-12-31) or an ISO time, got {text!r}",
                         field="expires") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _show(row: dict[str, Any]) -> str:
    from geo.text import pad

    until = f", expires {row['expires_at']:%Y-%m-%d}" if row.get("expires_at") else ""
    return f"{pad(row['name'], 24)} {pad(row['org'], 16)} {row['role']:<7} {row['state']}{until}"


@app.command("create")
@domain_errors
def create(
    org: str = typer.Option(..., "--org", help="Organisation code."),
    role: str = typer.Option(..., "--role", help="viewer, editor or admin."),
    name: str = typer.Option(..., "--name", help="Unique key name (shown in the audit trail)."),
    expires: str | None = typer.Option(None, "--expires", help="Expiry date (YYYY-MM-DD) or ISO time."),
    key: str | None = typer.Option(None, "--key", envvar="YIZHAN_KEY", help=KEY_HELP),
    as_org: str | None = typer.Option(None, "--as-org", help=AS_ORG_HELP),
    actor: str = typer.Option("cli", "--actor", help="Who creates it (recorded as created_by)."),
    json_out: bool = typer.Option(False, "--json", help="Print name, org, role, secret as JSON."),
) -> None:
    """Create a key and print its secret ONCE (only a hash is stored: it cannot be shown again)."""
    from geo.db.engine import session_scope
    from geo.orgs import store

    with session_scope() as session:
        principal = cli_principal(session, key=key, as_org=as_org, actor=actor)
        _check_admin(session, principal, org)
        row = store.create_key(session, name=name, org_code=org, role=role, expires_at=_expiry(expires),
                               created_by=principal.key_name)
    if json_out:
        print_json({k: row[k] for k in ("name", "org", "role", "secret", "key_id", "expires_at")})
        return
    say(f"created key {row['name']} ({row['role']}) of {row['org']}")
    say(f"secret (shown once, keep it safe): {row['secret']}")


@app.command("list")
@domain_errors
def list_(
    org: str | None = typer.Option(None, "--org", help="Only this organisation and those below it."),
    key: str | None = typer.Option(None, "--key", envvar="YIZHAN_KEY", help=KEY_HELP),
    as_org: str | None = typer.Option(None, "--as-org", help=AS_ORG_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List keys: name, organisation, role, state (never secrets)."""
    from geo.db.engine import session_scope
    from geo.orgs import store

    with session_scope() as session:
        principal = cli_principal(session, key=key, as_org=as_org, actor="cli")
        root = org or principal.org_code
        if root is not None:
            _check_admin(session, principal, root)
        rows = store.list_keys(session, orgs=None if root is None else store.subtree(session, root))
    if json_out:
        print_json(rows)
        return
    for row in rows:
        say(_show(row))
    if not rows:
        say("no keys")


@app.command("revoke")
@domain_errors
def revoke(
    name: str = typer.Argument(..., help="Key name."),
    key: str | None = typer.Option(None, "--key", envvar="YIZHAN_KEY", help=KEY_HELP),
    as_org: str | None = typer.Option(None, "--as-org", help=AS_ORG_HELP),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Revoke a key: running servers refuse it (401) within YIZHAN_KEY_CACHE_SECONDS."""
    from geo.db.engine import session_scope
    from geo.orgs import store

    with session_scope() as session:
        principal = cli_principal(session, key=key, as_org=as_org, actor="cli")
        _check_admin(session, principal, store.describe_key(session, name)["org"])
        row = store.revoke_key(session, name)
    if json_out:
        print_json(row)
    else:
        say(f"revoked {_show(row)}")
