"""The example guild's graph for LangGraph's own tooling.

`langgraph dev --config examples/acme/langgraph.json` serves it (LangGraph Studio on top):
a run's input is `{"request": {"message": "..."}}`, and the state holds the conversation's
`messages` and each turn's trace. The server brings its own persistence for sessions.
"""

from pathlib import Path

from slmguild import load_guild

guild = load_guild(Path(__file__).with_name("guild.yaml"))
graph = guild.graph()
