"""`with_structured_output(schema, method="json_schema")` for chat models that take an
OpenAI-style `response_format` (the embedded engine, test doubles).

The same call on `ChatOpenAI` and `ChatOllama` is their own; this gives ours the same
contract: a parsed pydantic object for a model class, a dict for a JSON schema, and
with `include_raw=True` a dict of `raw`, `parsed` and `parsing_error`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel


class JsonSchemaOutput:
    """Mixin for a `BaseChatModel` whose requests accept `response_format`."""

    def with_structured_output(
        self, schema: dict[str, Any] | type[BaseModel], *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable:
        """Output decoded under `schema`; `method` is accepted and always `json_schema`."""
        assert isinstance(self, BaseChatModel)
        if isinstance(schema, dict):
            json_schema, parser = schema, JsonOutputParser()
        else:
            json_schema = schema.model_json_schema()
            parser = PydanticOutputParser(pydantic_object=schema)
        bound = self.bind(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "output"), "schema": json_schema},
            }
        )
        if not include_raw:
            return bound | parser

        def parse_keeping_raw(raw: AIMessage) -> dict[str, Any]:
            try:
                return {"raw": raw, "parsed": parser.invoke(raw), "parsing_error": None}
            except OutputParserException as exc:
                return {"raw": raw, "parsed": None, "parsing_error": exc}

        return bound | RunnableLambda(parse_keeping_raw)
