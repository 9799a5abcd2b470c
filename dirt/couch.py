"""dirt's one door to CouchDB: a thin layer over httpx.

Why httpx and not the ``couchdb`` package the 2012 dirt used: that client is
archived and unmaintained (no release since 2016, broken on current Pythons),
while httpx is actively maintained, pools keep-alive connections, has explicit
connect/read timeouts, speaks HTTPS, and is safe to share between threads. The
CouchDB HTTP API is small and stable, so the few calls dirt needs are written
out here, and only here: this module is the only place that turns HTTP
statuses into exceptions (see :mod:`dirt.errors`).

Only API that both Apache CouchDB 3.x and pouchdb-server serve is used.
Sequence values from ``_changes`` are treated as opaque.

Who dirt logs in as follows the rule in :mod:`dirt.credentials` (the URL's
user-info, ``DIRT_COUCHDB_USER``/``DIRT_COUCHDB_PASSWORD``,
``COUCHDB_USER``/``COUCHDB_PASSWORD``, ``~/.netrc``), the same as egret's.
Credentials are sent as HTTP basic auth and never appear in a URL that dirt
logs or prints: use :func:`redact` for any URL shown to a person.
"""
from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from .credentials import HINT as CREDENTIALS_HINT
from .credentials import database_name_problem, find_credentials, redact
from .errors import Conflict, CouchError, DatabaseMissing, NotFound, Unauthorized, Unreachable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# What a 404 says when the database itself is missing (Apache CouchDB 3, pouchdb-server).
_NO_DATABASE = ("Database does not exist.", "no_db_file")

__all__ = ["Database", "Server", "redact", "split_credentials", "CREDENTIALS_HINT"]


def split_credentials(url: str, environ: Mapping[str, str] | None = None) -> tuple[str, tuple[str, str] | None]:
    """Separate ``url`` into a credential-free URL and a (user, password) pair.

    The pair comes from the sources of :func:`dirt.credentials.find_credentials`;
    it is None when none of them has one.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CouchError(f"not a CouchDB URL: {redact(url)!r} (expected http://host:port or https://host:port)")
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return clean, find_credentials(url, environ)


def doc_path(doc_id: str) -> str:
    """The URL path segment(s) for a document id (design and local docs keep their slash)."""
    for prefix in ("_design/", "_local/"):
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix):], safe="")
    return quote(doc_id, safe="")


class Server:
    """A CouchDB server: its base URL, credentials and a keep-alive pool."""

    def __init__(self, url: str, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT):
        self.url, auth = split_credentials(url)
        self.client = httpx.Client(
            auth=auth, timeout=timeout, headers={"Accept": "application/json"},
            limits=httpx.Limits(max_keepalive_connections=32, max_connections=64),
        )
        self.has_credentials = auth is not None

    def __repr__(self) -> str:
        return f"<Server {self.url}>"

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def request(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> Any:
        """Send one request; return the decoded JSON body or raise a CouchError."""
        url = f"{self.url}/{path}"
        try:
            resp = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise Unreachable(f"CouchDB at {self.url} did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach CouchDB at {self.url}: {exc or type(exc).__name__}") from None
        return self._decode(resp, method, path, expect_json)

    def _decode(self, resp: httpx.Response, method: str, path: str, expect_json: bool) -> Any:
        if resp.status_code < 400:
            if not expect_json:
                return resp
            try:
                return resp.json()
            except ValueError:
                raise CouchError(f"{method} {path}: CouchDB sent a body that is not JSON", resp.status_code) from None
        try:
            body = resp.json()
            error, reason = body.get("error", ""), body.get("reason", "")
        except (ValueError, AttributeError):
            error, reason = "", resp.text[:200]
        where = f"{method} {self.url}/{path.split('?')[0]}"
        status = resp.status_code
        if status == 401:
            hint = ("check the user name and password" if self.has_credentials else
                    f"this server needs credentials: {CREDENTIALS_HINT}")
            raise Unauthorized(f"{where}: not authorized ({reason or error}); {hint}", status, error)
        if status == 403:
            raise Unauthorized(f"{where}: forbidden: {reason or error}", status, error)
        if status == 404 and reason in _NO_DATABASE:
            raise self._database_missing(path)
        if status == 404:
            raise NotFound(f"{where}: not found ({reason or error})", status, error)
        if status == 409:
            raise Conflict(f"{where}: document update conflict", status, error)
        raise CouchError(f"{where}: HTTP {status} {error}: {reason}".rstrip(": "), status, error)

    def _database_missing(self, path: str) -> DatabaseMissing:
        name = unquote(path.split("/", 1)[0].split("?", 1)[0])
        message = f"the database {name!r} does not exist on {self.url}"
        try:   # only a server admin may list databases on CouchDB 3: a guess when we may
            known = self.request("GET", "_all_dbs")
        except CouchError:
            known = []
        guess = difflib.get_close_matches(name, [d for d in known if isinstance(d, str)], n=1)
        if guess:
            message += f" (did you mean {guess[0]!r}?)"
        message += (f"; check couchdb_dbname in settings.py, or create it: `dirt updatenodes` and `dirt serve` "
                    f"create it, as does `curl -X PUT {self.url}/{quote(name, safe='')}` with a server "
                    "admin's credentials")
        return DatabaseMissing(message, 404, "not_found")

    def database(self, name: str) -> "Database":
        """A handle on database ``name`` sharing this server's connections."""
        return Database(self, name)


