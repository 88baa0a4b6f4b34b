"""The ``idp`` command: the operator's and owner's tools, plus Flask's (``idp db upgrade``)."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from idp.settings import SettingsError


def _create_app():
    from idp.app import create_app

    try:
        return create_app()
    except SettingsError as exc:
        click.echo(f"idp: {exc}", err=True)
        sys.exit(2)


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Identity provider for seller companies and their staff sub-accounts."""
    from idp.services import audit

    # What a command changes is audited as the operator running it, acting for the company.
    ctx.with_resource(audit.operator(f"cli:{audit.os_user()}"))


def main() -> None:
    from idp import commands  # noqa: F401  (registers the subcommands on ``cli``)

    cli(prog_name="idp")
