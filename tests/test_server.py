"""`slmguild serve`'s HTTP API, started on a free loopback port and driven by the official
`openai` client (and httpx for what is not OpenAI's): chat streamed and not, routed and
forced to an expert, sessions, metrics, and bad input. The guild's models are scripted
(exact answers); tests/test_web_page.py and benchmarks/serve_load.py use the real one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from slmguild.server import create_app
from tests.http_server import serving
from tests.test_orchestrator import scripted_guild

QUESTION = "please reset my vpn password"


@pytest.fixture
def guild(tmp_path):
    # Generative: its answers stream token by token, which the SSE tests count (a checked answer
    # arrives whole).
    return scripted_guild(tmp_path, turns=10, answer="generative")


@pytest.fixture
def server(guild) -> Iterator[str]:
    with serving(create_app(guild)) as url:
        yield url


def client(url: str, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=options.pop("api_key", "unused"), max_retries=0, **options)


def test_chat_routed_and_forced_streamed_and_not(server):
    chat = client(server).chat.completions
    routed = chat.create(model="orchestra", messages=[{"role": "user", "content": QUESTION}])
    assert routed.choices[0].message.content == f"it answers: {QUESTION}"
    outcome = routed.model_extra["slmguild"]
    assert outcome["expert"] == "it" and not outcome["escalated"] and outcome["session"] is None
    assert outcome["sources"] == []  # a free answer rests on no passage (grounded ones: tests/test_grounded.py)
    assert outcome["trace"]["route"]["scores"]["it"] > outcome["trace"]["route"]["scores"]["hr"]
    assert routed.usage is not None

    forced = chat.create(model="orchestra/hr", messages=[{"role": "user", "content": QUESTION}])
    assert forced.choices[0].message.content == f"hr answers: {QUESTION}"
    assert forced.model_extra["slmguild"]["trace"]["route"]["reason"].startswith("forced")

    chunks = list(chat.create(model="orchestra", messages=[{"role": "user", "content": QUESTION}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == f"it answers: {QUESTION}" and sum(1 for c in chunks if c.choices) > 2
    progress = [c.model_extra["slmguild"]["event"] for c in chunks if c.model_extra.get("slmguild")]
    assert progress[0] == "routed" and progress[-1] == "done"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["slmguild"]["expert"] == "it"


def test_a_session_id_carries_the_conversation_across_requests(server, guild):
    chat = client(server).chat.completions
    for question in (QUESTION, "and the vpn does not connect"):
        chat.create(model="orchestra", messages=[{"role": "user", "content": question}],
                    extra_headers={"X-Session-Id": "alice"})
    seen = guild.expert("it").model.requests[-1]["messages"]
    assert [m.text for m in seen[-3:]] == [QUESTION, f"it answers: {QUESTION}", "and the vpn does not connect"]

    chat.create(model="orchestra", messages=[{"role": "user", "content": QUESTION}], user="bob")  # `user` works too
    listed = httpx.get(f"{server}/api/sessions").json()["sessions"]
    assert {s["id"]: s["turns"] for s in listed} == {"alice": 2, "bob": 1}
    alice = httpx.get(f"{server}/api/sessions/alice").json()
    assert [t["message"] for t in alice["turns"]] == [QUESTION, "and the vpn does not connect"]
    assert alice["turns"][0]["expert"] == "it" and alice["turns"][0]["trace"]["route"]["expert"] == "it"

    assert httpx.delete(f"{server}/api/sessions/alice").status_code == 204
    assert httpx.get(f"{server}/api/sessions/alice").status_code == 404


def test_without_a_session_the_request_brings_its_own_history(server, guild):
    client(server).chat.completions.create(model="orchestra", messages=[
        {"role": "system", "content": "ignored: the expert has its own"},
        {"role": "user", "content": "my vpn is slow"}, {"role": "assistant", "content": "Restart it."},
        {"role": "user", "content": QUESTION},
    ])
    seen = guild.expert("it").model.requests[-1]["messages"]
    assert [m.text for m in seen[-3:]] == ["my vpn is slow", "Restart it.", QUESTION]
    assert httpx.get(f"{server}/api/sessions").json() == {"sessions": []}  # nothing saved


def test_models_experts_health_and_metrics(server):
    assert [m.id for m in client(server).models.list()] == ["orchestra", "orchestra/it", "orchestra/hr",
                                                            "orchestra/finance"]
    experts = httpx.get(f"{server}/api/experts").json()
    assert experts["guild"] == "orchestra" and [e["name"] for e in experts["experts"]] == ["it", "hr", "finance"]
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok", "guild": "orchestra"}

    chat = client(server).chat.completions
    chat.create(model="orchestra", messages=[{"role": "user", "content": QUESTION}])
    list(chat.create(model="orchestra/hr", messages=[{"role": "user", "content": QUESTION}], stream=True))
    metrics = httpx.get(f"{server}/metrics").text
    assert 'slmguild_turns_total{expert="it"} 1.0' in metrics
    assert 'slmguild_turns_total{expert="hr"} 1.0' in metrics
    assert 'slmguild_turns_answered_total{where="local"} 2.0' in metrics
    assert 'slmguild_requests_total{method="POST",route="/v1/chat/completions",status="200"} 2.0' in metrics
    assert 'slmguild_request_seconds_count{route="/v1/chat/completions"} 2.0' in metrics
    assert "slmguild_turn_seconds_count 2.0" in metrics

    for n in range(20):  # made-up methods and paths add no series of their own
        httpx.request(f"FAKE{n}", f"{server}/made-up/{n}")
    metrics = httpx.get(f"{server}/metrics").text
    assert 'slmguild_requests_total{method="other",route="unmatched",status="404"} 20.0' in metrics
    assert "FAKE" not in metrics and "made-up" not in metrics


def test_bad_requests_get_openai_style_errors(server):
    def post(content: bytes, **headers: str) -> httpx.Response:
        return httpx.post(f"{server}/v1/chat/completions", content=content,
                          headers={"Content-Type": "application/json", **headers})

    malformed = post(b'{"model": "orchestra", "messages": [')
    assert malformed.status_code == 400 and malformed.json()["error"]["type"] == "invalid_request_error"
    missing = post(json.dumps({"model": "orchestra"}).encode())
    assert missing.status_code == 400 and "messages" in missing.json()["error"]["message"]
    oversize = post(json.dumps({"model": "orchestra", "messages": [{"role": "user", "content": "x" * (2 << 20)}]})
                    .encode())
    assert oversize.status_code == 413 and "larger than" in oversize.json()["error"]["message"]
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client(server).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.NotFoundError):
        client(server).chat.completions.create(model="orchestra/legal", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="last message must be the user's"):
        client(server).chat.completions.create(model="orchestra", messages=[{"role": "assistant", "content": "hi"}])


def test_an_api_key_when_required(guild):
    with serving(create_app(guild, api_key="s3cret-key")) as url:
        with pytest.raises(openai.AuthenticationError):
            client(url, api_key="wrong").models.list()
        assert httpx.get(f"{url}/v1/models").status_code == 401  # no key at all
        assert httpx.get(f"{url}/api/sessions").json()["error"]["type"] == "authentication_error"
        assert next(m.id for m in client(url, api_key="s3cret-key").models.list()) == "orchestra"
        assert httpx.get(f"{url}/healthz").status_code == 200  # the probe and the page need no key
        assert httpx.get(f"{url}/").status_code == 200


def test_a_client_leaving_mid_stream_breaks_neither_the_session_nor_the_server(server, guild):
    def slow_reply(messages, options):
        time.sleep(0.5)  # the client is gone before the answer starts
        return f"it answers: {messages[-1].text}"

    guild.expert("it").model.replies[:1] = [slow_reply]
    body = {"model": "orchestra", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, headers={"X-Session-Id": "carol"}) as r:
        first = next(r.iter_lines())
        assert json.loads(first.removeprefix("data: "))["slmguild"]["event"] == "routed"
    # The abandoned turn finishes on the server and is saved; the session goes on.
    reply = client(server).chat.completions.create(model="orchestra", messages=[
        {"role": "user", "content": "and the vpn does not connect"}], extra_headers={"X-Session-Id": "carol"})
    assert reply.choices[0].message.content == "it answers: and the vpn does not connect"
    turns = httpx.get(f"{server}/api/sessions/carol").json()["turns"]
    assert [t["message"] for t in turns] == [QUESTION, "and the vpn does not connect"]
    assert httpx.get(f"{server}/healthz").status_code == 200


MALFORMED = {  # what a probe of the server found answered with 500, or wrongly
    "a text part's text is a number": {"messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]},
    "a text part's text is null": {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
    "a text part's text is a list": {"messages": [{"role": "user", "content": [{"type": "text", "text": ["a"]}]}]},
    "a lone surrogate in the content": {"messages": [{"role": "user", "content": "vpn \ud800"}]},
    "a lone surrogate in the user": {"messages": [{"role": "user", "content": QUESTION}], "user": "a\udc00"},
    "approve is a string": {"messages": [{"role": "user", "content": "-"}], "slmguild": {"approve": "yes"},
                            "user": "s"},
    "a session id with a slash": {"messages": [{"role": "user", "content": QUESTION}], "user": "a/b"},
    "a session id of 10,000 characters": {"messages": [{"role": "user", "content": QUESTION}], "user": "x" * 10_000},
    "approving when nothing waits": {"messages": [{"role": "user", "content": "-"}], "slmguild": {"approve": True},
                                     "user": "nobody-waits"},
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_are_4xx_in_openai_shape_and_leave_nothing(server, body):
    raw = json.dumps({"model": "orchestra", **body}).encode()  # ensure_ascii: a surrogate goes as its escape
    answer = httpx.post(f"{server}/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{server}/api/sessions").json() == {"sessions": []}


def test_approving_when_nothing_waits_is_the_clients_mistake_not_retried(server):
    with pytest.raises(openai.BadRequestError, match="no call waiting") as refused:
        client(server).chat.completions.create(model="orchestra", messages=[{"role": "user", "content": "-"}],
                                               user="idle", extra_body={"slmguild": {"approve": True}})
    assert refused.value.code == "no_pending_call"


def test_a_body_that_is_not_json_gets_415(server):
    answer = httpx.post(f"{server}/v1/chat/completions", content=json.dumps({"model": "orchestra", "messages": [
        {"role": "user", "content": QUESTION}]}), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415 and answer.json()["error"]["type"] == "invalid_request_error"


def test_a_utf8_session_id_names_the_same_session_in_the_header_and_the_body(server):
    body = {"model": "orchestra", "messages": [{"role": "user", "content": QUESTION}]}
    httpx.post(f"{server}/v1/chat/completions", json=body, headers={"X-Session-Id": "żółw-1".encode()})  # UTF-8 bytes
    client(server).chat.completions.create(**body, user="żółw-1")
    assert httpx.get(f"{server}/api/sessions").json()["sessions"][0] | {"title": ""} == {
        "id": "żółw-1", "owner": None, "title": "", "turns": 2}
