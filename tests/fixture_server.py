"""A loopback HTTP server that stands in for the internet in tests: plain files (with ETag revalidation and
scripted sequences, e.g. a broken file then a good one), the part of the Hugging Face Hub huggingface_hub calls
to download a file, and civitai's model API and download redirect."""

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)


@dataclass
class HubRepo:
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # revision -> path -> content
    commits: dict[str, str] = field(default_factory=dict)  # branch or commit -> commit
    token: str | None = None  # gated: only this token gets in


@dataclass
class Recorded:
    method: str
    path: str  # with the query
    headers: dict


class FixtureServer:
    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        self.hub: dict[str, HubRepo] = {}
        self.civitai_models: dict[str, dict] = {}
        self.civitai_files: dict[str, dict[str, bytes]] = {}  # version -> file name -> content
        self.civitai_token: str | None = None
        self.requests: list[Recorded] = []
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self._answer(send_body=True)

            def do_HEAD(self):
                self._answer(send_body=False)

            def _answer(self, send_body: bool):
                fixture.requests.append(Recorded(self.command, self.path, dict(self.headers)))
                reply = fixture.route(self.command, self.path, self.headers)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FixtureServer":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- plain files -----------------------------------------------------------------------------------------

    def serve(self, path: str, *replies: Reply | bytes) -> str:
        """Answer GET `path` with each reply in turn, the last one from then on. Returns the URL."""
        self.routes[path] = [r if isinstance(r, Reply) else Reply(body=r) for r in replies]
        return self.url + path

    # ---- Hugging Face Hub ------------------------------------------------------------------------------------

    def add_hf_file(self, repo: str, path: str, content: bytes, revision: str = "main") -> str:
        """Put a file in `repo` at `revision` (a branch gets a new commit each time). Returns the commit."""
        hub = self.hub.setdefault(repo, HubRepo())
        commit = hashlib.sha1(f"{repo}{revision}{path}{len(hub.commits)}".encode()).hexdigest()
        previous = hub.files.get(hub.commits.get(revision, ""), {})
        hub.files[commit] = {**previous, path: content}
        hub.commits[revision] = hub.commits[commit] = commit
        return commit

    def gate_hf_repo(self, repo: str, token: str) -> None:
        self.hub[repo].token = token

    def _hub(self, method: str, parts: list[str], headers) -> Reply | None:
        if len(parts) >= 5 and parts[:2] == ["api", "models"] and parts[4] == "tree":
            repo, revision = "/".join(parts[2:4]), unquote(parts[5]) if len(parts) > 5 else "main"
            found = self._hub_revision(repo, revision, headers)
            if isinstance(found, Reply):
                return found
            listing = [{"type": "file", "path": p, "size": len(c), "oid": _sha(c)} for p, c in found.items()]
            return Reply(body=json.dumps(listing).encode(), headers={"Content-Type": "application/json"})
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, revision, path = "/".join(parts[:2]), unquote(parts[3]), "/".join(parts[4:])
            found = self._hub_revision(repo, revision, headers)
            if isinstance(found, Reply):
                return found
            if path not in found:
                return Reply(404, b"Entry not found", {"X-Error-Code": "EntryNotFound"})
            content = found[path]
            commit = self.hub[repo].commits[revision]
            return Reply(body=content, headers={"X-Repo-Commit": commit, "ETag": f'"{_sha(content)}"',
                                                "Content-Type": "application/octet-stream"})
        return None

    def _hub_revision(self, repo: str, revision: str, headers) -> dict[str, bytes] | Reply:
        hub = self.hub.get(repo)
        if hub is None:
            return Reply(401, b"Repository not found", {"X-Error-Code": "RepoNotFound"})
        if hub.token and headers.get("Authorization") != f"Bearer {hub.token}":
            return Reply(403, b"Access to this repo is restricted", {"X-Error-Code": "GatedRepo"})
        if revision not in hub.commits:
            return Reply(404, b"Revision not found", {"X-Error-Code": "RevisionNotFound"})
        return hub.files[hub.commits[revision]]

    # ---- civitai ---------------------------------------------------------------------------------------------

    def add_civitai_model(self, model_id: int, versions: dict[int, dict[str, bytes]], kind: str = "LORA",
                          primary: str | None = None) -> None:
        """`versions`: version id -> file name -> content, newest first, as civitai lists them."""
        model_versions = []
        for version, files in versions.items():
            self.civitai_files[str(version)] = files
            entries = [{
                "name": name, "type": "Model", "primary": name == (primary or next(iter(files))),
                "sizeKB": len(content) / 1024,
                "metadata": {"format": "SafeTensor" if name.endswith(".safetensors") else "PickleTensor"},
                "downloadUrl": f"https://civitai.com/api/download/models/{version}",
            } for name, content in files.items()]
            model_versions.append({"id": version, "name": f"v{version}", "files": entries})
        self.civitai_models[str(model_id)] = {"id": model_id, "type": kind, "modelVersions": model_versions}

    def _civitai(self, parts: list[str], query: dict, headers) -> Reply | None:
        if len(parts) == 4 and parts[:3] == ["api", "v1", "models"]:
            model = self.civitai_models.get(parts[3])
            if model is None:
                return Reply(404, b'{"error":"No model with id"}', {"Content-Type": "application/json"})
            return Reply(body=json.dumps(model).encode(), headers={"Content-Type": "application/json"})
        if len(parts) == 4 and parts[:3] == ["api", "download", "models"]:
            files = self.civitai_files.get(parts[3])
            if files is None:
                return Reply(404, b'{"error":"Model not found"}')
            if self.civitai_token and headers.get("Authorization") != f"Bearer {self.civitai_token}":
                return Reply(401, b'{"error":"Unauthorized"}')
            wanted = query.get("format", [None])[0]
            names = [n for n in files if wanted != "SafeTensor" or n.endswith(".safetensors")]
            # civitai answers with a redirect to signed storage on another host; the path stands in for it
            return Reply(307, headers={"Location": f"{self.url}/storage/{parts[3]}/{quote(names[0])}?sig=x"})
        if len(parts) == 3 and parts[0] == "storage":
            return Reply(body=self.civitai_files[parts[1]][unquote(parts[2])])
        return None

    # ---- dispatch --------------------------------------------------------------------------------------------

    def route(self, method: str, target: str, headers) -> Reply:
        url = urlsplit(target)
        parts = [p for p in url.path.split("/") if p]
        replies = self.routes.get(url.path)
        if replies:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
            etag = f'"{_sha(reply.body)}"'
            if reply.status == 200 and headers.get("If-None-Match") == etag:
                return Reply(304, headers={"ETag": etag})
            return Reply(reply.status, reply.body, {"ETag": etag, **reply.headers})
        answer = self._civitai(parts, parse_qs(url.query), headers) or self._hub(method, parts, headers)
        return answer or Reply(404, b"not found")


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
