"""An in-process Hugging Face Hub for tests: the routes ``huggingface_hub`` 2.4 and ``datasets`` 5.2 really use.

The double is an ``httpx2.MockTransport`` handler (huggingface_hub 2.x talks HTTP through ``httpx2``) installed
with :func:`huggingface_hub.set_client_factory`, so every request the client makes through ``get_session()`` is
answered here and nothing touches the network. It keeps git-like state: repositories with branches and
``refs/pr/N`` refs, immutable commits (path -> blob), an LFS object store keyed by sha256.

Served routes (``{t}`` is ``models|datasets|spaces``; a model repo has no ``{t}`` prefix in file URLs):

- ``GET  /api/whoami-v2``
- ``POST /api/repos/create``                                   (409 when it exists; seeds ``.gitattributes``)
- ``GET  /api/{t}/{ns}/{name}[/revision/{rev}]``               (repo info with ``sha`` and ``siblings``)
- ``POST /api/{t}/{ns}/{name}/branch/{branch}``                (409 when it exists)
- ``GET  /api/{t}/{ns}/{name}/tree/{rev}[/{path}]``            (``recursive``, ``expand``, Link-header pagination)
- ``POST /api/{t}/{ns}/{name}/paths-info/{rev}``               (form: ``paths``, ``expand``)
- ``POST /api/validate-yaml``
- ``POST /api/{t}/{ns}/{name}/preupload/{rev}``                (the LFS decision, remote oids)
- ``POST /[{t}/]{ns}/{name}.git/info/lfs/objects/batch``       (basic transfer: an upload href per object)
- ``PUT  /lfs-upload/{oid}``                                   (the "S3" the batch points at; sha256 checked)
- ``POST /api/{t}/{ns}/{name}/commit/{rev}``                   (NDJSON: header, file, lfsFile, deletedFile,
  deletedFolder; ``create_pr=1``; ``parentCommit`` checked, 412 when stale)
- ``GET|HEAD /[{t}/]{ns}/{name}/resolve/{rev}/{path}``         (ETag, X-Repo-Commit, Range requests)

Xet: huggingface_hub uploads through ``hf_xet`` (Rust, its own HTTP stack) whenever it is installed, which no
Python transport can answer. :meth:`HubDouble.install` therefore sets ``constants.HF_HUB_DISABLE_XET`` so the
client takes the legacy LFS path (preupload -> LFS batch -> PUT -> commit), and the double never sends
``X-Xet-Hash`` headers, so downloads take the plain HTTP path too.

Auth follows the Hub: ``Authorization: Bearer <token>``; an unknown token is a 401, a write without rights a 403,
a private repo is invisible (404 RepoNotFound) without a token that can read it. Faults (429, 5xx, dropped
connections) are injected with :meth:`HubDouble.fail`.

Serving existing datasets: :meth:`HubDouble.seed` / :meth:`HubDouble.seed_folder` put a repository in place as its
owner uploaded it (any namespace, public by default, files stored with LFS by the Hub's rules), so that
``load_dataset("<owner>/<name>", ...)``, ``hf://datasets/<owner>/<name>@<commit>/<file>`` paths (``HfFileSystem``:
repo info, tree, paths-info, resolve with ranges) and ``hf_hub_download`` read it as they read the real Hub. The
routes are the ones above; :func:`use_temporary_hf_home` points every Hugging Face cache at a temporary folder.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx2

ENDPOINT = "https://huggingface.co"
LFS_UPLOAD_HOST = "https://lfs-double.invalid"
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
#: the Hub's default ``.gitattributes`` (abridged): these patterns are stored with LFS
LFS_PATTERNS = ("*.parquet", "*.arrow", "*.png", "*.jpg", "*.jpeg", "*.bin", "*.safetensors", "*.zip", "*.gz")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()
#: the Hub stores files over 10 MB (or binary files) with LFS; regular git files are capped at 10 MB
REGULAR_MAX = 10 * 1024 * 1024
DATE = "2025-01-01T00:00:00.000Z"


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class Blob:
    """A file in a commit: regular content, or an LFS pointer to the object store."""

    size: int
    sha256: str
    lfs: bool
    content: bytes | None = None  # regular files only

    @property
    def oid(self) -> str:  # the git object id: of the content, or of the pointer for LFS files
        return git_blob_sha(lfs_pointer(self.sha256, self.size)) if self.lfs else git_blob_sha(self.content or b"")


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_type: str  # model | dataset | space
    repo_id: str
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # branch or refs/pr/N -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)
    prs: int = 0

    def head(self, revision: str) -> Commit | None:
        oid = self.refs.get(revision)
        if oid is None and revision in self.commits:
            oid = revision
        return self.commits.get(oid) if oid else None

    def log(self, revision: str = "main") -> list[Commit]:
        """Commits reachable from ``revision``, newest first."""
        out, commit = [], self.head(revision)
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out


@dataclass
class Fault:
    method: str | None
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    connect_error: bool


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, **body: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


class HubDouble:
    """An in-process Hub. ``tokens`` maps a token to ``(user, role)``, role ``"read"`` or ``"write"``."""

    def __init__(self, *, user: str = "tester", token: str = "hf_double_token", page_size: int = 1000) -> None:
        self.tokens: dict[str, tuple[str, str]] = {token: (user, "write")}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_store: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request answered
        self.hosts: set[str] = set()  # every host a request was addressed to
        self.faults: list[Fault] = []
        self.page_size = page_size
        self._lock = threading.RLock()

    # --- test helpers -------------------------------------------------------------------------------------

    def install(self) -> contextlib.AbstractContextManager[HubDouble]:
        """Route all huggingface_hub traffic here (and turn Xet off) until the context ends."""
        return _installed(self)

    def client(self) -> httpx2.Client:
        from huggingface_hub.utils._http import hf_request_event_hook

        return httpx2.Client(
            transport=httpx2.MockTransport(self.handle),
            event_hooks={"request": [hf_request_event_hook]},  # keeps offline mode and request ids working
            follow_redirects=True,
            timeout=None,
        )

    def async_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle), follow_redirects=True, timeout=None)

    def fail(
        self,
        status: int = 429,
        *,
        method: str | None = None,
        path: str = ".*",
        times: int = 1,
        headers: dict[str, str] | None = None,
        connect_error: bool = False,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and the ``path`` regex with ``status`` (or a
        dropped connection)."""
        self.faults.append(Fault(method, re.compile(path), status, times, dict(headers or {}), connect_error))

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def seed(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        repo_type: str = "dataset",
        private: bool = False,
        title: str = "Upload dataset",
    ) -> Commit:
        """Commit ``files`` (path -> content) to ``repo_id`` as its owner would have (the repository is created when
        missing, in any namespace): no token and no route involved. Returns the new commit."""
        with self._lock:
            repo = self.repos.get((repo_type, repo_id))
            if repo is None:
                repo = Repo(repo_type, repo_id, private=private)
                attributes = Blob(len(GITATTRIBUTES), hashlib.sha256(GITATTRIBUTES).hexdigest(), False, GITATTRIBUTES)
                self._add_commit(repo, "main", None, "initial commit", "", {".gitattributes": attributes})
                self.repos[(repo_type, repo_id)] = repo
            head = self._head(repo, "main")
            tree = dict(head.files)
            for path, data in sorted(files.items()):
                digest = hashlib.sha256(data).hexdigest()
                if _is_lfs(path, len(data), data[:512]):
                    self.lfs_store[digest] = data
                    tree[path] = Blob(len(data), digest, True)
                else:
                    tree[path] = Blob(len(data), digest, False, data)
            return self._add_commit(repo, "main", head.oid, title, "", tree)

    def seed_folder(self, repo_id: str, folder: Path, **kwargs: Any) -> Commit:
        """:meth:`seed` with every file under ``folder`` (paths relative to it)."""
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return self.seed(repo_id, files, **kwargs)

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """Every file of ``revision`` with its content (LFS objects resolved)."""
        head = self.repo(repo_id, repo_type).head(revision)
        assert head is not None, f"no revision {revision}"
        return {path: self._content(blob) for path, blob in head.files.items()}

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    # --- transport ----------------------------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        raw = request.url.raw_path.decode("ascii").split("?", 1)[0]
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.method in (None, request.method)) and fault.path.search(raw):
                    fault.times -= 1
                    if fault.connect_error:
                        raise httpx2.ConnectError("connection refused (hub double)", request=request)
                    return _json(fault.status, {"error": f"injected {fault.status}"}, fault.headers)
            self.requests.append((request.method, raw))
            self.hosts.add(request.url.host)
            try:
                return self._route(request, raw)
            except HubError as err:
                headers = {"X-Error-Message": err.message}
                if err.code:
                    headers["X-Error-Code"] = err.code
                return _json(err.status, {"error": err.message, **err.body}, headers)

    def _route(self, request: httpx2.Request, raw: str) -> httpx2.Response:
        method = request.method
        if raw.startswith("/lfs-upload/") and method == "PUT":
            return self._lfs_put(raw.rsplit("/", 1)[1], request.read())
        if raw == "/api/whoami-v2" and method == "GET":
            return self._whoami(request)
        if raw == "/api/repos/create" and method == "POST":
            return self._create_repo(request)
        if raw == "/api/validate-yaml" and method == "POST":
            return _json(200, {"errors": [], "warnings": []})
        m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(.*))?", raw)
        if m:
            repo_type, repo_id, rest = REPO_TYPES[m[1]], m[2], m[3] or ""
            return self._api(request, repo_type, repo_id, rest)
        m = re.fullmatch(r"/(?:(datasets|spaces)/)?([^/]+/[^/]+?)\.git/info/lfs/objects/batch", raw)
        if m and method == "POST":
            return self._lfs_batch(request, REPO_TYPES[m[1]] if m[1] else "model", m[2])
        m = re.fullmatch(r"/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", raw)
        if m and method in ("GET", "HEAD"):
            repo_type = REPO_TYPES[m[1]] if m[1] else "model"
            return self._resolve(request, repo_type, m[2], unquote(m[3]), unquote(m[4]))
        raise HubError(404, f"hub double: no route for {method} {raw}")

    def _api(self, request: httpx2.Request, repo_type: str, repo_id: str, rest: str) -> httpx2.Response:
        method = request.method
        if rest == "" and method == "GET":
            return self._repo_info(request, repo_type, repo_id, "main")
        m = re.fullmatch(r"revision/([^/]+)", rest)
        if m and method == "GET":
            return self._repo_info(request, repo_type, repo_id, unquote(m[1]))
        m = re.fullmatch(r"tree/([^/]+)(?:/(.*))?", rest)
        if m and method == "GET":
            return self._tree(request, repo_type, repo_id, unquote(m[1]), unquote(m[2] or ""))
        m = re.fullmatch(r"paths-info/([^/]+)", rest)
        if m and method == "POST":
            return self._paths_info(request, repo_type, repo_id, unquote(m[1]))
        m = re.fullmatch(r"preupload/([^/]+)", rest)
        if m and method == "POST":
            return self._preupload(request, repo_type, repo_id, unquote(m[1]))
        m = re.fullmatch(r"commit/([^/]+)", rest)
        if m and method == "POST":
            return self._commit(request, repo_type, repo_id, unquote(m[1]))
        m = re.fullmatch(r"branch/([^/]+)", rest)
        if m and method == "POST":
            return self._create_branch(request, repo_type, repo_id, unquote(m[1]))
        raise HubError(404, f"hub double: no route for {method} /api/.../{rest}")

    # --- auth ---------------------------------------------------------------------------------------------

    def _caller(self, request: httpx2.Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        token = header.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token]

    def _readable(self, request: httpx2.Request, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        caller = self._caller(request)
        if repo is None or (repo.private and (caller is None or caller[0] != repo_id.split("/")[0])):
            raise HubError(404 if caller else 401, "Repository not found", "RepoNotFound")
        return repo

    def _writable(self, request: httpx2.Request, repo_type: str, repo_id: str) -> Repo:
        repo = self._readable(request, repo_type, repo_id)
        caller = self._caller(request)
        if caller is None:
            raise HubError(401, "You must be authenticated to write", None)
        if caller[0] != repo_id.split("/")[0] or caller[1] != "write":
            raise HubError(403, f"You don't have the rights to write to {repo_type}s/{repo_id}")
        return repo

    @staticmethod
    def _head(repo: Repo, revision: str) -> Commit:
        head = repo.head(revision)
        if head is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return head

    # --- routes -------------------------------------------------------------------------------------------

    def _whoami(self, request: httpx2.Request) -> httpx2.Response:
        caller = self._caller(request)
        if caller is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        user, role = caller
        return _json(200, {"type": "user", "name": user, "fullname": user, "orgs": [],
                           "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}}})

    def _create_repo(self, request: httpx2.Request) -> httpx2.Response:
        caller = self._caller(request)
        if caller is None:
            raise HubError(401, "You must be authenticated to create a repo")
        payload = json.loads(request.read())
        namespace = payload.get("organization") or caller[0]
        repo_type = payload.get("type") or "model"
        repo_id = f"{namespace}/{payload['name']}"
        if namespace != caller[0] or caller[1] != "write":
            raise HubError(403, f"You don't have the rights to create a repo under {namespace}")
        if (repo_type, repo_id) in self.repos:
            raise HubError(409, "You already created this repo", url=f"{ENDPOINT}/{_prefix(repo_type)}{repo_id}")
        repo = Repo(repo_type, repo_id, private=payload.get("visibility") == "private")
        blob = Blob(len(GITATTRIBUTES), hashlib.sha256(GITATTRIBUTES).hexdigest(), False, GITATTRIBUTES)
        self._add_commit(repo, "main", None, "initial commit", "", {".gitattributes": blob})
        self.repos[(repo_type, repo_id)] = repo
        return _json(200, {"url": f"{ENDPOINT}/{_prefix(repo_type)}{repo_id}", "name": repo_id})

    def _create_branch(self, request: httpx2.Request, repo_type: str, repo_id: str, branch: str) -> httpx2.Response:
        repo = self._writable(request, repo_type, repo_id)
        if branch in repo.refs:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        body = request.read()
        start = (json.loads(body).get("startingPoint") if body else None) or "main"
        repo.refs[branch] = self._head(repo, start).oid
        return _json(200, {})

    def _repo_info(self, request: httpx2.Request, repo_type: str, repo_id: str, revision: str) -> httpx2.Response:
        repo = self._readable(request, repo_type, repo_id)
        head = self._head(repo, revision)
        return _json(200, {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo_id.split("/")[0],
            "sha": head.oid, "private": repo.private, "gated": False, "disabled": False, "downloads": 0,
            "likes": 0, "tags": [], "lastModified": DATE, "createdAt": DATE, "cardData": {},
            "siblings": [{"rfilename": p} for p in sorted(head.files)],
        })

    def _entries(self, head: Commit, prefix: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        if prefix and prefix not in head.files and not any(p.startswith(base) for p in head.files):
            raise HubError(404, f"Entry not found: {prefix}", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(head.files):
            if not path.startswith(base):
                continue
            parts = path[len(base):].split("/")
            for depth in range(1, len(parts)):  # folders on the way
                folder = base + "/".join(parts[:depth])
                if (recursive or depth == 1) and folder not in entries:
                    entries[folder] = self._folder_entry(head, folder)
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                entries[path] = self._file_entry(head, path)
        return [entries[k] for k in sorted(entries)]

    @staticmethod
    def _file_entry(head: Commit, path: str, expand: bool = False) -> dict[str, Any]:
        blob = head.files[path]
        entry: dict[str, Any] = {"type": "file", "oid": blob.oid, "size": blob.size, "path": path}
        if blob.lfs:
            pointer = lfs_pointer(blob.sha256, blob.size)
            entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": len(pointer)}
        if expand:
            entry["lastCommit"] = {"id": head.oid, "title": head.title, "date": DATE}
        return entry

    @staticmethod
    def _folder_entry(head: Commit, folder: str) -> dict[str, Any]:
        inner = "".join(f"{p}:{b.oid}\n" for p, b in sorted(head.files.items()) if p.startswith(folder + "/"))
        return {"type": "directory", "oid": hashlib.sha1(inner.encode()).hexdigest(), "size": 0, "path": folder}

    def _tree(self, request: httpx2.Request, repo_type: str, repo_id: str, revision: str, path: str) -> httpx2.Response:
        repo = self._readable(request, repo_type, repo_id)
        head = self._head(repo, revision)
        query = parse_qs(request.url.query.decode())
        recursive = query.get("recursive", ["False"])[0].lower() in ("1", "true")
        expand = query.get("expand", ["False"])[0].lower() in ("1", "true")
        entries = self._entries(head, path, recursive)
        if expand:
            entries = [self._file_entry(head, e["path"], True) if e["type"] == "file" else e for e in entries]
        size = min(self.page_size, 50) if expand else self.page_size
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start:start + size]
        headers = {}
        if start + size < len(entries):
            url = request.url.copy_merge_params({"cursor": str(start + size)})
            headers["Link"] = f'<{url}>; rel="next"'
        return _json(200, page, headers)

    def _paths_info(self, request: httpx2.Request, repo_type: str, repo_id: str, revision: str) -> httpx2.Response:
        repo = self._readable(request, repo_type, repo_id)
        head = self._head(repo, revision)
        form = parse_qs(request.read().decode())
        expand = form.get("expand", ["False"])[0].lower() in ("1", "true")
        out = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in head.files:
                out.append(self._file_entry(head, path, expand))
            elif any(p.startswith(path + "/") for p in head.files) or path == "":
                out.append(self._folder_entry(head, path))
        return _json(200, out)

    def _preupload(self, request: httpx2.Request, repo_type: str, repo_id: str, revision: str) -> httpx2.Response:
        repo = self._writable(request, repo_type, repo_id)
        head = self._head(repo, revision)
        files = []
        for item in json.loads(request.read())["files"]:
            sample = base64.b64decode(item["sample"])
            lfs = _is_lfs(item["path"], item["size"], sample)
            remote = head.files.get(item["path"])
            oid = None
            if remote is not None:
                oid = remote.sha256 if remote.lfs else remote.oid
            files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        return _json(200, {"files": files, "commitOid": head.oid})

    def _lfs_batch(self, request: httpx2.Request, repo_type: str, repo_id: str) -> httpx2.Response:
        self._writable(request, repo_type, repo_id)
        payload = json.loads(request.read())
        if payload.get("operation") != "upload":
            raise HubError(400, "only uploads are served")
        objects = []
        for obj in payload["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.lfs_store:  # already stored objects get no action (nothing to upload)
                entry["actions"] = {"upload": {"href": f"{LFS_UPLOAD_HOST}/lfs-upload/{obj['oid']}", "header": {}}}
            objects.append(entry)
        return _json(200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_put(self, oid: str, data: bytes) -> httpx2.Response:
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, "sha256 mismatch")
        self.lfs_store[oid] = data
        return httpx2.Response(200)

    def _commit(self, request: httpx2.Request, repo_type: str, repo_id: str, revision: str) -> httpx2.Response:
        repo = self._writable(request, repo_type, repo_id)
        base = self._head(repo, revision)
        create_pr = request.url.params.get("create_pr") == "1"
        lines = [json.loads(line) for line in request.read().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first line must be the header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent is not None and parent != base.oid:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(base.files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            path = value["path"].strip("/")
            if key == "file":
                data = base64.b64decode(value["content"])
                if len(data) > REGULAR_MAX:
                    raise HubError(400, f"{path} is over 10 MB and must be stored with LFS")
                files[path] = Blob(len(data), hashlib.sha256(data).hexdigest(), False, data)
            elif key == "lfsFile":
                if value["oid"] not in self.lfs_store:
                    raise HubError(422, f"LFS object {value['oid']} was never uploaded")
                files[path] = Blob(len(self.lfs_store[value["oid"]]), value["oid"], True)
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                del files[path]
            elif key == "deletedFolder":
                doomed = [p for p in files if p.startswith(path + "/")]
                if not doomed:
                    raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                for p in doomed:
                    del files[p]
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        ref = revision
        pr_url = None
        if create_pr:
            repo.prs += 1
            ref = f"refs/pr/{repo.prs}"
            pr_url = f"{ENDPOINT}/{_prefix(repo_type)}{repo_id}/discussions/{repo.prs}"
        commit = self._add_commit(repo, ref, base.oid, header["summary"], header.get("description", ""), files)
        return _json(200, {"commitUrl": f"{ENDPOINT}/{_prefix(repo_type)}{repo_id}/commit/{commit.oid}",
                           "commitOid": commit.oid, "pullRequestUrl": pr_url, "success": True})

    def _add_commit(self, repo: Repo, ref: str, parent: str | None, title: str, description: str,
                    files: dict[str, Blob]) -> Commit:
        tree = "".join(f"{p}:{b.oid}\n" for p, b in sorted(files.items()))
        oid = hashlib.sha1(f"{parent}\n{title}\n{len(repo.commits)}\n{tree}".encode()).hexdigest()
        commit = Commit(oid, parent, title, description, files)
        repo.commits[oid] = commit
        repo.refs[ref] = oid
        return commit

    def _resolve(self, request: httpx2.Request, repo_type: str, repo_id: str, revision: str, path: str
                 ) -> httpx2.Response:
        repo = self._readable(request, repo_type, repo_id)
        head = self._head(repo, revision)
        blob = head.files.get(path)
        if blob is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        data = self._content(blob)
        headers = {"X-Repo-Commit": head.oid, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if blob.lfs:
            etag = f'"{blob.sha256}"'
            headers |= {"ETag": etag, "X-Linked-Etag": etag, "X-Linked-Size": str(blob.size)}
        else:
            headers["ETag"] = f'"{blob.oid}"'
        status = 200
        byte_range = request.headers.get("range")
        if byte_range:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range.strip())
            if m is None:
                raise HubError(416, "bad range")
            if m[1] == "":  # suffix range: the last N bytes
                start, end = max(0, len(data) - int(m[2])), len(data) - 1
            else:
                start, end = int(m[1]), min(int(m[2]) if m[2] else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return httpx2.Response(416, headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        headers["Content-Length"] = str(len(data))
        return httpx2.Response(status, headers=headers, content=b"" if request.method == "HEAD" else data)

    def _content(self, blob: Blob) -> bytes:
        return self.lfs_store[blob.sha256] if blob.lfs else (blob.content or b"")


def _is_lfs(path: str, size: int, sample: bytes) -> bool:
    """The Hub's decision: LFS for the ``.gitattributes`` patterns, files over 10 MB and binary files."""
    name = path.rsplit("/", 1)[-1]
    if any(fnmatch(name, pattern) for pattern in LFS_PATTERNS) or size > REGULAR_MAX or b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:  # binary, unless a multi-byte character was only cut at the end
        return err.start < len(sample) - 3
    return False


def _prefix(repo_type: str) -> str:
    return "" if repo_type == "model" else f"{repo_type}s/"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, headers={"Content-Type": "application/json", **(headers or {})},
                           content=json.dumps(body).encode())


@contextlib.contextmanager
def _installed(double: HubDouble) -> Iterator[HubDouble]:
    from huggingface_hub import constants, set_async_client_factory, set_client_factory
    from huggingface_hub.utils import _http

    previous: Callable[[], httpx2.Client] = _http._GLOBAL_CLIENT_FACTORY
    previous_async: Callable[[], httpx2.AsyncClient] = _http._GLOBAL_ASYNC_CLIENT_FACTORY
    xet = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = True
    set_client_factory(double.client)
    set_async_client_factory(double.async_client)
    try:
        yield double
    finally:
        set_client_factory(previous)
        set_async_client_factory(previous_async)
        constants.HF_HUB_DISABLE_XET = xet


def use_temporary_hf_home(home: Path, monkeypatch: Any) -> None:
    """Point huggingface_hub's and datasets' caches (and token files) at ``home`` and switch offline mode off, for
    the duration of a test (``monkeypatch`` undoes it)."""
    import datasets
    from huggingface_hub import constants

    for name, value in {
        "HF_HOME": home, "HF_HUB_CACHE": home / "hub", "HF_ASSETS_CACHE": home / "assets",
        "HF_TOKEN_PATH": home / "token", "HF_STORED_TOKENS_PATH": home / "stored_tokens",
        "HF_XET_CACHE": home / "xet",
    }.items():
        monkeypatch.setattr(constants, name, str(value))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name, value in {
        "HF_CACHE_HOME": str(home), "HF_DATASETS_CACHE": home / "datasets", "HF_MODULES_CACHE": home / "modules",
        "DOWNLOADED_DATASETS_PATH": home / "datasets" / "downloads",
        "EXTRACTED_DATASETS_PATH": home / "datasets" / "downloads" / "extracted",
    }.items():
        monkeypatch.setattr(datasets.config, name, value)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
