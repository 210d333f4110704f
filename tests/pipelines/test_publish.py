"""End-to-end tests of `python -m pipelines.publish` against a fake Hub on loopback.

The real huggingface_hub client runs in a subprocess with HF_ENDPOINT pointing
at an http.server on 127.0.0.1, so every request it makes (and nothing else)
is seen and checked: the repo is created as a dataset, the card validates,
every file arrives byte for byte, and the token only ever travels in the
Authorization header, never in output or uploaded files.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from pipelines import publish as publish_mod

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_ID = "webcurate-test/tiny-crawl"

_REPO = r"(?P<repo>[^/]+/[^/]+)"
ROUTES = {
    "create": ("POST", re.compile(r"^/api/repos/create$")),
    "validate_yaml": ("POST", re.compile(r"^/api/validate-yaml$")),
    "branch": ("POST", re.compile(rf"^/api/datasets/{_REPO}/branch/(?P<rev>[^/]+)$")),
    "preupload": ("POST", re.compile(rf"^/api/datasets/{_REPO}/preupload/(?P<rev>[^/]+)$")),
    "commit": ("POST", re.compile(rf"^/api/datasets/{_REPO}/commit/(?P<rev>[^/]+)$")),
}


@dataclass
class Request:
    route: str  # a ROUTES key, or "unknown"
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class FakeHub:
    """Records what the client sends and answers like the Hub would, for the endpoints it calls."""

    url: str = ""
    fail_commit: bool = False
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, route: str) -> list[Request]:
        return [r for r in self.requests if r.route == route]

    def answer(self, req: Request) -> tuple[int, dict]:
        params = ROUTES.get(req.route, ("", re.compile("")))[1].match(req.path)
        repo = params["repo"] if params and "repo" in params.groupdict() else None
        if req.route == "create":
            body = req.json()
            return 200, {"url": f"{self.url}/datasets/{body['organization']}/{body['name']}", "name": body["name"]}
        if req.route == "validate_yaml":
            return 200, {"errors": [], "warnings": []}
        if req.route == "branch":
            return 200, {}
        if req.route == "preupload":
            files = req.json()["files"]
            # "regular" for every file: contents travel base64 in the commit, no LFS/Xet transfer.
            return 200, {
                "files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files],
                "commitOid": "0" * 40,
            }
        if req.route == "commit":
            if self.fail_commit:
                # A misbehaving server that echoes the credentials: the CLI must still not show them.
                return 500, {"error": f"internal error (request had {req.headers.get('authorization')})"}
            oid = secrets.token_hex(20)
            return 200, {"success": True, "commitOid": oid, "commitUrl": f"{self.url}/datasets/{repo}/commit/{oid}"}
        return 404, {"error": f"fake hub: no route for {req.method} {req.path}"}


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _read_body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("content-length") or 0))

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            route = next((n for n, (m, rx) in ROUTES.items() if m == self.command and rx.match(path)), "unknown")
            params = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
            req = Request(route, self.command, path, params, {k.lower(): v for k, v in self.headers.items()}, self._read_body())
            with hub.lock:
                hub.requests.append(req)
            status, payload = hub.answer(req)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

    return Handler


@pytest.fixture
def hub():
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def token() -> str:
    return "hf_fake" + secrets.token_hex(16)


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    """A small but real finished dataset folder, shaped like pipelines.run output."""
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    table = pa.table({"text": ["hello web", "second doc"], "url": ["https://a.example/", "https://b.example/x"]})
    pq.write_table(table, out / "data" / "train-00000-of-00001.parquet")
    (out / "stats.json").write_text(json.dumps({"documents": 2, "kept": 2}))
    (out / "recipe.yaml").write_text("name: tiny\nfilters: [lang, quality]\n")
    (out / "errors").mkdir()
    (out / "errors" / "errors-00000.jsonl").write_text('{"url": "https://c.example/", "error": "timeout"}\n')
    card_data = DatasetCardData(
        license="odc-by",
        language=["en"],
        size_categories=["n<1K"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    )
    DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n# Tiny crawl\n\nTwo documents.\n").save(out / "README.md")
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run_cli(args: list[str], hub: FakeHub, tmp_path: Path, token: str | None) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, isolated from any real HF config or token on this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(tmp_path / "hf_home"),  # no saved `hf auth login` token
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    if token is not None:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "pipelines.publish", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("private, revision", [(False, None), (True, "release-1")])
def test_publish_end_to_end(hub, token, dataset_dir, tmp_path, private, revision):
    args = [str(dataset_dir), "--repo-id", REPO_ID, "--commit-message", "Publish tiny crawl"]
    args += ["--private"] * private + (["--revision", revision] if revision else [])
    proc = run_cli(args, hub, tmp_path, token)
    assert proc.returncode == 0, proc.stderr

    # Only the endpoints we know, in order, each with the token in the Authorization header only.
    expected = ["create"] + ["branch"] * bool(revision) + ["validate_yaml", "preupload", "commit"]
    assert [r.route for r in hub.requests] == expected, [(r.method, r.path) for r in hub.requests]
    for r in hub.requests:
        assert r.headers["authorization"] == f"Bearer {token}"
        assert token not in r.body.decode("utf-8", "replace")
        assert token not in r.path and not any(token in v for v in r.params.values())

    create = hub.of("create")[0].json()
    assert (create["organization"], create["name"], create["type"]) == ("webcurate-test", "tiny-crawl", "dataset")
    # --private asks for private; otherwise the namespace default applies (nothing forced public).
    assert create.get("visibility") == ("private" if private else None)
    rev = revision or "main"
    if revision:
        assert hub.of("branch")[0].path == f"/api/datasets/{REPO_ID}/branch/{revision}"

    validate = hub.of("validate_yaml")[0].json()
    assert validate["repoType"] == "dataset"
    assert "configs:" in validate["content"]

    local = _files(dataset_dir)
    preupload = hub.of("preupload")[0]
    assert preupload.path == f"/api/datasets/{REPO_ID}/preupload/{rev}"
    assert {f["path"]: f["size"] for f in preupload.json()["files"]} == {k: len(v) for k, v in local.items()}

    commit = hub.of("commit")[0]
    assert commit.path == f"/api/datasets/{REPO_ID}/commit/{rev}"
    assert commit.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in commit.body.decode().splitlines() if line]
    assert lines[0] == {"key": "header", "value": {"summary": "Publish tiny crawl", "description": ""}}
    assert all(line["key"] == "file" and line["value"]["encoding"] == "base64" for line in lines[1:])
    received = {line["value"]["path"]: base64.b64decode(line["value"]["content"]) for line in lines[1:]}
    assert received == local  # every file, identical bytes, in one commit
    assert all(token.encode() not in content for content in received.values())

    front_matter = received["README.md"].decode().split("---")[1]
    card = yaml.safe_load(front_matter)
    assert card["license"] == "odc-by"
    assert card["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    shard = tmp_path / "received.parquet"
    shard.write_bytes(received["data/train-00000-of-00001.parquet"])
    assert pq.read_table(shard).column("text").to_pylist() == ["hello web", "second doc"]

    out = proc.stdout + proc.stderr
    assert token not in out
    assert f"{len(local)} files" in proc.stdout
    assert f"{hub.url}/datasets/{REPO_ID}/commit/" in proc.stdout


def test_no_token_fails_before_any_request(hub, dataset_dir, tmp_path):
    proc = run_cli([str(dataset_dir), "--repo-id", REPO_ID], hub, tmp_path, token=None)
    assert proc.returncode == 2
    assert "no Hugging Face token" in proc.stderr and "HF_TOKEN" in proc.stderr and "hf auth login" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert hub.requests == []


def test_commit_500_fails_without_showing_token(hub, token, dataset_dir, tmp_path):
    hub.fail_commit = True
    proc = run_cli([str(dataset_dir), "--repo-id", REPO_ID], hub, tmp_path, token)
    assert proc.returncode == 1
    assert hub.of("commit"), [r.path for r in hub.requests]
    assert "500" in proc.stderr and REPO_ID in proc.stderr
    assert token not in proc.stdout + proc.stderr
    assert "Bearer ***" in proc.stderr  # the echoed token was scrubbed, not just absent
    assert "Traceback" not in proc.stderr


def test_dry_run_sends_nothing_and_needs_no_token(hub, dataset_dir, tmp_path):
    proc = run_cli([str(dataset_dir), "--repo-id", REPO_ID, "--dry-run"], hub, tmp_path, token=None)
    assert proc.returncode == 0, proc.stderr
    assert "data/train-00000-of-00001.parquet" in proc.stdout and "would upload 5 files" in proc.stdout
    assert hub.requests == []


# Folder problems are caught locally, before the token is even looked up, so main() runs in-process.


def test_missing_readme(dataset_dir, capsys):
    (dataset_dir / "README.md").unlink()
    assert publish_mod.main([str(dataset_dir), "--repo-id", REPO_ID]) == 2
    err = capsys.readouterr().err
    assert str(dataset_dir) in err and "README.md" in err and "python -m pipelines.run" in err


def test_missing_folder(tmp_path, capsys):
    assert publish_mod.main([str(tmp_path / "nope"), "--repo-id", REPO_ID]) == 2
    err = capsys.readouterr().err
    assert "nope is not a folder" in err and "python -m pipelines.run" in err


def test_readme_without_front_matter(dataset_dir, capsys):
    (dataset_dir / "README.md").write_text("# Tiny crawl\n")
    assert publish_mod.main([str(dataset_dir), "--repo-id", REPO_ID]) == 2
    assert "no YAML front matter" in capsys.readouterr().err


def test_no_data_files(dataset_dir, capsys):
    (dataset_dir / "data" / "train-00000-of-00001.parquet").unlink()
    assert publish_mod.main([str(dataset_dir), "--repo-id", REPO_ID]) == 2
    assert "no data files under data/" in capsys.readouterr().err


def test_card_configs_must_match_files(dataset_dir, capsys):
    (dataset_dir / "data" / "train-00000-of-00001.parquet").rename(dataset_dir / "data" / "shard.parquet")
    assert publish_mod.main([str(dataset_dir), "--repo-id", REPO_ID]) == 2
    assert "'data/train-*'" in capsys.readouterr().err


def test_links_out_of_the_folder_are_refused(dataset_dir, tmp_path, capsys):
    secret = tmp_path / "token"
    secret.write_text("hf_not_to_be_uploaded")
    (dataset_dir / "data" / "notes.txt").symlink_to(secret)
    assert publish_mod.main([str(dataset_dir), "--repo-id", REPO_ID]) == 2
    assert "point outside it: data/notes.txt" in capsys.readouterr().err


def test_repo_id_must_be_org_slash_name(dataset_dir):
    with pytest.raises(SystemExit) as exc:
        publish_mod.main([str(dataset_dir), "--repo-id", "just-a-name"])
    assert exc.value.code == 2


def test_redact():
    assert publish_mod._redact("Bearer hf_abc in header", "hf_abc") == "Bearer *** in header"
    assert publish_mod._redact("nothing", None) == "nothing"
