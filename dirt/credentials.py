"""Who dirt is to CouchDB: egret's rule (:mod:`egret.credentials`), so a user
who logs in for one is logged in for the other.

1. the URL's user-info: ``http://USER:PASSWORD@host:5984``;
2. ``DIRT_COUCHDB_USER`` and ``DIRT_COUCHDB_PASSWORD``;
3. ``COUCHDB_USER`` and ``COUCHDB_PASSWORD`` (what CouchDB's own images use);
4. the netrc file (``$NETRC``, else ``~/.netrc``): the entry for the host.

egret must not import dirt, so the rule lives there and dirt takes it from
there; tests/test_credentials.py runs one contract test against each tool.
"""
from egret.credentials import (DB_NAME_RULE, ENVIRONMENT, HINT, SYSTEM_DATABASES, database_name_problem,
                               find_credentials, netrc_credentials, netrc_path, redact)

__all__ = ["DB_NAME_RULE", "ENVIRONMENT", "HINT", "SYSTEM_DATABASES", "database_name_problem", "find_credentials",
           "netrc_credentials", "netrc_path", "redact"]
