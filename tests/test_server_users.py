"""Users of one server, over real HTTP: each one's sessions are their own, an approval
names who gave it, a revoked key is refused, limits answer 429, and a Host that is not
the server's (DNS rebinding) is refused. Scripted models, real tools, a real SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from slmguild.server import create_app
from slmguild.server.limits import UserLimits
from slmguild.server.users import KeyStore
from tests.http_server import serving
from tests.test_approval import REQUEST, guild_file, ran, repairs, responder, scripted  # noqa: F401 (fixtures)

MODEL = "desk/it"


@pytest.fixture
def keys(tmp_path) -> KeyStore:
    return KeyStore(tmp_path / "keys.sqlite")


@pytest.fixture
def people(keys) -> dict[str, str]:
    """Each user's key: two users and an admin."""
    return {"alice": keys.add("alice"), "bob": keys.add("bob"), "root": keys.add("root", admin=True)}


@pytest.fixture
def guild(guild_file):  # noqa: F811
    return scripted(guild_file, *[responder] * 60)


@pytest.fixture
def server(guild, keys, people) -> Iterator[str]:
    with serving(create_app(guild, keys=keys)) as url:
        yield url


def call(url: str, key: str, method: str, path: str, session: str | None = None, **options) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", **({"X-Session-Id": session} if session else {}),
               **options.pop("headers", {})}
    return httpx.request(method, f"{url}{path}", headers=headers, timeout=60, **options)


def ask(url: str, key: str, message: str, session: str | None = None) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": message}]}
    return call(url, key, "POST", "/v1/chat/completions", session, json=body)


def approve(url: str, key: str, session: str, answer=True) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "-"}], "slmguild": {"approve": answer}}
    return call(url, key, "POST", "/v1/chat/completions", session, json=body)


def test_a_user_cannot_list_read_resume_approve_or_delete_anothers_session(
        server, guild, people, repairs):  # noqa: F811
    alice, bob, root = people["alice"], people["bob"], people["root"]
    paused = ask(server, alice, REQUEST, "desk-1").json()
    assert paused["slmguild"]["pending"]["tool"] == "order_repair"
    assert ask(server, alice, "My laptop is slow, what can I do?", "notes").status_code == 200

    assert call(server, bob, "GET", "/api/sessions").json() == {"sessions": []}
    assert call(server, bob, "GET", "/api/sessions/notes").status_code == 404
    assert call(server, bob, "GET", "/api/sessions/notes", params={"owner": "alice"}).status_code == 404
    refused = approve(server, bob, "desk-1")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "no_pending_call"
    assert call(server, bob, "DELETE", "/api/sessions/notes").status_code == 404
    assert call(server, bob, "DELETE", "/api/sessions/notes", params={"owner": "alice"}).status_code == 404
    assert ran(repairs) == []

    # Bob's "notes" is his own session: it does not continue Alice's conversation.
    asked = len(guild.expert("it").model.requests)
    assert ask(server, bob, "Where is the printer?", "notes").status_code == 200
    seen = [m.text for request in guild.expert("it").model.requests[asked:] for m in request["messages"]]
    assert not any("laptop is slow" in text for text in seen)

    done = approve(server, alice, "desk-1").json()
    assert len(ran(repairs)) == 1
    (call_trace,) = done["slmguild"]["trace"]["tools"]
    assert (call_trace["approval"], call_trace["approval_by"]) == ("approved", "alice")
    assert call_trace["approval_at"].startswith("20")
    saved = call(server, alice, "GET", "/api/sessions/desk-1").json()["turns"][0]["trace"]["tools"][0]
    assert saved["approval_by"] == "alice"

    mine = {s["id"]: s["turns"] for s in call(server, alice, "GET", "/api/sessions").json()["sessions"]}
    assert mine == {"desk-1": 1, "notes": 1}
    assert call(server, root, "GET", "/api/sessions").json() == {"sessions": []}  # the admin's own
    listed = call(server, root, "GET", "/api/sessions", params={"all": "true"}).json()["sessions"]
    assert {(s["owner"], s["id"]) for s in listed} == {("alice", "desk-1"), ("alice", "notes"), ("bob", "notes")}
    assert call(server, bob, "GET", "/api/sessions", params={"all": "true"}).status_code == 404
    read = call(server, root, "GET", "/api/sessions/notes", params={"owner": "alice"}).json()
    assert read["turns"][0]["message"] == "My laptop is slow, what can I do?"
    assert call(server, root, "DELETE", "/api/sessions/notes", params={"owner": "bob"}).status_code == 204
    assert call(server, alice, "GET", "/api/sessions/notes").status_code == 200  # only Bob's went


