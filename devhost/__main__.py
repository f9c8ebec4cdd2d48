"""`python -m devhost`: serve function_app.py locally (HTTP, timers, admin, plugins)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from devhost.localsettings import LocalSettingsError, apply_values, read_port, read_values

if TYPE_CHECKING:
    from devhost.host import DevHost
    from shared.config import Settings

cli = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False)
log = logging.getLogger("devhost")

DEFAULT_SETTINGS = Path("local.settings.json")
DEFAULT_APP = "function_app:app"
DEFAULT_PORT = 7071
PARENT_ENV = "DEVHOST_PARENT_PID"
"""If set to the parent's pid, the host stops when that process exits (tests set it)."""
PARENT_POLL_SECONDS = 1.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fail(message: str) -> typer.Exit:
    typer.echo(f"devhost: {message}", err=True)
    return typer.Exit(2)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stdout,
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def setting_values(settings: Settings) -> dict[str, str]:
    """Every setting as text (defaults included) under the environment, for %NAME% lookups."""
    values = {
        name.upper(): str(value)
        for name, value in settings.model_dump().items()
        if isinstance(value, str | int | float | Path)
    }
    values.update(os.environ)
    return values


def print_table(host: DevHost, app_reference: str) -> None:
    rows = host.describe()
    print(f"tradingJournal local host: {app_reference} at {host.base_url}")
    if rows:
        widths = [max(len(row[i]) for row in [*rows, ("function", "trigger", "")]) for i in (0, 1)]
        print(f"  {'function':<{widths[0]}}  {'trigger':<{widths[1]}}  url / schedule")
        for name, trigger, where in rows:
            print(f"  {name:<{widths[0]}}  {trigger:<{widths[1]}}  {where}")
    else:
        print("  (no functions)")
    print(
        f"  run a timer or other non-HTTP function now: "
        f'curl -X POST {host.base_url}/admin/functions/<name> -d \'{{"input": ""}}\''
    )
    if host.plugins:
        print(f"  plugins: {', '.join(p.name for p in host.plugins)}")
    print("ready; Ctrl+C stops", flush=True)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop when the process that started us (a test run) is gone."""
    while True:
        await asyncio.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            break
    log.warning("parent process %s is gone; stopping", parent)
    stop.set()


async def _serve(host: DevHost, app_reference: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    parent = os.environ.get(PARENT_ENV, "")
    watcher = (
        loop.create_task(_watch_parent(int(parent), stop))
        if parent.isdigit() and int(parent) == os.getppid()
        else None
    )
    await host.start()
    try:
        print_table(host, app_reference)
        await stop.wait()
        log.info("stopping")
    finally:
        if watcher is not None:
            watcher.cancel()
        await host.stop()


@cli.command()
def main(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback only).")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to listen on (0 picks a free one).",
            show_default="Host.LocalHttpPort of the settings file, else 7071",
        ),
    ] = None,
    timers: Annotated[
        bool, typer.Option("--timers/--no-timers", help="Run timers on their schedules.")
    ] = True,
    settings: Annotated[
        Path | None,
        typer.Option(
            help="Settings file whose Values are loaded (the default is skipped if absent).",
            show_default="local.settings.json",
        ),
    ] = None,
    app: Annotated[str, typer.Option(help="The FunctionApp as module:attribute.")] = DEFAULT_APP,
    plugins: Annotated[
        bool, typer.Option("--plugins/--no-plugins", help="Load Durable, Web PubSub, ...")
    ] = True,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (unsafe).")
    ] = False,
) -> None:
    """Serve the FunctionApp: HTTP at /api/<route>, timers, POST /admin/functions/<name>."""
    if not is_loopback(host) and not allow_remote:
        raise fail(f"refusing to bind {host}: not a loopback address (add --allow-remote)")
    settings_path = settings if settings is not None else DEFAULT_SETTINGS
    skipped: list[str] = []
    if settings is not None and not settings_path.exists():
        raise fail(f"settings file {settings_path} does not exist")
    if settings_path.exists():
        try:
            skipped = apply_values(read_values(settings_path))
            port = port if port is not None else read_port(settings_path)
        except LocalSettingsError as error:
            raise fail(str(error)) from None
    port = DEFAULT_PORT if port is None else port
    if port not in (0, DEFAULT_PORT):
        os.environ.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")

    from shared.config import SettingsError, get_settings

    get_settings.cache_clear()
    try:
        values = get_settings()
    except SettingsError as error:
        raise fail(str(error)) from None
    _configure_logging(values.log_level)

    from devhost.profile import apply_offline_defaults, profile_banner

    offline_note = apply_offline_defaults(values)
    if offline_note:
        get_settings.cache_clear()
        values = get_settings()
        log.info("%s", offline_note)
    for line in profile_banner(values, settings_path if settings_path.exists() else None):
        typer.echo(f"devhost: {line}", err=True)

    from devhost.host import DevHost, route_prefix
    from devhost.index import IndexingError, binding_problems, index_app, load_app
    from devhost.plugins import PLUGINS, load_plugins
    from devhost.routes import RouteTemplateError
    from devhost.timers import ScheduleError

    for name in skipped:
        log.info("%s from %s ignored: the environment already sets it", name, settings_path)

    if values.backtest_workers != 0:
        from shared.backtest.warmup import hold_here

        hold_here()  # activities run in the worker processes, which warm themselves
    try:
        function_app = load_app(app)
        functions = index_app(function_app)
    except IndexingError as error:
        raise fail(f"cannot index {app}: {error}") from None
    problems = [p for f in functions for p in binding_problems(f)]
    if problems:
        raise fail(f"cannot index {app}: {'; '.join(problems)}")
    module_file = getattr(sys.modules.get(app.partition(":")[0]), "__file__", None)
    app_directory = Path(module_file).parent if module_file else Path.cwd()

    try:
        dev_host = DevHost(
            functions,
            host=host,
            port=port,
            prefix=route_prefix(app_directory),
            timers=timers,
            plugins=load_plugins(PLUGINS) if plugins else [],
            app_directory=app_directory,
            app_reference=app,
            settings=setting_values(values),
            timer_state=values.local_data_dir / "devhost" / "timers",
        )
    except (ScheduleError, RouteTemplateError) as error:
        raise fail(str(error)) from None
    for name, problem in dev_host.in_error.items():
        log.error("function %s is in error (as in Azure): %s", name, problem)
    for problem in dev_host.unserved_inputs():
        log.warning("%s", problem)
    try:
        asyncio.run(_serve(dev_host, app))
    except OSError as error:
        raise fail(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


if __name__ == "__main__":
    cli()
