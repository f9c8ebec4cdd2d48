"""Print a dev-issuer bearer token: `python -m devhost.token --role trader --account alice`."""

from __future__ import annotations

import typer

from shared.auth.dev_issuer import mint_token
from shared.config import get_settings

cli = typer.Typer(add_completion=False, help=__doc__)


@cli.command()
def main(
    role: str = typer.Option("trader", help="viewer, trader or admin (comma-separate several)."),
    account: str = typer.Option("dev", help="The account the token names (its 'sub')."),
    minutes: float = typer.Option(60.0, min=1, help="Lifetime of the token in minutes."),
) -> None:
    """Mint a token signed by the local dev issuer (key under LOCAL_DATA_DIR)."""
    settings = get_settings()
    if not settings.dev_auth:
        typer.echo(
            f"the dev issuer is off (ENVIRONMENT={settings.environment}); "
            "set DEV_AUTH_ENABLED=true to mint local tokens",
            err=True,
        )
        raise typer.Exit(2)
    roles = [part.strip() for part in role.split(",") if part.strip()]
    typer.echo(mint_token(roles, account, minutes=minutes, settings=settings))


if __name__ == "__main__":
    cli()
