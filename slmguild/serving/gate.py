"""A switch for real model requests: tests must not reach a model by accident.

Every chat model that `slmguild.serving.chat_model` builds carries a `RequestGate`
callback; while `ALLOW_MODEL_REQUESTS` is False, its first request raises
`ModelRequestsBlocked` before anything is sent. Doubles (`ScriptedModel`) are not
built there, so they always answer. The pytest plugin turns the switch off for every
test that does not ask for real models (`slmguild.testing.model_requests`).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from slmguild.errors import ModelRequestsBlocked

ALLOW_MODEL_REQUESTS = True


class RequestGate(BaseCallbackHandler):
    """Refuses the request of the model it is attached to while requests are off."""

    raise_error = True  # langchain-core swallows callback errors unless asked not to

    def __init__(self, label: str) -> None:
        self.label = label

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, **kwargs: Any) -> None:
        if not ALLOW_MODEL_REQUESTS:
            raise ModelRequestsBlocked(
                f"a request to the real model {self.label} was made while model requests are "
                "blocked (as they are in tests): script the model with slmguild.testing, or allow "
                "real requests with @pytest.mark.allow_model_requests"
            )
