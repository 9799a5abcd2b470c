"""Who egret (and dirt) is to CouchDB: where credentials come from, and how they are hidden.

egret and dirt follow this one rule (dirt takes it from here, in
``dirt/credentials.py``; egret must not import dirt), so a user who logs in
for one is logged in for the other:

1. the URL's user-info: ``http://USER:PASSWORD@host:5984``;
2. ``DIRT_COUCHDB_USER`` and ``DIRT_COUCHDB_PASSWORD``;
3. ``COUCHDB_USER`` and ``COUCHDB_PASSWORD`` (what CouchDB's own images use);
4. the netrc file (``$NETRC``, else ``~/.netrc``): the entry for the host.

The first source that names a user wins; its password may be empty. A netrc
file that cannot be parsed is ignored with a warning that never quotes it;
one that other users can read is used, with a warning to ``chmod 600`` it. Credentials go out as HTTP basic auth,
never in a URL that is shown: :func:`redact` masks the password of every URL
in a message. Database names are checked against Apache CouchDB's rule
before any request, on every server (pouchdb-server accepts more).
"""
from __future__ import annotations

import logging
import netrc
import os
import re
import stat
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

ENVIRONMENT = (("DIRT_COUCHDB_USER", "DIRT_COUCHDB_PASSWORD"), ("COUCHDB_USER", "COUCHDB_PASSWORD"))
# Where to put credentials, in words: said after "this server needs credentials: ".
HINT = ("give them in the URL (http://USER:PASSWORD@host:port), in DIRT_COUCHDB_USER and "
        "DIRT_COUCHDB_PASSWORD (or COUCHDB_USER and COUCHDB_PASSWORD), or in ~/.netrc")

DB_NAME = re.compile(r"^[a-z][a-z0-9_$()+/-]*$")
SYSTEM_DATABASES = ("_users", "_replicator", "_global_changes")
DB_NAME_RULE = ("not a valid CouchDB database name: it must start with a lowercase letter and hold only "
                "lowercase letters, digits and _$()+-/ (at most 238 characters)")

# scheme://USERINFO@ up to the last @ before the path: a password may hold an unencoded @.
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s?#]*)@")


def redact(text: str) -> str:
    """``text`` (a URL, or a message holding URLs) with every password replaced by ``***``.

    The user name stays, so a message can still say who was refused.
    """
    def mask(match: re.Match) -> str:
        user, colon, _ = match.group(2).partition(":")
        return f"{match.group(1)}{user}:***@" if colon else match.group(0)
    return _USERINFO.sub(mask, text)


def database_name_problem(name: str) -> str | None:
    """Why Apache CouchDB would refuse ``name`` as a database name (``"not a valid ..."``), or None."""
    if name in SYSTEM_DATABASES:
        return None
    if not name or len(name) > 238 or not DB_NAME.match(name):
        return DB_NAME_RULE
    return None


def find_credentials(url: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The (user, password) to send to the server of ``url``, or None (see the module docstring)."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.username is not None:
        return unquote(parts.username), unquote(parts.password or "")
    for user_var, password_var in ENVIRONMENT:
        if environ.get(user_var):
            return environ[user_var], environ.get(password_var, "")
    return netrc_credentials(parts.hostname or "", environ)


def netrc_path(environ: Mapping[str, str]) -> str:
    """The netrc file: ``$NETRC``, else ``~/.netrc`` (``HOME`` from ``environ``)."""
    if environ.get("NETRC"):
        return environ["NETRC"]
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".netrc")


def netrc_credentials(host: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The netrc entry for ``host`` (or its ``default`` entry), or None."""
    path = netrc_path(environ)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except netrc.NetrcParseError as exc:   # its message may quote a password: only say where
        log.warning("ignoring %s: it cannot be parsed (line %s)", path, exc.lineno)
        return None
    except OSError as exc:
        log.warning("ignoring %s: %s", path, exc.strerror or exc)
        return None
    if not entry or not entry[0]:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s holds a password and other users can read it: chmod 600 %s", path, path)
    return entry[0], entry[2] or ""
