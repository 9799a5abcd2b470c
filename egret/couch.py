"""A small CouchDB HTTP client: where egret's requests go and who they go as.

A target is one string, as users type it: ``http(s)://[user:pass@]host:port/db``
(the last path segment is the database, anything before it a path prefix of a
reverse proxy) or a bare database name, meaning that database on the server
in ``DIRT_COUCHDB_HOST`` (as for dirt), else on ``http://localhost:5984``.
Who egret logs in as follows the rule in :mod:`egret.credentials` (the URL's
userinfo, ``DIRT_COUCHDB_USER``/``DIRT_COUCHDB_PASSWORD``,
``COUCHDB_USER``/``COUCHDB_PASSWORD``, the netrc file), the same as dirt's.
Credentials are moved out of the URL into HTTP basic auth and never appear in
a message: every URL this module puts in an error goes through :func:`redact`.

This is the only module that turns HTTP statuses into egret's errors.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from egret.credentials import HINT as _AUTH_HINT
from egret.credentials import database_name_problem, find_credentials, redact
from egret.errors import Conflict, CouchError, DatabaseExists, InvalidTarget, NotAuthorized, ServerUnreachable

log = logging.getLogger(__name__)

DEFAULT_SERVER = "http://localhost:5984"
SERVER_VARIABLE = "DIRT_COUCHDB_HOST"  # the server of a bare database name, if set

__all__ = ["Couch", "Target", "check_database_name", "redact", "quote_doc_id", "quote_attachment"]


def check_database_name(name: str) -> None:
    """Raise :class:`InvalidTarget` unless Apache CouchDB would accept ``name``."""
    problem = database_name_problem(name)
    if problem:
        raise InvalidTarget(name, f"{problem} (or give a full URL: http://host:5984/db)")


def quote_doc_id(doc_id: str) -> str:
    """The URL path of a document id; ``_design/NAME`` keeps its slash."""
    if doc_id.startswith("_design/"):
        return "_design/" + quote(doc_id[len("_design/"):], safe="")
    return quote(doc_id, safe="")


def quote_attachment(name: str) -> str:
    """The URL path of an attachment name, one encoded segment per ``/``."""
    return "/".join(quote(segment, safe="") for segment in name.split("/"))


@dataclass(frozen=True)
class Target:
    """Where to push: a server base URL, a database name and credentials.

    ``server`` never holds credentials; ``auth`` is ``(user, password)`` or
    ``None``. ``server_from`` says where the server came from when the user
    gave only a database name (``DIRT_COUCHDB_HOST``, or ``"default"``), and
    is empty for a URL. ``repr`` hides the password.
    """

    server: str
    database: str
    auth: tuple[str, str] | None = None
    server_from: str = ""

    def __repr__(self) -> str:
        user = self.auth[0] if self.auth else None
        return f"Target(server={self.server!r}, database={self.database!r}, user={user!r})"

    @property
    def url(self) -> str:
        """The database URL, without credentials: safe to print."""
        return f"{self.server}/{quote(self.database, safe='')}"

    @classmethod
    def parse(cls, spec: str, environ: Mapping[str, str] | None = None) -> "Target":
        """Read a target as the user typed it (see the module docstring).

        ``environ`` defaults to ``os.environ``; it supplies the credential
        variables, ``NETRC`` and ``HOME`` (see :mod:`egret.credentials`).
        """
        environ = os.environ if environ is None else environ
        if "://" not in spec:
            check_database_name(spec)
            base = environ.get(SERVER_VARIABLE, "").rstrip("/")
            if base:
                if "://" not in base:
                    raise InvalidTarget(f"{SERVER_VARIABLE}={redact(base)}", "not an http:// or https:// URL")
                try:
                    target = cls.parse(f"{base}/{quote(spec, safe='')}", environ)
                except InvalidTarget as exc:
                    raise InvalidTarget(f"{SERVER_VARIABLE}={redact(base)}", exc.problem) from None
                return replace(target, server_from=SERVER_VARIABLE)
            server, database = DEFAULT_SERVER, spec
            server_from = "default"
        else:
            parts = urlsplit(spec)
            shown = redact(spec)
            if parts.scheme not in ("http", "https"):
                raise InvalidTarget(shown, "only http:// and https:// URLs are supported")
            if not parts.hostname:
                raise InvalidTarget(shown, "the URL has no host")
            if parts.query or parts.fragment:
                raise InvalidTarget(shown, "the URL must not have a query or fragment")
            try:
                port = parts.port
            except ValueError:
                raise InvalidTarget(shown, "the URL's port is not a number") from None
            path = parts.path.rstrip("/")
            prefix, _, last = path.rpartition("/")
            if not last:
                raise InvalidTarget(shown, "the URL names no database (http://host:5984/DATABASE)")
            database = unquote(last)
            check_database_name(database)
            host = parts.hostname
            if ":" in host:
                host = f"[{host}]"
            netloc = f"{host}:{port}" if port else host
            server = urlunsplit((parts.scheme, netloc, prefix, "", ""))
            server_from = ""
        auth = find_credentials(spec if "://" in spec else server, environ)
        return cls(server=server, database=database, auth=auth, server_from=server_from)


class Couch:
    """One database on one server, over a keep-alive connection pool.

    Every method raises :class:`ServerUnreachable` when no answer comes and a
    :class:`CouchError` (or leaf) for an error status. Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, target: Target, timeout: float = 30.0, client: httpx.Client | None = None):
        self.target = target
        self._client = client or httpx.Client(
            auth=httpx.BasicAuth(*target.auth) if target.auth else None,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Accept": "application/json"},
        )

    def __enter__(self) -> "Couch":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    @property
    def db_url(self) -> str:
        """The database URL without credentials."""
        return self.target.url

    def document_url(self, doc_id: str) -> str:
        """URL of a document, without credentials."""
        return f"{self.db_url}/{quote_doc_id(doc_id)}"

    def attachment_url(self, doc_id: str, name: str) -> str:
        """URL of an attachment, without credentials."""
        return f"{self.document_url(doc_id)}/{quote_attachment(name)}"

    def request(self, method: str, url: str, *, ok: Iterable[int] = (), **kwargs: Any) -> httpx.Response:
        """Send one request; return the response if it succeeded or its status is in ``ok``."""
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(redact(url), f"no answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(redact(url), str(exc) or type(exc).__name__) from None
        if response.is_success or response.status_code in set(ok):
            return response
        raise self._error(method, url, response)

    def _error(self, method: str, url: str, response: httpx.Response) -> CouchError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        status = response.status_code
        error = str(body.get("error") or response.reason_phrase or "error")
        reason = str(body.get("reason") or "")
        shown = redact(url)
        if status == 401:
            hint = ("check the user name and password" if self.target.auth
                    else f"this server needs credentials: {_AUTH_HINT}")
            return NotAuthorized(method, shown, status, error, reason, hint)
        if status == 403:
            return NotAuthorized(method, shown, status, error, reason, "this user may not do that (server or database admin needed?)")
        if status == 409:
            return Conflict(method, shown, status, error, reason)
        return CouchError(method, shown, status, error, reason)

    def ensure_database(self) -> bool:
        """Create the database unless it exists; return whether it was created."""
        response = self.request("GET", self.db_url, ok=(404,))
        if response.status_code == 200:
            return False
        try:
            self.create_database()
        except DatabaseExists:  # created by someone else meanwhile
            return False
        return True

    def create_database(self) -> None:
        """Create the database; :class:`DatabaseExists` if it is there already.

        Creating a database needs a server admin: without credentials on a
        server that has admins, and for a user who is not one, the
        :class:`NotAuthorized` says so.
        """
        if self.target.auth is None and not self._anonymous_is_admin():
            # pouchdb-server never answers an anonymous PUT /db once an admin
            # exists, so ask first; CouchDB would answer 401.
            raise NotAuthorized("PUT", self.db_url, 401, "unauthorized", "creating a database needs a server admin",
                                f"this server needs credentials: {_AUTH_HINT}")
        try:
            response = self.request("PUT", self.db_url, ok=(412,))
        except NotAuthorized as exc:
            raise NotAuthorized(exc.method, exc.url, exc.status, exc.error, exc.reason,
                                "creating a database needs a server admin: check the user name and password, "
                                "and that the user is an admin") from None
        if response.status_code == 412:
            raise DatabaseExists(self.db_url)
        log.info("created database %s", self.db_url)

    def _anonymous_is_admin(self) -> bool:
        """Whether the server treats requests without credentials as admin ("admin party")."""
        session = self.request("GET", f"{self.target.server}/_session").json()
        return "_admin" in ((session or {}).get("userCtx") or {}).get("roles", [])

    def get_document(self, doc_id: str) -> dict[str, Any] | None:
        """The current revision of a document, or ``None`` if there is none."""
        response = self.request("GET", self.document_url(doc_id), ok=(404,))
        if response.status_code == 404:
            return None
        return response.json()

    def put_document(self, doc: Mapping[str, Any]) -> str:
        """Write ``doc`` (with ``_rev`` to update); return the new revision."""
        response = self.request("PUT", self.document_url(doc["_id"]), json=doc)
        return response.json()["rev"]

    def put_attachment(
        self, doc_id: str, name: str, rev: str | None, body: bytes | Iterable[bytes], content_type: str, length: int
    ) -> str:
        """Upload one attachment as a raw (possibly streamed) body; return the new revision."""
        params = {"rev": rev} if rev else None
        headers = {"Content-Type": content_type, "Content-Length": str(length)}
        response = self.request("PUT", self.attachment_url(doc_id, name), params=params, headers=headers, content=body)
        return response.json()["rev"]

    def bulk_docs(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST ``_bulk_docs``; return the per-document results the server gives."""
        response = self.request("POST", f"{self.db_url}/_bulk_docs", json={"docs": docs})
        return response.json()

    def current_revisions(self, doc_ids: list[str]) -> dict[str, str]:
        """Map each existing, not deleted id in ``doc_ids`` to its current revision."""
        if not doc_ids:
            return {}
        response = self.request("POST", f"{self.db_url}/_all_docs", json={"keys": doc_ids})
        revs = {}
        for row in response.json().get("rows", []):
            value = row.get("value") or {}
            if "rev" in value and not value.get("deleted"):
                revs[row["id"]] = value["rev"]
        return revs
