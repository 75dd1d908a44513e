"""Tools from MCP servers: each tool a server lists becomes a langchain-core tool of the guild.

The guild file declares the servers (`mcp_servers:` — a command to start, spoken to over
stdio, or the URL of a streamable HTTP server); an expert lists the tools it may call by
name, like toolbox tools. Name, description and argument schema come from the server, and
a call goes to it. A tool the server marks read-only (`readOnlyHint: true`) runs at once;
any other may change something (the MCP spec's `destructiveHint` defaults to true), so it
is declared `changes` and waits for the user's approval like `slmguild.tool(changes=True)`.
A call the server answers with an error, or that cannot reach it, becomes the executor's
error observation; arguments that break the tool's schema are `invalid` (the model retries).

Connections live on one event loop in a thread of their own: a turn runs on an event loop
of its own (`slmguild.concurrency.drive`), while an MCP session belongs to the loop that
opened it, so calls cross over to the connections' loop. A stdio server is started once and
runs until `McpServers.close()`, the guild's end, or the process's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Coroutine, Mapping
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from slmguild.config import McpServerConfig
from slmguild.errors import ConfigError, McpServerUnavailable, require
from slmguild.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool

log = logging.getLogger("slmguild.tools")
T = TypeVar("T")
_CLOSE_TIMEOUT_S = 10.0


class McpServers:
    """The MCP servers a guild file declares: their tools, and the connections that call them.

    `tools()` starts (or reaches) each server once and lists its tools; a connection that
    failed is opened again by the next call. `close()` stops them (it also runs when the
    object is collected, and at exit).
    """

    def __init__(self, servers: Mapping[str, McpServerConfig]) -> None:
        self.servers = dict(servers)
        self._runtime = _Runtime()
        weakref.finalize(self, self._runtime.close)  # at exit too: no stdio server outlives us

    def tools(self) -> list[BaseTool]:
        """Every tool of every server, as langchain-core tools (raises `McpServerUnavailable`)."""
        return [
            self._as_tool(name, item)
            for name in self.servers
            for item in self._runtime.run(self._runtime.list_tools(name, self.servers[name]))
        ]

    def register(self, registry: ToolRegistry) -> None:
        """Add every server's tools to `registry`, where experts find them by name."""
        for item in self.tools():
            try:
                registry.add(item)
            except ConfigError as exc:
                server = (item.metadata or {})["mcp_server"]
                raise ConfigError(f"mcp_servers.{server}: {exc}; give the server a `prefix:`") from None

    def close(self) -> None:
        """Close every connection (stdio servers stop); a later call opens them again."""
        self._runtime.close()

    def _as_tool(self, server: str, item: Tool) -> BaseTool:
        config = self.servers[server]
        read_only = bool(item.annotations and item.annotations.read_only_hint)
        schema = item.input_schema or {"type": "object", "properties": {}}
        runtime = self._runtime

        async def call(**arguments: Any) -> Any:
            _check(item.name, schema, arguments)
            return _result(server, await runtime.across(runtime.call(server, config, item.name, arguments)))

        def call_sync(**arguments: Any) -> Any:
            _check(item.name, schema, arguments)
            return _result(server, runtime.run(runtime.call(server, config, item.name, arguments)))

        return StructuredTool(
            name=config.prefix + item.name,
            description=(item.description or item.title or item.name).strip(),
            args_schema=schema,
            coroutine=call,
            func=call_sync,
            metadata={"changes": config.approval == "always" or not read_only, "mcp_server": server},
        )


@dataclass
class _Connection:
    client: Client
    stop: asyncio.Event
    task: asyncio.Task[None]


