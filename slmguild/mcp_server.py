"""`slmguild mcp`: the guild as an MCP server, for MCP clients (Claude Desktop, IDEs, agents).

    server = guild_mcp_server(slmguild.load_guild("guild.yaml"))
    server.run()   # MCP over stdin/stdout

Its tools:
- `ask`: one turn of the guild (routed, or given to `expert`; continued in `session`). The text
  is the answer; the structured output adds who answered, the session, the sources and, when
  the turn stopped for approval, the call that waits;
- `approve`: answer that call. It is marked destructive, so the MCP client asks its own user
  first: the guild's rule that nothing changes without a yes holds across the protocol;
- `search`: an expert's knowledge, passages with their source;
- `experts`: who is in the guild, for `ask`'s and `search`'s `expert`.

Only the official MCP SDK's `MCPServer` is used (extra `[mcp]`); this module maps its tools
onto `Guild` calls and turns slmguild's errors into tool errors the client can read.
"""

# No `from __future__ import annotations`: MCPServer reads the tools' hints at run time, and
# their types are imported inside `guild_mcp_server` (the SDK is an extra).
import asyncio
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

from slmguild.errors import SlmguildError, require
from slmguild.orchestrator import Guild, Reply

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer


class Source(BaseModel):
    """A passage an answer was made from."""

    id: str = Field(description="The document it comes from")
    chunk: str = Field(description="The chunk's label in that document")
    text: str


class Waiting(BaseModel):
    """A call that changes something, waiting for the user's approval (`approve`)."""

    tool: str
    arguments: dict[str, Any]


class Answer(BaseModel):
    """The guild's answer to one message."""

    text: str
    expert: str = Field(description="Who answered")
    session: str | None = Field(None, description="Pass it again to continue; `approve` needs it")
    sources: list[Source] = Field(default_factory=list)
    waiting: Waiting | None = Field(None, description="Set when the turn stopped for approval")


class Passage(BaseModel):
    """A chunk of an expert's documents that a search found."""

    source: str = Field(description="The document's path, relative to the guild file")
    label: str = Field(description="How answers cite it: document#chunk")
    heading: str
    text: str
    score: float


class Passages(BaseModel):
    passages: list[Passage]


class Member(BaseModel):
    name: str
    description: str
    has_documents: bool


class Members(BaseModel):
    experts: list[Member]


def guild_mcp_server(guild: Guild) -> "MCPServer":
    """The MCP server of `guild` (run it with `.run()`: stdio, or `.run("streamable-http")`)."""
    require("mcp", "mcp")
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult, TextContent, ToolAnnotations

    server = MCPServer(
        f"slmguild-{guild.name}",
        instructions=f"{guild.config.description or guild.name}. Ask the guild's experts with `ask`; "
        "search their documents with `search`; `experts` lists them.",
    )

    def answered(reply: Reply) -> CallToolResult:
        answer = Answer(
            text=reply.text,
            expert=reply.expert,
            session=reply.session,
            sources=[Source(**{key: source[key] for key in ("id", "chunk", "text")}) for source in reply.sources],
            waiting=Waiting(tool=reply.pending.tool, arguments=reply.pending.arguments) if reply.pending else None,
        )
        text = reply.text
        if reply.pending is not None:
            text += f"\n(To answer, call `approve` with session '{reply.session}'.)"
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content=answer.model_dump(mode="json"))

    @server.tool(annotations=ToolAnnotations(title="Ask the guild", read_only_hint=False, destructive_hint=False,
                                             open_world_hint=False))
    async def ask(message: str, expert: str | None = None,
                  session: str | None = None) -> Annotated[CallToolResult, Answer]:
        """Ask the guild: the expert who owns the topic answers from its documents and tools.

        Args:
            message: The question or request, in the user's words.
            expert: Give it to this expert instead of letting the router choose (see `experts`).
            session: A conversation to continue (any name; the same name continues it).
        """
        try:
            return answered(await guild.arun(message, expert=expert, session=session))
        except SlmguildError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(annotations=ToolAnnotations(title="Approve a waiting call", destructive_hint=True,
                                             open_world_hint=False))
    async def approve(session: str, approved: bool) -> Annotated[CallToolResult, Answer]:
        """Answer the call an `ask` stopped for: run it (approved) or not. Only with the user's yes.

        Args:
            session: The session of the answer that asked for approval.
            approved: True runs the call as shown; false refuses it.
        """
        try:
            return answered(await guild.aresume(session, approved))
        except SlmguildError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(annotations=ToolAnnotations(title="Search an expert's documents", read_only_hint=True,
                                             open_world_hint=False))
    async def search(expert: str, query: str, k: Annotated[int, Field(ge=1, le=50)] = 5) -> Passages:
        """Search one expert's documents: the passages that best match the query, best first.

        Args:
            expert: Whose documents (see `experts`).
            query: What to look for.
            k: How many passages.
        """
        if expert not in guild.config.experts:
            raise ToolError(f"the guild has no expert '{expert}' (it has: {', '.join(guild.config.experts)})")
        try:
            # Qdrant and the embedder block: the server's loop keeps serving meanwhile.
            hits = await asyncio.to_thread(guild.knowledge.search, expert, query, top_k=k)
        except SlmguildError as exc:
            raise ToolError(str(exc)) from None
        return Passages(passages=[
            Passage(source=hit.chunk.source, label=hit.chunk.label, heading=hit.chunk.heading, text=hit.chunk.text,
                    score=hit.score)
            for hit in hits
        ])

    @server.tool(annotations=ToolAnnotations(title="The guild's experts", read_only_hint=True, open_world_hint=False))
    def experts() -> Members:
        """The guild's experts: their names (for `ask` and `search`) and what each owns."""
        return Members(experts=[
            Member(name=name, description=expert.description, has_documents=bool(expert.knowledge.sources))
            for name, expert in guild.config.experts.items()
        ])

    return server
