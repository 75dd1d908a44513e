"""Fuzzing the HTTP server with users on: random and half-valid request bodies, session
ids and content types, over real HTTP. Whatever arrives, the answer is never a 5xx, and
every refusal is OpenAI's error object; memory stays flat under a flood of huge ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slmguild.server import create_app
from slmguild.server.limits import UserLimits
from slmguild.server.users import KeyStore
from tests.http_server import serving
from tests.reliability.test_fuzz import _mutated, documents
from tests.test_orchestrator import scripted_guild

CASES = 250  # per test
FUZZ = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VALID = {"model": "orchestra", "messages": [{"role": "user", "content": "please reset my vpn password"}]}
ANY_TEXT = st.text(st.characters(codec=None), max_size=60) | st.sampled_from(["\ud800", "a\udfffb", "x" * 5000])


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("server-fuzz")
    keys = KeyStore(folder / "keys.sqlite")
    guild = scripted_guild(folder, turns=4 * CASES)
    with (serving(create_app(guild, keys=keys, limits=UserLimits(None, None))) as url,
          httpx.Client(base_url=url, timeout=60) as client):
        yield client, {"Authorization": f"Bearer {keys.add('fuzzer')}"}


def resident_mib() -> float:
    """This process's resident memory (the server runs in it, in a thread)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str), error


def post(client: httpx.Client, auth: dict[str, str], content: bytes, **headers: Any) -> httpx.Response:
    return client.post("/v1/chat/completions", content=content,
                       headers={"Content-Type": "application/json", **auth, **headers})


def raw_json(data: Any) -> bytes:
    # ensure_ascii: a lone surrogate travels as its \\u escape, as a client's JSON would carry it
    return json.dumps(data, ensure_ascii=True).encode()


@FUZZ
@given(body=documents.map(raw_json) | st.binary(max_size=300))
def test_random_bodies_get_4xx_in_openai_shape(server, body):
    client, auth = server
    check(post(client, auth, body))


@FUZZ
@given(data=st.data())
def test_valid_bodies_with_one_value_changed_never_break_the_server(server, data):
    client, auth = server
    base = {**VALID, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "slmguild": {"approve": True}} if data.draw(st.booleans()) else VALID
    check(post(client, auth, raw_json(_mutated(base, data.draw)), **{"X-Session-Id": "fuzz"}))


@FUZZ
@given(session=ANY_TEXT, via_header=st.booleans(), approve=st.booleans(),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]))
def test_any_session_id_and_content_type(server, session, via_header, approve, content_type):
    client, auth = server
    body = {**VALID, **({"slmguild": {"approve": True}} if approve else {})}
    headers = {"Content-Type": content_type, **auth}
    if via_header:
        if not session or session != session.strip() or any(ord(char) < 32 or ord(char) == 127 for char in session):
            return  # no HTTP client sends these in a header (h11 refuses them)
        headers["X-Session-Id"] = session.encode("utf-8", "surrogatepass")
    else:
        body["user"] = session
    check(client.post("/v1/chat/completions", content=raw_json(body), headers=headers))


def test_a_flood_of_huge_session_ids_leaves_memory_flat(server):
    client, auth = server
    huge = {**VALID, "slmguild": {"approve": True}}

    def flood(count: int) -> None:
        for n in range(count):
            response = post(client, auth, raw_json({**huge, "user": f"{n}-" + "x" * 200_000}))
            assert response.status_code == 400

    flood(200)  # warm up: the allocator's arenas, the server's caches
    before = resident_mib()
    flood(1000)
    grown_mib = resident_mib() - before
    assert grown_mib < 16, f"the process grew {grown_mib:.1f} MiB over 1,000 requests"
