"""What the server's checks cost per request: the same requests to an app with users
on (a key looked up in the key store, the rate and turn limits, the Host check, the
security headers, a chat body's validation) and to one with all of them off, side by
side in one run, in-process (httpx's ASGI transport: no sockets, so the checks are
what differs).

    python benchmarks/server_checks.py [--requests 2000]

Two requests are measured: `GET /v1/models` (authentication and limits only) and a chat
approval that nothing waits for (all of the above, the body's validation, the session
id's check, the store's lookup; answered 400 with no model involved).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from model_free import model_free_guild

from slmguild.server import create_app
from slmguild.server.limits import UserLimits
from slmguild.server.users import KeyStore

APPROVAL = {"model": "acme-helpdesk", "user": "checks-1", "slmguild": {"approve": True},
            "messages": [{"role": "user", "content": "Please open a ticket: my laptop screen is cracked."}]}


async def _timings(app, headers: dict[str, str], requests: int) -> dict[str, list[float]]:
    transport = httpx.ASGITransport(app=app)
    times: dict[str, list[float]] = {"GET /v1/models": [], "POST approval, nothing waits": []}
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=headers) as client:
        for _ in range(requests):
            started = time.perf_counter()
            assert (await client.get("/v1/models")).status_code == 200
            times["GET /v1/models"].append(time.perf_counter() - started)
            started = time.perf_counter()
            assert (await client.post("/v1/chat/completions", json=APPROVAL)).status_code == 400
            times["POST approval, nothing waits"].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="server-checks-"))
    guild = model_free_guild(folder / "sessions.sqlite", replies=0)
    keys = KeyStore(folder / "keys.sqlite")
    key = keys.add("alice")
    for n in range(100):  # a team's store, not a store of one
        keys.add(f"user{n:03d}")
    checked = create_app(guild, keys=keys, limits=UserLimits("1000000/minute", 8))
    open_app = create_app(guild, trusted_hosts=["*"], limits=UserLimits(None, None))
    rounds = {"users on": [], "all off": []}
    for _ in range(5):  # interleaved: the machine's noise falls on both alike
        rounds["users on"].append(asyncio.run(_timings(checked, {"Authorization": f"Bearer {key}"},
                                                       args.requests // 5)))
        rounds["all off"].append(asyncio.run(_timings(open_app, {}, args.requests // 5)))

    print(f"{args.requests} requests of each kind per app, interleaved in 5 rounds\n")
    print("| request | all off p50 | users on p50 | checks' cost |")
    print("|---|---|---|---|")
    for request in rounds["users on"][0]:
        p50 = {name: statistics.median(t for r in runs for t in r[request]) * 1000 for name, runs in rounds.items()}
        print(f"| {request} | {p50['all off']:.2f} ms | {p50['users on']:.2f} ms | "
              f"{p50['users on'] - p50['all off']:+.2f} ms |")


if __name__ == "__main__":
    main()
