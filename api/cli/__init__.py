"""The ``yizhan`` command line (Typer). Each sub-command lives in its own module."""

from __future__ import annotations

import typer

from api.cli import coverage, db, demo, maps, network, serve, site, stations

app = typer.Typer(
    name="yizhan",
    help=(
        "yizhan 驿站: plan trade-union worker service stations "
        "(registry, 15-minute coverage, siting, maps)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(stations.app, name="stations")
app.add_typer(stations.areas_app, name="areas")
app.add_typer(network.app, name="network")
app.add_typer(maps.app, name="map")
coverage.register(app)  # yizhan coverage, yizhan gaps
site.register(app)  # yizhan site
serve.register(app)  # yizhan serve
demo.register(app)  # yizhan demo
# region (nation-scale coverage on Dask): yizhan region coverage, yizhan map region
from api.cli import region  # noqa: E402

region.register(app, maps.app)


def main() -> None:
    app()
