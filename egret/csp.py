"""Whether the server lets a pushed app's scripts run, and the policy that does.

Apache CouchDB 3.2 and later send every attachment, so every page of a
CouchApp, with the header ``Content-Security-Policy: sandbox`` unless a
server admin changes ``[csp] attachments_header_value``: under it no script
runs, and the app is a page of unstyled text. pouchdb-server sends no such
header.

:func:`check` reads the header the server sends with one of the app's own
attachments and says whether scripts are blocked; :func:`apply` (explicit,
needing a server admin, never done by a push) sets :data:`APP_POLICY` on
every node of the server. That policy lets the app run, and keeps out what a
CouchApp never needs, which is what an HTML file that a task stored as an
attachment would use to run script as whoever opens it:

* no inline script, no event-handler attributes, no ``eval`` (a task's HTML
  report carries its script inline): ``script-src 'self'`` without
  ``'unsafe-inline'`` or ``'unsafe-eval'``;
* no script, style, font, frame or connection to another origin (nothing is
  loaded from elsewhere, and nothing read is sent elsewhere);
* no plugins (``object-src 'none'``), no ``<base>`` that would move where
  relative URLs lead (``base-uri 'none'``), forms only to this server
  (``form-action 'self'``);
* no framing by other sites (``frame-ancestors 'self'``): the app has
  buttons that change tasks, and a page elsewhere must not lay its own over
  them.

Scripts of the same origin are allowed, so a page served as HTML from a
task's attachment could still load another attachment as a script: dirt
therefore stores tasks' HTML, SVG, XML and JavaScript files as ``text/plain``
(unless a project opts in), and its own viewer shows such files in a frame
sandboxed without scripts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from egret.couch import Couch, quote_doc_id
from egret.errors import CouchError, EgretError

APP_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
SECTION, KEY = "csp", "attachments_header_value"


@dataclass
class CspCheck:
    """What the server sends with the app's files: ``policy`` (None: no header) and,
    when scripts cannot run under it, ``blocked`` saying why."""

    policy: str | None
    blocked: str | None

    def advice(self, url: str) -> str:
        """What to do, in words (empty when nothing needs doing)."""
        if not self.blocked:
            return ""
        return (f"the server sends the app's files with Content-Security-Policy: {self.policy}, so its "
                f"scripts will not run ({self.blocked}). A server admin can allow the app's own scripts, and "
                f"no others, with `egret csp {url} --apply` (it sets [csp] {KEY} to \"{APP_POLICY}\"), "
                "or the same line in the server's local.ini")


def _directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out.setdefault(words[0].lower(), [w.lower() for w in words[1:]])
    return out


def blocks_scripts(policy: str | None) -> str | None:
    """Why the app's own scripts (files of the same origin) cannot run under ``policy``, or None."""
    if not policy:
        return None
    directives = _directives(policy)
    if "sandbox" in directives and "allow-scripts" not in directives["sandbox"]:
        return "'sandbox' without allow-scripts runs no script at all"
    sources = directives.get("script-src-elem") or directives.get("script-src") or directives.get("default-src")
    if sources is not None and not ({"'self'", "*"} & set(sources)):
        return "scripts are allowed only from " + (" ".join(sources) or "nowhere")
    return None


def app_file(couch: Couch, doc_id: str) -> str | None:
    """The URL of one attachment of the design document (index.html if it has one), or None."""
    doc = couch.get_document(doc_id)
    names = sorted((doc or {}).get("_attachments") or {})
    if not names:
        return None
    name = "index.html" if "index.html" in names else names[0]
    return couch.attachment_url(doc_id, name)


def check(couch: Couch, doc_id: str) -> CspCheck | None:
    """The policy the server sends with the app's files (None: the app has no files to check)."""
    url = app_file(couch, doc_id)
    if url is None:
        return None
    response = couch.request("HEAD", url, ok=(404,))
    policy = response.headers.get("content-security-policy")
    return CspCheck(policy, blocks_scripts(policy))


def nodes(couch: Couch) -> list[str]:
    """The server's node names (one on a single node), for per-node settings."""
    base = couch.target.server
    response = couch.request("GET", f"{base}/_membership", ok=(400, 404))
    if response.status_code != 200:
        return []
    answer: Any = response.json()
    return [n for n in answer.get("all_nodes", []) if isinstance(n, str)]


def current(couch: Couch) -> dict[str, str | None]:
    """The setting on each node: ``{node: value or None (not set: CouchDB's default)}``."""
    out = {}
    for node in nodes(couch):
        url = f"{couch.target.server}/_node/{quote_doc_id(node)}/_config/{SECTION}/{KEY}"
        response = couch.request("GET", url, ok=(404,))
        out[node] = response.json() if response.status_code == 200 else None
    return out


def apply(couch: Couch, policy: str = APP_POLICY) -> list[tuple[str, str | None]]:
    """Set ``[csp] attachments_header_value`` to ``policy`` on every node; ``(node, old value)`` of each.

    Needs a server admin. Raises EgretError on a server without per-node
    settings (pouchdb-server, which sends no policy anyway).
    """
    try:
        names = nodes(couch)
    except CouchError as exc:
        raise EgretError(f"changing [csp] {KEY} needs a server admin's login ({exc})") from None
    if not names:
        raise EgretError(f"{couch.target.server} has no /_membership: not an Apache CouchDB 2 or later, "
                         "so it has no [csp] setting (pouchdb-server sends no Content-Security-Policy; "
                         "the app runs there as it is)")
    changed = []
    for node in names:
        url = f"{couch.target.server}/_node/{quote_doc_id(node)}/_config/{SECTION}/{KEY}"
        try:
            response = couch.request("PUT", url, json=policy)
        except CouchError as exc:
            raise EgretError(f"could not set [csp] {KEY} on {node}: {exc} (this needs a server admin's login)") \
                from None
        old = response.json() if response.content else None
        changed.append((node, old or None))
    return changed


def find_app(couch: Couch) -> str | None:
    """The design document of the app: the first with an index.html, else the first with files."""
    url = f"{couch.db_url}/_all_docs"
    answer = couch.request("GET", url, params={"startkey": '"_design/"', "endkey": '"_design0"'}).json()
    with_files = None
    for row in answer.get("rows", []):
        doc = couch.get_document(row["id"]) or {}
        names = doc.get("_attachments") or {}
        if "index.html" in names:
            return row["id"]
        if names and with_files is None:
            with_files = row["id"]
    return with_files
