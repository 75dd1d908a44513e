"""Find tools by name: in the guild's toolboxes, or by a `module:function` reference."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from langchain_core.tools import BaseTool

from slmguild.errors import ConfigError
from slmguild.tools.definition import tool
from slmguild.tools.steps import ANSWER


class ToolRegistry:
    """The tools a guild knows, by name."""

    def __init__(self, tools: Iterable[BaseTool] = ()) -> None:
        self._tools: dict[str, BaseTool] = {}
        for item in tools:
            self.add(item)

    @classmethod
    def from_toolboxes(cls, toolboxes: Sequence[str]) -> ToolRegistry:
        """Every tool defined in the given Python files or importable modules."""
        registry = cls()
        for toolbox in toolboxes:
            module = _load_module(toolbox)
            for value in vars(module).values():
                if isinstance(value, BaseTool):
                    registry.add(value)
        return registry

    def add(self, item: BaseTool) -> None:
        """Register a tool under its name; a second, different tool of that name is an error."""
        if item.name == ANSWER:
            raise ConfigError(f"a tool cannot be called '{ANSWER}': that action means 'reply now'")
        existing = self._tools.get(item.name)
        if existing is not None and existing is not item:
            raise ConfigError(f"two different tools are called '{item.name}'")
        self._tools[item.name] = item

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def resolve(self, reference: str) -> BaseTool:
        """The tool a guild file names: a toolbox tool's name, or `package.module:function`."""
        if ":" in reference:
            module_name, _, attribute = reference.partition(":")
            value = getattr(_load_module(module_name), attribute, None)
            if value is None:
                raise ConfigError(f"tool '{reference}': {module_name} has no '{attribute}'")
            found = value if isinstance(value, BaseTool) else tool(value)
            self.add(found)
            return found
        try:
            return self._tools[reference]
        except KeyError:
            known = ", ".join(self.names) or "none: list toolboxes in the guild file"
            raise ConfigError(f"unknown tool '{reference}' (known tools: {known})") from None


def _load_module(reference: str) -> ModuleType:
    """Import a module by dotted name, or a `.py` file by path."""
    try:
        if reference.endswith(".py"):
            path = Path(reference)
            name = f"slmguild_toolbox_{path.stem}_{abs(hash(str(path.resolve())))}"
            if name in sys.modules:
                return sys.modules[name]
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"not a Python file: {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(reference)
    except (ImportError, OSError, SyntaxError) as exc:
        raise ConfigError(f"cannot load the toolbox {reference}: {exc}") from None
