"""The ``yizhan`` command line (Typer). Each sub-command lives in its own module."""

from __future__ import annotations

import typer

from api.cli import coverage, db, demo, maps, network, serve, site, stations
from api.cli import report as report_cli  # anyarea: yizhan report
from api.cli._common import fail, missing_extra
from api.cli.lang import use_lang
from geo.errors import YizhanError

app = typer.Typer(
    name="yizhan",
    help=(
        "yizhan 驿站: plan trade-union worker service stations "
        "(registry, 15-minute coverage, siting, maps)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    lang: str = typer.Option(
        "", "--lang", help="zh or en: the language of messages (default YIZHAN_LANG, else en)"),
) -> None:
    """yizhan 驿站: plan trade-union worker service stations."""
    try:
        use_lang(lang)  # every run starts from --lang or YIZHAN_LANG
    except YizhanError as exc:
        raise fail(exc.message) from None


app.add_typer(db.app, name="db")
app.add_typer(stations.app, name="stations")
app.add_typer(stations.areas_app, name="areas")
app.add_typer(network.app, name="network")
app.add_typer(maps.app, name="map")
coverage.register(app)  # yizhan coverage, yizhan gaps
site.register(app)  # yizhan site
serve.register(app)  # yizhan serve
demo.register(app)  # yizhan demo
# organisations and access (orgs)
from api.cli import keys, orgs  # noqa: E402

app.add_typer(orgs.app, name="orgs")
app.add_typer(keys.app, name="keys")

# station operations: yizhan visits import|report, yizhan audit maps, yizhan stations qr
from api.cli import ops_commands  # noqa: E402  (adds to the groups above)

ops_commands.register(app)
report_cli.register(app)  # yizhan report (anyarea)
# region (nation-scale coverage on Dask): yizhan region coverage, yizhan map region
from api.cli import region  # noqa: E402

region.register(app, maps.app)


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as exc:  # a command whose extra is not installed: one line, exit 1
        extra = missing_extra(exc)
        if extra is None:
            raise
        typer.echo(f"error: this command needs the {extra!r} extra: pip install 'yizhan[{extra}]'", err=True)
        raise SystemExit(1) from None

# scenarios: stored plans evaluated and compared
from api.cli import scenario  # noqa: E402

app.add_typer(scenario.app, name="scenario")

# capacity: 2SFCA accessibility of station capacity (yizhan access)
from api.cli import access  # noqa: E402

access.register(app)
