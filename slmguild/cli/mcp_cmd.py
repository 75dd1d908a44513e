"""`slmguild mcp`: the guild as an MCP server over stdio, for MCP clients."""

from __future__ import annotations

from pathlib import Path

from slmguild.cli.turns import GuildOption
from slmguild.mcp_server import guild_mcp_server
from slmguild.orchestrator import load_guild


def mcp(guild: GuildOption = Path("guild.yaml")) -> None:
    """Serve the guild to MCP clients (Claude Desktop, IDEs, agents) over stdin/stdout.

    An MCP client starts this command itself; it is not run by hand. Tools:

    - **ask** (message, expert?, session?): the guild's answer, with who answered and its sources;
    - **approve** (session, approved): run or refuse a call that an answer waits on;
    - **search** (expert, query, k): passages of an expert's documents, with their source;
    - **experts**: who is in the guild.

    In Claude Desktop's `claude_desktop_config.json`:
    `{"mcpServers": {"acme": {"command": "slmguild", "args": ["mcp", "-g", "/path/to/guild.yaml"]}}}`.
    See docs/mcp.md, which also shows how experts use tools of other MCP servers.
    """
    guild_mcp_server(load_guild(guild)).run()
