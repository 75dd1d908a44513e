"""MCP both ways, with the official MCP SDK on both ends.

- An expert's tools from an MCP server (`tests/mcp_orders_server.py`, over stdio and over
  streamable HTTP): the server's names, descriptions and schemas; a read-only tool runs at
  once, any other waits for the user's approval; the server's errors are observations;
  a server that cannot start or be reached is a clear `SlmguildError`.
- `slmguild mcp`: the guild served over stdio, driven by the SDK's `stdio_client`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

import slmguild
from slmguild.errors import ConfigError, McpServerUnavailable
from slmguild.mcp_server import guild_mcp_server
from slmguild.testing import ScriptedModel, expert_replies

ORDERS_SERVER = Path(__file__).resolve().parent / "mcp_orders_server.py"
SLMGUILD = str(Path(sys.executable).with_name("slmguild"))  # the CLI of this environment


@pytest.fixture
def orders_log(tmp_path, monkeypatch) -> Path:
    """The log each call that really ran on the MCP server appends to."""
    log = tmp_path / "orders.log"
    monkeypatch.setenv("ORDERS_LOG", str(log))
    return log


def ran(log: Path) -> list:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def shop_guild(write_guild, tmp_path: Path, server: str) -> Path:
    """A one-expert guild whose tools come from the MCP server described by `server` (YAML)."""
    text = textwrap.dedent(f"""\
        name: shop
        sessions: {{store: {tmp_path / "sessions.sqlite"}}}
        answer: {{strategy: generative}}
        mcp_servers:
          orders:
        SERVER
        experts:
          shop:
            description: Customer orders
            system_prompt: You are the order desk.
            tools: [order_status, cancel_order]
        """)
    return write_guild(text.replace("SERVER\n", textwrap.indent(server, "    ")))


STDIO_SERVER = f"""\
command: {sys.executable}
args: [{ORDERS_SERVER}]
env: {{ORDERS_LOG: "${{ORDERS_LOG}}"}}
"""


@pytest.fixture
def stdio_guild(write_guild, tmp_path, orders_log):
    guild = slmguild.load_guild(shop_guild(write_guild, tmp_path, STDIO_SERVER))
    yield guild
    guild.mcp.close()


def scripted(guild: slmguild.Guild, *script: str | tuple[str, dict]) -> slmguild.Guild:
    """`guild` with its expert's model scripted: tool uses (name, arguments), then answers."""
    expert = guild.expert("shop")
    expert.model = ScriptedModel(replies=expert_replies(expert, script))
    return guild


def test_the_servers_tools_join_the_guild_with_their_schema_and_approval(stdio_guild):
    status, cancel = stdio_guild.tools.resolve("order_status"), stdio_guild.tools.resolve("cancel_order")
    assert status.description.startswith("The delivery status of a customer order.")
    assert status.tool_call_schema["properties"]["order_id"]["type"] == "string"
    assert cancel.tool_call_schema["required"] == ["order_id", "reason"]
    # readOnlyHint runs at once; cancel_order is destructive, so it waits for a yes.
    assert stdio_guild.expert("shop").approval == frozenset({"cancel_order"})


def test_a_read_only_tool_runs_at_once(stdio_guild, orders_log):
    guild = scripted(stdio_guild, ("order_status", {"order_id": "SO-1"}), "SO-1 has shipped.")
    reply = guild.run("Where is my order SO-1?", expert="shop", session="s")
    assert reply.pending is None and reply.text == "SO-1 has shipped."
    (call,) = reply.trace.tools
    assert (call.tool, call.status) == ("order_status", "ok")
    assert json.loads(call.content) == {"order_id": "SO-1", "status": "shipped"}
    assert ran(orders_log) == [["order_status", {"order_id": "SO-1"}]]


def test_a_changing_tool_waits_for_approval_then_runs_on_the_server(stdio_guild, orders_log):
    request = "Please cancel order SO-2, reason: changed my mind."
    guild = scripted(stdio_guild, ("cancel_order", {"order_id": "SO-2", "reason": "changed my mind"}),
                     "Order SO-2 is cancelled.")
    paused = guild.run(request, expert="shop", session="s")
    assert paused.pending == slmguild.PendingCall("shop", "cancel_order",
                                                  {"order_id": "SO-2", "reason": "changed my mind"})
    assert ran(orders_log) == []  # nothing reached the server yet

    reply = guild.resume("s", approve=True)
    assert reply.pending is None and reply.text == "Order SO-2 is cancelled."
    (call,) = reply.trace.tools
    assert (call.status, call.approval, call.content) == ("ok", "approved", "order SO-2 cancelled")
    assert ran(orders_log) == [["cancel_order", {"order_id": "SO-2", "reason": "changed my mind"}]]


