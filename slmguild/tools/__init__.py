"""Tools for experts: defined from type hints and docstrings, called under a JSON schema,
run by an executor that enforces each expert's allowlist, validates arguments, bounds
time and turns every failure into an observation the model can read.
"""

from slmguild.tools.definition import tool
from slmguild.tools.demonstrations import Demonstration, Demonstrations, Selection
from slmguild.tools.executor import Observation, ToolExecutor
from slmguild.tools.paths import inside
from slmguild.tools.registry import ToolRegistry
from slmguild.tools.steps import AnswerStep, StepParser, ToolStep

__all__ = [
    "AnswerStep",
    "Demonstration",
    "Demonstrations",
    "Observation",
    "Selection",
    "StepParser",
    "ToolExecutor",
    "ToolRegistry",
    "ToolStep",
    "inside",
    "tool",
]