class Database:
    """One CouchDB database. Methods map one-to-one onto HTTP API calls."""

    def __init__(self, server: Server, name: str):
        if not name:
            raise CouchError("no database name given")
        problem = database_name_problem(name)
        if problem:
            raise CouchError(f"{name!r} is {problem}", 400, "illegal_database_name")
        self.server = server
        self.name = name
        self.path = quote(name, safe="")

    @classmethod
    def from_url(cls, url: str, name: str | None = None, **kwargs: Any) -> "Database":
        """Open ``http://host:port/dbname``, or the server ``url`` plus ``name``."""
        if name is None:
            parts = urlsplit(url)
            base, _, name = parts.path.rstrip("/").rpartition("/")
            if not name:
                raise CouchError(f"the URL {redact(url)} names no database (expected http://host:port/dbname)")
            url = urlunsplit((parts.scheme, parts.netloc, base, "", ""))
            name = unquote(name)
        return cls(Server(url, **kwargs), name)

    @property
    def url(self) -> str:
        """The database URL, without credentials."""
        return f"{self.server.url}/{self.path}"

    def __repr__(self) -> str:
        return f"<Database {self.url}>"

    def _req(self, method: str, path: str = "", **kwargs: Any) -> Any:
        full = self.path + ("/" + path if path else "")
        return self.server.request(method, full, **kwargs)

    # -- database ------------------------------------------------------------------
    def info(self) -> dict:
        """``GET /db``: doc count, update_seq, ..."""
        return self._req("GET")

    def exists(self) -> bool:
        try:   # HEAD: a 404 without a body, so without the missing database's hint
            self.server.request("HEAD", self.path, expect_json=False)
            return True
        except NotFound:
            return False

    def create(self, exist_ok: bool = True) -> None:
        """Create the database (no error if it exists and ``exist_ok``).

        The name was checked against CouchDB's rule when this handle was
        made, so a bad name is refused the same way on servers that are more
        lenient.
        """
        if not self.server.has_credentials:
            self._require_admin_for_create()
        try:
            self._req("PUT")
        except CouchError as exc:
            if exc.status == 412 and exist_ok:
                return
            if exc.status == 400:
                raise CouchError(
                    f"CouchDB refused the database name {self.name!r}: names must start with a lowercase letter "
                    "and contain only a-z, 0-9 and _$()+-/", 400, exc.error) from None
            raise

    def _require_admin_for_create(self) -> None:
        """Refuse early (instead of hanging on some servers) when an anonymous
        user may not create databases."""
        session = self.server.request("GET", "_session")
        roles = (session.get("userCtx") or {}).get("roles") or []
        if "_admin" not in roles:
            raise Unauthorized(
                f"the database {self.url} does not exist, and creating it needs credentials of a server "
                f"admin: {CREDENTIALS_HINT}", 401, "unauthorized")

    def delete(self) -> None:
        self._req("DELETE")

    # -- documents -----------------------------------------------------------------
    def get(self, doc_id: str, **params: Any) -> dict:
        """The current revision of a document; NotFound if there is none."""
        return self._req("GET", doc_path(doc_id), params=_encode_params(params))

    def save(self, doc: dict) -> dict:
        """Create or update ``doc`` (revision-checked by its ``_rev``).

        Updates ``doc['_id']`` and ``doc['_rev']`` in place and returns it.
        Raises Conflict when the stored revision is not ``doc['_rev']``.
        """
        body = _dumps(doc)
        headers = {"Content-Type": "application/json"}
        if doc.get("_id"):
            result = self._req("PUT", doc_path(doc["_id"]), content=body, headers=headers)
        else:
            result = self._req("POST", "", content=body, headers=headers)
        doc["_id"], doc["_rev"] = result["id"], result["rev"]
        return doc

    def delete_doc(self, doc: dict) -> None:
        self._req("DELETE", doc_path(doc["_id"]), params={"rev": doc["_rev"]})

    def bulk_docs(self, docs: list[dict]) -> list[dict]:
        """``POST _bulk_docs``: one result per doc, ``{id, rev}`` or ``{id, error, reason}``."""
        return self._req("POST", "_bulk_docs", content=_dumps({"docs": docs}),
                         headers={"Content-Type": "application/json"})

    def write_docs(self, docs: list[dict], w: int | None = None) -> tuple[list[dict], bool]:
        """``POST _bulk_docs`` asking for ``w`` copies (on a cluster): the answers,
        and whether the server only *accepted* them (HTTP 202: stored on fewer
        copies than asked, so a conflicting revision may exist elsewhere)."""
        params = {"w": str(w)} if w else None
        resp = self._req("POST", "_bulk_docs", content=_dumps({"docs": docs}), params=params, expect_json=False,
                         headers={"Content-Type": "application/json"})
        try:
            answers = resp.json()
        except ValueError:
            raise CouchError("POST _bulk_docs: CouchDB sent a body that is not JSON", resp.status_code) from None
        return answers, resp.status_code == 202

    def leaves(self, doc_id: str, r: int | None = None) -> list[dict]:
        """Every leaf revision of a document (conflicts and deleted ones too), read
        from ``r`` copies: ``GET doc?open_revs=all``."""
        params = {"open_revs": "all", **({"r": str(r)} if r else {})}
        answer = self._req("GET", doc_path(doc_id), params=params)
        return [row["ok"] for row in answer if isinstance(row, dict) and isinstance(row.get("ok"), dict)]

    def delete_revision(self, doc_id: str, rev: str) -> None:
        """Delete one leaf revision (a losing conflict); no error if it is gone already."""
        try:
            self._req("DELETE", doc_path(doc_id), params={"rev": rev})
        except (Conflict, NotFound):
            pass

    def all_docs(self, **params: Any) -> dict:
        return self._req("GET", "_all_docs", params=_encode_params(params))

    def docs_by_id(self, doc_ids: list[str]) -> dict[str, dict]:
        """The current documents with these ids (``POST _all_docs``); missing and deleted ones left out."""
        if not doc_ids:
            return {}
        rows = self._req("POST", "_all_docs", params={"include_docs": "true"},
                         content=_dumps({"keys": doc_ids}), headers={"Content-Type": "application/json"})
        return {row["key"]: row["doc"] for row in rows.get("rows", [])
                if isinstance(row, dict) and isinstance(row.get("doc"), dict)}

    def find(self, selector: dict, limit: int = 1_000_000) -> list[dict]:
        """Documents matching a Mango ``selector`` (``POST _find``; any reader may ask)."""
        answer = self._req("POST", "_find", content=_dumps({"selector": selector, "limit": limit}),
                           headers={"Content-Type": "application/json"})
        return [doc for doc in answer.get("docs", []) if isinstance(doc, dict)]

    def security(self) -> dict:
        """The database's ``_security`` object (its admins and members)."""
        return self._req("GET", "_security") or {}

    def set_security(self, security: dict) -> None:
        """Replace the ``_security`` object (a server or database admin's right)."""
        self._req("PUT", "_security", content=_dumps(security), headers={"Content-Type": "application/json"})

    def view(self, design: str, name: str, timeout: float | None = None, **params: Any) -> dict:
        """Query view ``name`` of ``_design/<design>``; ``key``/``startkey``/``endkey`` are JSON-encoded."""
        path = f"{doc_path('_design/' + design)}/_view/{quote(name, safe='')}"
        extra = {"timeout": timeout} if timeout is not None else {}
        return self._req("GET", path, params=_encode_params(params), **extra)

    def get_attachment(self, doc_id: str, name: str) -> bytes:
        resp = self._req("GET", f"{doc_path(doc_id)}/{quote(name, safe='/')}", expect_json=False)
        return resp.content

    # -- changes -------------------------------------------------------------------
    def changes(self, since: Any = 0, *, feed: str = "normal", limit: int | None = None,
                include_docs: bool = False, timeout: float | None = None, **params: Any) -> dict:
        """One ``_changes`` request: ``{"results": [...], "last_seq": ...}``.

        With ``feed="longpoll"`` it waits for the first change. ``timeout`` is
        both what CouchDB is asked to wait and (plus a margin) how long we
        wait for the answer, since pouchdb-server ignores the parameter; on
        that read timeout the result is an empty batch at ``since``.
        """
        query: dict[str, Any] = {"since": since, "feed": feed, **params}
        if limit is not None:
            query["limit"] = limit
        if include_docs:
            query["include_docs"] = "true"
        request_timeout: Any = self.server.client.timeout
        if feed == "longpoll" and timeout is not None:
            query["timeout"] = int(timeout * 1000)
            request_timeout = httpx.Timeout(timeout + 5.0, connect=10.0)
        try:
            return self._req("GET", "_changes", params=_encode_params(query), timeout=request_timeout,
                             headers={"Accept-Encoding": "identity"})
        except Unreachable:
            if feed == "longpoll" and timeout is not None and self._server_alive():
                return {"results": [], "last_seq": since}
            raise

    def _server_alive(self) -> bool:
        try:
            self.server.request("GET", "", timeout=5)
            return True
        except CouchError:
            return False


def _encode_params(params: dict) -> dict:
    """Query parameters as CouchDB wants them: JSON for keys, lowercase booleans."""
    out = {}
    for key, value in params.items():
        if key in ("key", "keys", "startkey", "endkey", "start_key", "end_key"):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = value
    return out


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

