"""``yizhan db``: create and migrate the PostGIS store."""

from __future__ import annotations

import typer

from api.cli._common import domain_errors, print_json
from api.cli.lang import say

app = typer.Typer(help="PostGIS store: create the database, run the migrations.", no_args_is_help=True)


@app.command("upgrade")
@domain_errors
def upgrade(
    revision: str = typer.Option("head", help="Alembic revision to upgrade to."),
    create: bool = typer.Option(True, "--create/--no-create",
                                help="Create the database and enable PostGIS first if missing."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Migrate the configured database (YIZHAN_DATABASE_URL) to the newest schema."""
    from geo.config import database_url, redact_url
    from geo.db import migrate, setup_db

    created = False
    if create:
        created = setup_db.ensure_database()
        setup_db.ensure_postgis()
    now = migrate.upgrade(revision=revision)

    result = {"database": redact_url(database_url()), "revision": now, "created": created}
    if json_out:
        print_json(result)
    else:
        say(f"database {result['database']} at revision {now}" + (" (created)" if created else ""))


@app.command("current")
@domain_errors
def current() -> None:
    """Print the revision the configured database is at."""
    from geo.db import migrate

    say(f"{migrate.current_revision()} (head {migrate.head_revision()})")
