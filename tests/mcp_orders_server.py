"""A tiny MCP server over stdio for tests/test_mcp.py: an order desk with one read-only
tool and one that changes something. Each call that runs appends a line to $ORDERS_LOG,
so a test sees what really ran on the server side.

    python tests/mcp_orders_server.py              # speaks MCP on stdin/stdout
    python tests/mcp_orders_server.py --http PORT  # streamable HTTP at http://127.0.0.1:PORT/mcp
"""

from __future__ import annotations

import json
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("orders")
ORDERS = {"SO-1": "shipped", "SO-2": "packing"}


def _ran(name: str, **arguments: object) -> None:
    if log := os.environ.get("ORDERS_LOG"):
        with open(log, "a", encoding="utf-8") as stream:
            stream.write(json.dumps([name, arguments]) + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def order_status(order_id: str) -> dict[str, str]:
    """The delivery status of a customer order.

    Args:
        order_id: The order's id, like SO-1.
    """
    _ran("order_status", order_id=order_id)
    if order_id not in ORDERS:
        raise ToolError(f"no order {order_id}")  # its message reaches the client
    return {"order_id": order_id, "status": ORDERS[order_id]}


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def cancel_order(order_id: str, reason: str) -> str:
    """Cancel a customer order.

    Args:
        order_id: The order's id, like SO-1.
        reason: Why the customer cancels, in a few words.
    """
    _ran("cancel_order", order_id=order_id, reason=reason)
    ORDERS[order_id] = "cancelled"
    return f"order {order_id} cancelled"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
