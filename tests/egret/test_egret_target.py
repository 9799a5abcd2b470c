"""Reading targets: URL forms, database names, where credentials come from."""
from __future__ import annotations

import pytest

from egret.couch import Target, quote_attachment, quote_doc_id, redact
from egret.errors import InvalidTarget


def test_bare_name_means_localhost():
    target = Target.parse("builder", environ={})
    assert (target.server, target.database, target.auth) == ("http://localhost:5984", "builder", None)
    assert target.url == "http://localhost:5984/builder"


def test_url_credentials_move_out_of_the_url():
    target = Target.parse("https://admin:p%40ss%3Aword@couch.example.org:6984/myproject/", environ={})
    assert target.server == "https://couch.example.org:6984"
    assert target.database == "myproject"
    assert target.auth == ("admin", "p@ss:word")
    assert "p@ss" not in repr(target) and "p@ss" not in target.url


def test_path_prefix_and_encoded_slash_in_database_name():
    target = Target.parse("http://proxy:8080/couch/team%2Fdb", environ={})
    assert target.server == "http://proxy:8080/couch"
    assert target.database == "team/db"
    assert target.url == "http://proxy:8080/couch/team%2Fdb"


@pytest.mark.parametrize("spec", ["Builder", "my db", "9lives", "http://localhost:5984/Bad", "localhost:5984/db"])
def test_names_couchdb_rejects(spec):
    with pytest.raises(InvalidTarget, match="not a valid CouchDB database name"):
        Target.parse(spec, environ={})


@pytest.mark.parametrize("spec", ["http://localhost:5984", "http://localhost:5984/", "ftp://host/db", "http://host/db?x=1"])
def test_urls_egret_cannot_use(spec):
    with pytest.raises(InvalidTarget):
        Target.parse(spec, environ={})


def test_system_database_names_are_allowed():
    assert Target.parse("_users", environ={}).database == "_users"


def test_credentials_from_environment_variables():
    target = Target.parse("http://h:5984/db", environ={"COUCHDB_USER": "u", "COUCHDB_PASSWORD": "pw"})
    assert target.auth == ("u", "pw")


def test_url_credentials_win_over_the_environment():
    target = Target.parse("http://a:b@h:5984/db", environ={"COUCHDB_USER": "u", "COUCHDB_PASSWORD": "pw"})
    assert target.auth == ("a", "b")


def test_credentials_from_netrc_for_the_host(tmp_path):
    (tmp_path / ".netrc").write_text("machine other login x password y\nmachine couch.local login me password secret\n")
    target = Target.parse("http://couch.local:5984/db", environ={"HOME": str(tmp_path)})
    assert target.auth == ("me", "secret")
    assert Target.parse("http://elsewhere:5984/db", environ={"HOME": str(tmp_path)}).auth is None


def test_netrc_file_named_by_NETRC(tmp_path):
    (tmp_path / "creds").write_text("machine localhost login me password secret\n")
    assert Target.parse("db", environ={"NETRC": str(tmp_path / "creds")}).auth == ("me", "secret")


def test_redact_hides_only_the_password():
    assert redact("http://admin:s3cret@host:5984/db") == "http://admin:***@host:5984/db"
    assert redact("http://host:5984/db") == "http://host:5984/db"


def test_quoting_of_ids_and_attachment_names():
    assert quote_doc_id("_design/my app") == "_design/my%20app"
    assert quote_doc_id("a/b") == "a%2Fb"
    assert quote_attachment("css/a b.css") == "css/a%20b.css"
    assert quote_attachment("100%/é.txt") == "100%25/%C3%A9.txt"
