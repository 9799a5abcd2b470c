"""``dirt setup``: a production database in one step, as a server admin.

What it does, each step only if needed, saying what it changed:

1. creates the project's database;
2. writes its ``_security``: the roles of ``web/lib/roles.js`` (readers,
   submitters, operators, and dirt-server for the account ``dirt serve`` runs
   as) as members when the database is *members-only*, or no members (anyone
   may read; writes still need a role, ``validate_doc_update`` sees to that);
   the database's admins are kept;
3. pushes the project's web app (with egret), whose ``validate_doc_update``
   enforces the roles;
4. installs the design documents ``dirt serve`` reads (``_design/dirt-serve``
   and ``_design/dirt-notify``), so its account needs no admin rights;
5. gives accounts their roles (``--grant ann=operators``), in ``_users``;
6. checks that the server lets the app's scripts run (the attachment
   Content-Security-Policy of CouchDB 3.2+) and, only when asked
   (``csp=True``), sets the policy of :mod:`egret.csp` on every node.

Running it again changes nothing that is already right; after upgrading
dirt, it brings the design documents up to date.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from . import notify, snapshot
from .couch import Database
from .errors import CouchError, DirtError, NotFound

# The default role names, as in web/lib/roles.js (a test checks that they agree).
ROLES = {"reader": "readers", "submitter": "submitters", "operator": "operators", "server": "dirt-server"}


class SetupError(DirtError):
    """A step of dirt setup could not be done; the message says which and why."""

    exit_code = 3


def security(current: dict, members_only: bool) -> dict:
    """The ``_security`` object: the current one's admins and role names, members by ``members_only``."""
    names = {**ROLES, **{k: v for k, v in (current.get("dirt_roles") or {}).items() if isinstance(v, str) and v}}
    admins = current.get("admins") if isinstance(current.get("admins"), dict) else {}
    members_before = current.get("members") if isinstance(current.get("members"), dict) else {}
    wanted = {"admins": {"names": list(admins.get("names") or []), "roles": list(admins.get("roles") or [])}}
    if members_only:
        roles = list(members_before.get("roles") or [])
        roles += [names[d] for d in ("reader", "submitter", "operator", "server") if names[d] not in roles]
        wanted["members"] = {"names": list(members_before.get("names") or []), "roles": roles}
    else:
        wanted["members"] = {"names": [], "roles": []}
    if current.get("dirt_roles"):
        wanted["dirt_roles"] = current["dirt_roles"]
    return wanted


def setup(db: Database, web: Path, login: tuple[str, str] | None, *, members_only: bool = False,
          grants: Iterable[tuple[str, list[str]]] = (), apply_csp: bool = False) -> list[str]:
    """Set up ``db`` for the app in ``web``, as ``login`` (a server admin's: the one ``db`` was
    opened with); what was done, in lines."""
    lines = []
    try:
        if db.exists():
            lines.append(f"database {db.url} exists")
        else:
            db.create()
            lines.append(f"created database {db.url}")
        current = db.security()
        wanted = security(current, members_only)
        kept = {k: v for k, v in current.items() if k not in wanted}
        if {**kept, **wanted} != current:
            db.set_security({**kept, **wanted})
        lines.append(describe_security(wanted, changed={**kept, **wanted} != current))
    except CouchError as exc:
        raise SetupError(f"could not set up the database: {exc} (dirt setup needs a server admin's login: "
                         "give it in the URL, DIRT_COUCHDB_USER/DIRT_COUCHDB_PASSWORD or ~/.netrc)") from None
    lines += push_app(db, web, login, apply_csp)
    for design, install in ((snapshot.DESIGN, snapshot.install), ("dirt-notify", install_notify_views)):
        if not install(db):
            raise SetupError(f"could not write _design/{design}: the login is not a database admin")
    lines.append(f"installed _design/{snapshot.DESIGN} and _design/dirt-notify (what dirt serve reads)")
    for user, roles in grants:
        lines.append(grant(db, user, roles))
    return lines


def describe_security(wanted: dict, changed: bool) -> str:
    verb = "set" if changed else "kept"
    members = wanted["members"]["roles"]
    if members:
        return f"{verb} _security: members-only; members are the roles {', '.join(members)}"
    return f"{verb} _security: anyone may read; writes need a role (submitters, operators, dirt-server)"


def install_notify_views(db: Database) -> bool:
    """Make sure ``_design/dirt-notify`` is current; False if this login may not write it."""
    try:
        current = db.get(notify.DESIGN_ID)
    except NotFound:
        current = {"_id": notify.DESIGN_ID}
    if current.get("views") == notify.views():
        return True
    try:
        db.save({**current, "language": "javascript", "views": notify.views()})
    except CouchError as exc:
        return exc.status not in (401, 403)
    return True


def push_app(db: Database, web: Path, login: tuple[str, str] | None, apply_csp: bool) -> list[str]:
    """Push the web app with egret; check (and with ``apply_csp`` set) the server's attachment policy."""
    from egret import csp
    from egret.couch import Couch, Target
    from egret.errors import EgretError
    from egret.push import push_directory

    lines = []
    target = Target(server=db.server.url, database=db.name, auth=login)
    with Couch(target) as couch:
        try:
            result = push_directory(web, couch)
            lines.append(f"pushed the web app: {result.url}" if result.changed else
                         f"the web app is up to date: {result.url}")
            if apply_csp:
                for node, old in csp.apply(couch):
                    was = old if old is not None else "not set: CouchDB's default, sandbox"
                    lines.append(f"{node}: set [csp] {csp.KEY} = {csp.APP_POLICY} (was: {was})")
            found = csp.check(couch, result.doc_id)
        except EgretError as exc:
            raise SetupError(f"could not push the web app: {exc}") from None
    if found is not None and found.blocked:
        lines.append("warning: " + found.advice(db.url) + "; or run dirt setup --csp")
    elif found is not None:
        lines.append("the server lets the app's scripts run")
    return lines


def grant(db: Database, user: str, roles: list[str]) -> str:
    """Add ``roles`` to the account ``user`` (its ``_users`` document; a server admin's job)."""
    path = f"_users/{quote('org.couchdb.user:' + user, safe='')}"
    try:
        doc = db.server.request("GET", path)
    except NotFound:
        raise SetupError(f"no account {user!r} on {db.server.url}: create it first (a _users document, "
                         "see docs/web.rst, \"Who may do what\")") from None
    have = list(doc.get("roles") or [])
    missing = [r for r in roles if r not in have]
    if not missing:
        return f"{user} has the roles {', '.join(roles)} already"
    doc["roles"] = have + missing
    try:
        db.server.request("PUT", path, json=doc)
    except CouchError as exc:
        raise SetupError(f"could not give {user} the roles {', '.join(missing)}: {exc}") from None
    return f"gave {user} the roles {', '.join(missing)} (now: {', '.join(doc['roles'])})"