@dataclass
class _Runtime:
    """An event loop in a daemon thread, started on first use, and the connections on it
    (`open` and `locks` are only touched on that loop)."""

    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None
    open: dict[str, _Connection] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    errlogs: dict[str, TextIO] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def running(self) -> asyncio.AbstractEventLoop:
        with self.guard:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
                self.thread = threading.Thread(target=self.loop.run_forever, name="slmguild-mcp", daemon=True)
                self.thread.start()
            return self.loop

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the connections' loop and wait for it (from a synchronous caller)."""
        return asyncio.run_coroutine_threadsafe(work, self.running()).result()

    async def across(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` run on the connections' loop (cancelling this cancels it there)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.running()))

    async def list_tools(self, name: str, config: McpServerConfig) -> list[Tool]:
        client = await self.connection(name, config)
        tools: list[Tool] = []
        cursor = None
        while True:
            page = await asyncio.wait_for(client.list_tools(cursor=cursor), config.timeout_s)
            tools.extend(page.tools)
            if not (cursor := page.next_cursor):
                return tools

    async def call(self, name: str, config: McpServerConfig, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        client = await self.connection(name, config)
        try:
            return await client.call_tool(tool, arguments)
        except Exception as exc:  # noqa: BLE001 — whatever broke, the model reads it as the call's error
            # A broken connection (the server died, the network went): the next call opens a new one.
            # Not this call: a call that may have changed something is never sent twice.
            await self.drop(name)
            raise McpServerUnavailable(f"the MCP server '{name}' failed on {tool}: {_reason(exc)}") from None

    async def connection(self, name: str, config: McpServerConfig) -> Client:
        lock = self.locks.setdefault(name, asyncio.Lock())
        async with lock:
            held = self.open.get(name)
            if held is not None and not held.task.done():
                return held.client
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[Client] = loop.create_future()
            stop = asyncio.Event()
            errlog = self.errlogs.get(name)
            if config.command is not None and errlog is None:
                # The server's stderr is kept aside: it explains a server that fails to start.
                errlog = self.errlogs[name] = tempfile.TemporaryFile(  # noqa: SIM115 — open while the server runs
                    "w+", encoding="utf-8", errors="replace")
            task = loop.create_task(_hold(config, ready, stop, errlog), name=f"slmguild-mcp-{name}")
            try:
                client = await asyncio.wait_for(asyncio.shield(ready), config.timeout_s)
            except TimeoutError:
                task.cancel()
                with suppress(BaseException):
                    await task
                raise McpServerUnavailable(_unavailable(name, config, f"no answer within {config.timeout_s:g} s",
                                                        errlog)) from None
            except Exception as exc:  # noqa: BLE001 — OSError, MCPError, httpx errors...: one message
                raise McpServerUnavailable(_unavailable(name, config, _reason(exc), errlog)) from None
            self.open[name] = _Connection(client, stop, task)
            return client

    async def drop(self, name: str) -> None:
        held = self.open.pop(name, None)
        if held is not None:
            held.stop.set()
            with suppress(BaseException):
                await asyncio.wait_for(held.task, _CLOSE_TIMEOUT_S)

    async def drop_all(self) -> None:
        await asyncio.gather(*(self.drop(name) for name in list(self.open)))

    def close(self) -> None:
        with self.guard:
            loop, thread, self.loop, self.thread = self.loop, self.thread, None, None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.drop_all(), loop).result(_CLOSE_TIMEOUT_S * 2)
        except Exception as exc:  # noqa: BLE001 — closing must not fail the caller: the servers end with us
            log.warning("closing the MCP connections: %s", _reason(exc))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CLOSE_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()
        self.locks.clear()
        for errlog in self.errlogs.values():
            errlog.close()
        self.errlogs.clear()


async def _hold(config: McpServerConfig, ready: asyncio.Future[Client], stop: asyncio.Event,
                errlog: TextIO | None) -> None:
    """Open a connection, hand its client over, keep it until `stop`: the SDK's transports
    are entered and left in the same task (their anyio cancel scopes demand it)."""
    mcp = require("mcp", "mcp")
    try:
        async with AsyncExitStack() as stack:
            if config.url is not None:
                from mcp.client.streamable_http import streamable_http_client
                from mcp.shared._httpx_utils import create_mcp_http_client

                headers = {key: os.path.expandvars(value) for key, value in config.headers.items()}
                http = await stack.enter_async_context(create_mcp_http_client(headers=headers)) if headers else None
                transport = streamable_http_client(config.url, http_client=http)
            else:
                from mcp.client.stdio import stdio_client

                assert config.command is not None and errlog is not None
                env = {key: os.path.expandvars(value) for key, value in config.env.items()}
                parameters = mcp.StdioServerParameters(command=config.command, args=config.args, env=env or None,
                                                       cwd=config.cwd)
                transport = stdio_client(parameters, errlog=errlog)
            client = await stack.enter_async_context(mcp.Client(transport))
            ready.set_result(client)
            await stop.wait()
    except Exception as exc:  # noqa: BLE001 — handed to the caller that waits for the connection
        if not ready.done():
            ready.set_exception(exc)
        else:
            log.warning("the connection to an MCP server ended: %s", _reason(exc))


def _check(tool: str, schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """Raise pydantic's `ValidationError` for arguments that break the tool's JSON schema: the
    executor reports them as `invalid`, and the model tries again with the errors."""
    import jsonschema  # a dependency of mcp

    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
    if errors:
        raise ValidationError.from_exception_data(tool, [
            {"type": PydanticCustomError("json_schema", "{error}", {"error": error.message}),
             "loc": tuple(error.absolute_path), "input": error.instance}
            for error in errors
        ])


def _result(server: str, result: CallToolResult) -> Any:
    """A tool result as the executor takes it: the structured content when the text is just its
    JSON (its fields then read as words), else the text; an error result raises."""
    text = "\n".join(_block_text(block) for block in result.content)
    if result.is_error:
        raise ToolException(text or f"the MCP server '{server}' reported an error")
    structured = result.structured_content
    if structured is not None:
        with suppress(ValueError):  # text that is not JSON says more than the structure: the text is the result
            if not text or json.loads(text) == structured:
                return structured
    return text


def _block_text(block: Any) -> str:
    """A content block as text; what is not text is named, not pasted."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return block.text
    if kind == "resource":
        contents = block.resource
        return getattr(contents, "text", None) or f"[resource {contents.uri}]"
    if kind == "resource_link":
        return f"[link {block.uri}]"
    return f"[{kind} {getattr(block, 'mime_type', '')}]".replace(" ]", "]")


def _unavailable(name: str, config: McpServerConfig, reason: str, errlog: TextIO | None) -> str:
    """What failed (and what the server said), where, and how to fix it."""
    if config.url is not None:
        where = f"at {config.url}"
        fix = "start it, or correct `url:`"
    else:
        where = f"started as `{' '.join([config.command or '', *config.args])}` in {config.cwd or os.getcwd()}"
        fix = "check `command:`, `args:` and `cwd:` (run that command yourself: it must speak MCP on stdin/stdout)"
    said = ""
    if errlog is not None:
        errlog.flush()
        errlog.seek(0)
        tail = errlog.read()[-600:].strip()
        said = f"; it said: {tail}" if tail else ""
    return f"mcp_servers.{name}: the MCP server {where} is unavailable ({reason}){said}; {fix}"


def _reason(exc: BaseException) -> str:
    """The innermost failure of an exception (task groups wrap it in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
