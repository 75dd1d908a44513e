"""Path arguments that cannot leave their folder: `Annotated[Path, inside("notes")]`.

A model's arguments are untrusted (the user or a retrieved document may have written
them): a tool that opens files must refuse `../../etc/passwd`, absolute paths and
symlinks that point out of its folder. The check is a pydantic validator, so the
executor refuses such a call before the tool runs and tells the model why.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AfterValidator


def inside(folder: str | Path) -> AfterValidator:
    """A validator for a tool's path argument: relative to `folder` and resolved (links
    followed) to a path inside it, else the call is invalid.

        @slmguild.tool
        def read_note(name: Annotated[Path, inside("notes")]) -> str:
            '''A note's text.

            Args:
                name: The note's file name, like vpn.md.
            '''
            return name.read_text()

    The tool receives the resolved absolute path.
    """
    root = Path(folder).resolve()

    def check(value: str | Path) -> Path:
        path = (root / value).resolve()  # an absolute `value` replaces `root`: caught below
        if not path.is_relative_to(root):
            raise ValueError(f"{value} is outside the folder this tool may read")
        return path

    return AfterValidator(check)
