"""Path traversal: a guild file whose knowledge source climbs out of the knowledge roots,
a document that links out of them, and a model (obeying an injection) that passes
`../`, absolute and linked paths to a tool that reads files. Each is refused before any
file outside is read.
"""

# No `from __future__ import annotations`: the tool's argument type names a local folder,
# and pydantic reads the hints of the function when the tool is made.
import asyncio
from pathlib import Path
from typing import Annotated

import pytest

import slmguild
from slmguild.config import load_config
from slmguild.errors import ConfigError, KnowledgeError
from slmguild.knowledge import KnowledgeBase
from slmguild.testing import FakeEmbedder
from slmguild.tools import ToolExecutor, inside

SECRET = "root:x:0:0 the secret outside"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """guild/ (the guild, its docs and notes) beside secret.txt, which nothing may read."""
    (tmp_path / "secret.txt").write_text(SECRET)
    guild = tmp_path / "guild"
    for folder in ("docs", "notes"):
        (guild / folder).mkdir(parents=True)
    (guild / "docs" / "vpn.md").write_text("# VPN\n\nReset it in the portal.\n")
    (guild / "notes" / "vpn.md").write_text("Ask Sam about the VPN.")
    (guild / "notes" / "escape.md").symlink_to(tmp_path / "secret.txt")
    return guild


def write_guild(folder: Path, sources: str) -> Path:
    path = folder / "guild.yaml"
    path.write_text(f"name: paths\nexperts:\n  it:\n    description: IT\n    system_prompt: You are IT.\n"
                    f"    knowledge: {{sources: {sources}}}\n")
    return path


@pytest.mark.parametrize("source", ["../", "../secret.txt", "docs/../../secret.txt"])
def test_a_knowledge_source_that_climbs_out_of_the_roots_is_refused(layout, source):
    with pytest.raises(ConfigError, match=r"guild.yaml:\d+: experts.it.knowledge.sources.0: .* is outside"):
        load_config(write_guild(layout, f"[{source}]"))


def test_a_document_linking_out_of_the_roots_is_refused_at_ingest(layout):
    (layout / "docs" / "escape.md").symlink_to(layout.parent / "secret.txt")
    base = KnowledgeBase(load_config(write_guild(layout, "[docs]")), embedder=FakeEmbedder())
    with pytest.raises(KnowledgeError, match="escape.md is outside the knowledge roots"):
        base.ingest()


def test_tool_path_arguments_cannot_leave_their_folder(layout):
    opened: list[Path] = []

    @slmguild.tool
    def read_note(name: Annotated[Path, inside(layout / "notes")]) -> str:
        """A note of the IT team.

        Args:
            name: The note's file name, like vpn.md.
        """
        opened.append(name)
        return name.read_text()

    executor = ToolExecutor({"read_note": read_note}, ["read_note"])
    hostile = ["../../secret.txt", str(layout.parent / "secret.txt"), "escape.md", "vpn.md/../../../secret.txt"]
    for name in hostile:
        observation = asyncio.run(executor.execute("read_note", {"name": name}))
        assert observation.status == "invalid", (name, observation)
        assert "outside the folder this tool may read" in observation.content
        assert SECRET not in observation.content
    assert opened == []  # the tool never ran

    fine = asyncio.run(executor.execute("read_note", {"name": "vpn.md"}))
    assert (fine.status, fine.content) == ("ok", "Ask Sam about the VPN.")
    assert opened == [(layout / "notes" / "vpn.md").resolve()]