def test_a_refused_call_never_reaches_the_server(stdio_guild, orders_log):
    guild = scripted(stdio_guild, ("cancel_order", {"order_id": "SO-2", "reason": "changed my mind"}))
    guild.run("Please cancel order SO-2, reason: changed my mind.", expert="shop", session="s")
    reply = guild.resume("s", approve=False)
    assert reply.trace.tools[0].status == "declined" and ran(orders_log) == []


def test_a_server_error_is_an_error_observation(stdio_guild, orders_log):
    guild = scripted(stdio_guild, ("order_status", {"order_id": "SO-9"}), "I could not find SO-9.")
    reply = guild.run("Where is my order SO-9?", expert="shop", session="s")
    (call,) = reply.trace.tools
    assert call.status == "error" and "no order SO-9" in call.content
    assert reply.text == "I could not find SO-9."


def test_arguments_that_break_the_schema_are_invalid_and_never_sent(stdio_guild, orders_log):
    executor = stdio_guild.expert("shop").executor
    observation = asyncio.run(executor.execute("order_status", {"order_id": 7}))
    assert observation.status == "invalid" and observation.retryable
    assert observation.content == "order_id: 7 is not of type 'string'"
    assert ran(orders_log) == []


def test_a_server_that_does_not_start_is_a_clear_error(write_guild, tmp_path, orders_log):
    missing = shop_guild(write_guild, tmp_path, f"command: {sys.executable}\nargs: [no_such_server.py]\n")
    with pytest.raises(McpServerUnavailable) as failed:
        slmguild.load_guild(missing)
    message = str(failed.value)
    assert message.startswith("mcp_servers.orders: the MCP server started as ")
    assert "no_such_server.py" in message and "No such file" in message  # what the server said
    assert "check `command:`" in message

    unknown = shop_guild(write_guild, tmp_path, "command: no-such-mcp-server-command\n")
    with pytest.raises(McpServerUnavailable, match="FileNotFoundError.*no-such-mcp-server-command"):
        slmguild.load_guild(unknown)


def test_an_unreachable_url_is_a_clear_error(write_guild, tmp_path):
    port = _free_port()
    path = shop_guild(write_guild, tmp_path, f"url: http://127.0.0.1:{port}/mcp\ntimeout_s: 5\n")
    with pytest.raises(McpServerUnavailable,
                       match=rf"mcp_servers.orders: the MCP server at http://127.0.0.1:{port}/mcp is unavailable"
                             r" \(ConnectError.*start it, or correct `url:`"):
        slmguild.load_guild(path)


def test_a_server_is_a_command_or_a_url(write_guild, tmp_path):
    both = shop_guild(write_guild, tmp_path, "command: python\nurl: http://localhost:1/mcp\n")
    with pytest.raises(ConfigError, match="mcp_servers.orders: .*either `command`"):
        slmguild.load_config(both)