def test_a_generated_session_is_its_starters_too(server, people, repairs):  # noqa: F811
    paused = ask(server, people["alice"], REQUEST).json()
    generated = paused["slmguild"]["session"]
    assert generated.startswith("turn-") and paused["slmguild"]["pending"] is not None
    assert approve(server, people["bob"], generated).status_code == 400 and ran(repairs) == []
    assert approve(server, people["alice"], generated).status_code == 200 and len(ran(repairs)) == 1


def test_a_revoked_key_is_refused_at_once(server, keys, people):
    assert call(server, people["bob"], "GET", "/v1/models").status_code == 200
    keys.revoke("bob")
    refused = call(server, people["bob"], "GET", "/v1/models")
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert call(server, "slm_0000_guess", "GET", "/v1/models").status_code == 401
    assert httpx.get(f"{server}/api/sessions").status_code == 401  # no key at all
    for open_route in ("/", "/healthz", "/static/app.js"):
        assert httpx.get(f"{server}{open_route}").status_code == 200
    for closed in ("/openapi.json", "/api/schema/trace", "/metrics", "/api/experts"):
        assert httpx.get(f"{server}{closed}").status_code == 401, closed
    assert httpx.get(f"{server}/docs").status_code == 404


def test_past_the_rate_a_user_gets_429_with_retry_after_and_others_do_not(guild, keys, people):
    with serving(create_app(guild, keys=keys, limits=UserLimits("3/minute"))) as url:
        answers = [call(url, people["alice"], "GET", "/v1/models").status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        limited = call(url, people["alice"], "GET", "/api/experts")
        assert limited.json()["error"]["type"] == "rate_limit_exceeded" and int(limited.headers["Retry-After"]) > 0
        assert call(url, people["bob"], "GET", "/v1/models").status_code == 200


def test_beyond_its_turns_at_once_a_user_gets_429_until_one_ends(guild_file, keys, people):  # noqa: F811
    release = threading.Event()
    held = "Where is the printer? (the turn that is held)"

    def gated(messages, options):  # whichever request takes this reply, only the held turn waits
        if any(held in m.text for m in messages):
            release.wait(30)
        return responder(messages, options)

    guild = scripted(guild_file, *[gated] * 12)
    with serving(create_app(guild, keys=keys, limits=UserLimits(None, concurrent_turns=1))) as url:
        body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": held}]}
        headers = {"Authorization": f"Bearer {people['alice']}"}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60) as running:
            assert running.status_code == 200
            busy = ask(url, people["alice"], "Where is the printer?")
            assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
            assert ask(url, people["bob"], "Where is the printer?").status_code == 200  # his own slot
            release.set()
            running.read()
        assert ask(url, people["alice"], "Where is the printer?").status_code == 200  # the stream's slot is free


def test_a_host_that_is_not_the_servers_is_refused(server, people):
    """DNS rebinding: a page on attacker.example whose name now points at 127.0.0.1."""
    rebound = call(server, people["alice"], "GET", "/api/sessions", headers={"Host": "rebind.attacker.example"})
    assert rebound.status_code == 400
    assert call(server, people["alice"], "GET", "/api/sessions", headers={"Host": "localhost:8000"}).status_code == 200


def test_the_page_and_api_carry_security_headers(server):
    page = httpx.get(server)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"
    assert httpx.get(f"{server}/healthz").headers["X-Content-Type-Options"] == "nosniff"


def test_a_proxy_names_the_user_when_trusted_to(guild, repairs):  # noqa: F811
    with serving(create_app(guild, user_header="X-Forwarded-User")) as url:
        def as_user(name: str | None, session: str) -> httpx.Response:
            headers = {"X-Session-Id": session, **({"X-Forwarded-User": name} if name else {})}
            return httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=60,
                              json={"model": MODEL, "messages": [{"role": "user", "content": "Where is the printer?"}]})

        assert as_user("carol", "a").status_code == 200
        assert as_user(None, "a").status_code == 401
        listed = httpx.get(f"{url}/api/sessions", headers={"X-Forwarded-User": "dave"}).json()
        assert listed == {"sessions": []}
