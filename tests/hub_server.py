"""A local HTTP server that serves files the way the Hugging Face hub does, for `HF_ENDPOINT`.

`huggingface_hub.hf_hub_download` asks `HEAD /{repo}/resolve/{revision}/{file}` for the
file's commit (`X-Repo-Commit`), version (`ETag`) and size (`Content-Length`), then GETs the
same URL; `HfApi.list_repo_files` GETs `/api/models/{repo}/tree/{revision}?recursive=...`.
Errors carry the hub's `X-Error-Code` header (`RepoNotFound`, `EntryNotFound`), which is
what huggingface_hub turns into its typed exceptions. No Xet headers: plain HTTP downloads.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote, urlsplit

from tests.loopback import LoopbackHandler, LoopbackServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # the one revision `main` points to
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<revision>[^/]+)$")


class HubLikeServer(LoopbackServer):
    """Serve `repos` ({"OWNER/REPO": {"file.gguf": bytes}}) at revision `main` on a free port."""

    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos
        self.requests: list[tuple[str, str]] = []  # (method, path without the query), as received
        super().__init__(_handler_for(self))


def _handler_for(server: HubLikeServer) -> type[LoopbackHandler]:
    class Handler(LoopbackHandler):
        def do_HEAD(self) -> None:
            self._resolve(with_body=False)

        def do_GET(self) -> None:
            if _TREE.match(urlsplit(self.path).path):
                self._tree()
            else:
                self._resolve(with_body=True)

        def _resolve(self, *, with_body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            server.requests.append((self.command, path))
            match = _RESOLVE.match(path)
            files = server.repos.get(match["repo"]) if match else None
            if match is None or files is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            if match["revision"] not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound", "Invalid rev id: " + match["revision"])
            data = files.get(match["file"])
            if data is None:
                return self._error(404, "EntryNotFound", "Entry not found")
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if with_body:
                self.wfile.write(data)

        def _tree(self) -> None:
            path = urlsplit(self.path).path
            server.requests.append((self.command, path))
            match = _TREE.match(path)
            assert match is not None
            files = server.repos.get(match["repo"])
            if files is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            self.send_json(200, [
                {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in files.items()
            ])

        def _error(self, status: int, code: str, message: str) -> None:
            body = f'{{"error": "{message}"}}'.encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            if code == "EntryNotFound":  # the repository exists: the hub names the commit it looked in
                self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