def test_tools_of_a_streamable_http_server(write_guild, tmp_path, orders_log):
    port = _free_port()
    server = subprocess.Popen([sys.executable, str(ORDERS_SERVER), "--http", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        path = shop_guild(write_guild, tmp_path, f"url: http://127.0.0.1:{port}/mcp\n")
        guild = scripted(slmguild.load_guild(path), ("order_status", {"order_id": "SO-1"}), "Shipped.")
        assert guild.expert("shop").approval == frozenset({"cancel_order"})
        reply = guild.run("Where is my order SO-1?", expert="shop")
        assert reply.trace.tools[0].status == "ok" and "shipped" in reply.trace.tools[0].content
        assert ran(orders_log) == [["order_status", {"order_id": "SO-1"}]]
        guild.mcp.close()
    finally:
        server.terminate()
        server.wait(10)


# -- slmguild mcp: the guild as an MCP server ---------------------------------------------------

DOCS = {
    "vpn.md": "# VPN password reset\n\nReset your VPN password at https://id.acme.example/reset, "
              "then wait 5 minutes before you connect again.\n",
    "printers.md": "# Printers\n\nBadge in at any printer to release your print job; jobs are kept for 24 hours.\n",
}


@pytest.fixture(scope="module")
def served_guild(tmp_path_factory) -> Path:
    """A small guild whose documents are ingested, in a data directory of its own (Qdrant's
    local mode lets one process open a store: the server's)."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "docs").mkdir()
    for name, text in DOCS.items():
        (folder / "docs" / name).write_text(text)
    path = folder / "guild.yaml"
    path.write_text(textwrap.dedent("""\
        name: desk
        description: A small help desk
        answer: {strategy: grounded, passages: 1}
        experts:
          it:
            description: IT help desk - VPN and printers
            system_prompt: You are the IT help desk. Answer in one sentence.
            exemplars: [How do I reset my VPN password?, My print job does not come out]
            knowledge: {sources: [docs]}
        """))
    subprocess.run([SLMGUILD, "ingest", "-g", str(path)], check=True, env=_env(folder), capture_output=True,
                   timeout=120)
    return path


def _env(folder: Path) -> dict[str, str]:
    # The models stay shared (SLMGUILD_MODELS, set for the test run); the data is the guild's own.
    return {**os.environ, "SLMGUILD_HOME": str(folder / "home")}


async def _session(guild: Path, work):
    server = StdioServerParameters(command=SLMGUILD, args=["mcp", "-g", str(guild)], env=_env(guild.parent))
    async with Client(stdio_client(server)) as client:
        return await work(client)


def test_slmguild_mcp_lists_its_tools_and_searches_an_experts_documents(served_guild):
    async def work(client: Client):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        found = await client.call_tool("search", {"expert": "it", "query": "reset my VPN password", "k": 1})
        unknown = await client.call_tool("search", {"expert": "hr", "query": "leave"})
        members = await client.call_tool("experts", {})
        return tools, found, unknown, members

    tools, found, unknown, members = asyncio.run(_session(served_guild, work))
    assert set(tools) == {"ask", "approve", "search", "experts"}
    assert tools["search"].annotations.read_only_hint and tools["approve"].annotations.destructive_hint
    assert set(tools["ask"].input_schema["properties"]) == {"message", "expert", "session"}
    assert tools["ask"].input_schema["required"] == ["message"]

    assert not found.is_error
    (passage,) = found.structured_content["passages"]
    assert passage["source"].endswith("vpn.md") and passage["label"] == "vpn#0"
    assert "https://id.acme.example/reset" in passage["text"]

    assert unknown.is_error and "no expert 'hr' (it has: it)" in unknown.content[0].text
    assert members.structured_content == {"experts": [
        {"name": "it", "description": "IT help desk - VPN and printers", "has_documents": True}]}


@pytest.mark.integration
def test_slmguild_mcp_asks_the_guild_with_the_real_model(served_guild, smollm2):
    # The small guild, not the example one: there, ingesting and the first turn take ~70 s here.
    async def work(client: Client):
        return await client.call_tool("ask", {"message": "How do I reset my VPN password?", "expert": "it",
                                              "session": "m1"})

    answer = asyncio.run(_session(served_guild, work))
    assert not answer.is_error, answer.content
    result = answer.structured_content
    assert (result["expert"], result["session"], result["waiting"]) == ("it", "m1", None)
    assert answer.content[0].text == result["text"] and result["text"].endswith("[vpn]")
    assert [source["id"] for source in result["sources"]] == ["vpn"]  # the passage it was made from
    assert "https://id.acme.example/reset" in result["sources"][0]["text"]


def test_asking_through_mcp_a_call_waits_until_approve(stdio_guild, orders_log):
    """The whole loop in one process: an MCP client asks the guild, whose expert calls an MCP
    server's changing tool; the call waits until the client's `approve`."""
    guild = scripted(stdio_guild, ("cancel_order", {"order_id": "SO-2", "reason": "changed my mind"}),
                     "Order SO-2 is cancelled.")

    async def work():
        async with Client(guild_mcp_server(guild)) as client:
            asked = await client.call_tool("ask", {"message": "Please cancel order SO-2, reason: changed my mind.",
                                                   "expert": "shop", "session": "c1"})
            log_before = ran(orders_log)
            approved = await client.call_tool("approve", {"session": "c1", "approved": True})
            again = await client.call_tool("approve", {"session": "c1", "approved": True})
            return asked, log_before, approved, again

    asked, log_before, approved, again = asyncio.run(work())
    assert asked.structured_content["waiting"] == {
        "tool": "cancel_order", "arguments": {"order_id": "SO-2", "reason": "changed my mind"}}
    assert "call `approve` with session 'c1'" in asked.content[0].text
    assert log_before == []
    assert approved.structured_content["text"] == "Order SO-2 is cancelled."
    assert approved.structured_content["waiting"] is None
    assert ran(orders_log) == [["cancel_order", {"order_id": "SO-2", "reason": "changed my mind"}]]
    assert again.is_error and "no call waiting for approval" in again.content[0].text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")
