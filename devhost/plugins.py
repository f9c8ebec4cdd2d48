"""The plugin seam of the local host: how Durable, Web PubSub and others plug into it.

A plugin is a subclass of `Plugin` that overrides only what it needs:

- `trigger_types`: trigger binding types it runs (the core host serves only `httpTrigger`
  and `timerTrigger`; any other type no plugin claims is listed as "not served").
- `input_types`: input binding types whose value it provides (`input_value`), e.g.
  `durableClient`. The host passes the value as the keyword argument named by the binding.
- `setup(host, app)`: called once after the app is indexed and before the server starts;
  add aiohttp routes to `app` here (they take precedence over `/api/<route>` triggers).
- `start()` / `stop()`: async, with the host (start after the server listens, stop before
  it closes). A plugin may start its own servers on other ports here.

The host a plugin sees (`PluginHost`) lists the indexed functions, invokes any of them by
name with keyword arguments (async or sync; sync ones run in a thread; each call logs the
invocation line), and logs invocations the plugin ran elsewhere (e.g. in a process pool).
`base_url` is final from `start()` on (with `--port 0` the port is known only then), so
read it lazily in `setup`. `app_reference` ("module:attribute") lets another process import
the same app. Functions of claimed trigger types can be run on demand through
`POST /admin/functions/{name}` with `{"input": ...}`: the host calls `invoke(name,
**{trigger binding name: input})`.

Plugins are found in `PLUGINS`, a fixed list of "module:attribute" entries, where the
attribute is a zero-argument callable returning a `Plugin` (a subclass itself will do). A
module that is not there yet is skipped, so the host runs without it.

A tiny example (devhost/echo.py, listed in `PLUGINS` as "devhost.echo:EchoPlugin")::

    from aiohttp import web
    from devhost.plugins import Binding, FunctionInfo, InvocationContext, Plugin, PluginHost

    class EchoPlugin(Plugin):
        name = "echo"
        trigger_types = frozenset({"echoTrigger"})
        input_types = frozenset({"echoClient"})

        def setup(self, host: PluginHost, app: web.Application) -> None:
            self.host = host

            async def fire(request: web.Request) -> web.Response:
                for function in host.functions_with_trigger("echoTrigger"):
                    await host.invoke(function.name, **{function.trigger["name"]: "hi"})
                return web.Response(status=202)

            app.router.add_post("/runtime/webhooks/echo", fire)

        async def input_value(
            self, binding: Binding, function: FunctionInfo, context: InvocationContext
        ) -> object:
            return '{"baseUrl": "%s"}' % self.host.base_url
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("devhost.plugins")

PLUGINS: tuple[str, ...] = (
    "devhost.durable:create_plugin",
    "devhost.webpubsub:create_plugin",
    "devhost.issuer:create_plugin",
    "devhost.changefeed:create_plugin",
)
"""Where plugins are found: "module:attribute", attribute a zero-argument Plugin factory."""

Binding = Mapping[str, Any]
"""One binding as in function.json: `type`, `name`, `direction` and the type's own keys."""


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function of the app."""

    name: str
    trigger: Binding
    bindings: tuple[Binding, ...]
    user_function: Callable[..., Any]
    """What the host calls (the decorated function; for Durable the SDK's wrapper)."""
    original_function: Callable[..., Any]
    """The function the developer wrote (unwrapped), for signatures and names."""

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    def input_bindings(self) -> list[Binding]:
        """Input bindings other than the trigger."""
        return [
            b
            for b in self.bindings
            if b is not self.trigger and str(b.get("direction", "")).lower() == "in"
        ]


@dataclass
class InvocationContext:
    """What the host knows about one invocation while it resolves input bindings."""

    function: FunctionInfo
    invocation_id: str
    request: web.Request | None = None
    """The aiohttp request for HTTP-triggered invocations, else None."""
    extras: dict[str, Any] = field(default_factory=dict)


class PluginHost(Protocol):
    """The local host as plugins see it."""

    @property
    def base_url(self) -> str:
        """Origin of the host, e.g. http://127.0.0.1:7071 (no trailing slash)."""
        ...

    @property
    def app_reference(self) -> str:
        """The served FunctionApp as "module:attribute" (to import it in another process)."""
        ...

    @property
    def functions(self) -> Mapping[str, FunctionInfo]:
        """Every indexed function by name."""
        ...

    def functions_with_trigger(self, trigger_type: str) -> list[FunctionInfo]: ...

    async def invoke(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call function `name` with these arguments (input bindings provided by plugins are
        filled in when not given), log one invocation line, return its result or re-raise
        its exception. Sync functions run in a worker thread."""
        ...

    def log_invocation(
        self, name: str, trigger_type: str, duration_ms: float, outcome: str
    ) -> None:
        """Log the invocation line for a call the plugin made itself (e.g. another process)."""
        ...


class Plugin:
    """Base class of host plugins; every hook is optional."""

    name: str = "plugin"
    trigger_types: frozenset[str] = frozenset()
    input_types: frozenset[str] = frozenset()

    def setup(self, host: PluginHost, app: web.Application) -> None:
        """Add routes to `app`, remember `host`. Called before the server starts."""

    async def input_value(
        self, binding: Binding, function: FunctionInfo, context: InvocationContext
    ) -> Any:
        """The value of an input binding of one of `input_types` for this invocation."""
        raise NotImplementedError(f"plugin {self.name} provides no {binding['type']} value")

    async def start(self) -> None:
        """Called once the host listens."""

    async def stop(self) -> None:
        """Called when the host shuts down (before the server closes)."""

    def describe(self, function: FunctionInfo) -> str:
        """What the start-up table shows for a function of a claimed trigger type."""
        return f"run by {self.name}"


def load_plugins(entries: Sequence[str] = PLUGINS) -> list[Plugin]:
    """Instantiate the plugins of `entries`, skipping modules that do not exist (yet)."""
    plugins: list[Plugin] = []
    for entry in entries:
        module_name, _, attribute = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name or module_name.startswith(f"{error.name}."):
                log.debug("plugin %s not installed (%s); skipped", entry, error)
                continue
            raise
        factory = getattr(module, attribute, None)
        if factory is None:
            log.warning("plugin %s: %s has no %s yet; skipped", entry, module_name, attribute)
            continue
        plugin = factory()
        if not isinstance(plugin, Plugin):
            raise TypeError(f"plugin entry {entry} returned {type(plugin).__name__}, not Plugin")
        plugins.append(plugin)
    return plugins
