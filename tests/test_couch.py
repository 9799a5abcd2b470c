"""dirt's CouchDB layer against real pouchdb-servers, one of them with an admin."""
import httpx
import pytest

from dirt.couch import Database, redact, split_credentials
from dirt.errors import Conflict, CouchError, NotFound, Unauthorized, Unreachable
from servers import free_port


def test_save_get_conflict_and_bulk(db_url):
    db = Database.from_url(db_url)
    doc = db.save({"_id": "a b/c", "type": "record"})
    assert db.get("a b/c")["_rev"] == doc["_rev"]
    stale = dict(doc)
    db.save(doc)
    with pytest.raises(Conflict):
        db.save(stale)
    with pytest.raises(NotFound):
        db.get("nope")
    results = {r["id"]: r for r in db.bulk_docs([{"_id": "x"}, {"_id": "a b/c"}])}  # any order
    assert "rev" in results["x"] and "error" not in results["x"]
    assert results["a b/c"]["error"] == "conflict"


def test_credentials_from_url_env_and_netrc(secure_couch, tmp_path, monkeypatch):
    name = "creds"
    url = secure_couch.auth_url
    Database.from_url(url, name).create()
    # Members-only, as CouchDB 3 makes new databases by default.
    httpx.put(f"{secure_couch.url}/{name}/_security", auth=secure_couch.admin,
              json={"admins": {"names": ["admin"]}, "members": {"names": ["admin"]}}).raise_for_status()
    host_url = secure_couch.url
    with pytest.raises(Unauthorized) as err:
        Database.from_url(host_url, name).info()
    assert "needs credentials" in str(err.value)

    monkeypatch.setenv("DIRT_COUCHDB_USER", "admin")
    monkeypatch.setenv("DIRT_COUCHDB_PASSWORD", "s3cret-pw")
    assert Database.from_url(host_url, name).info()["db_name"] == name
    monkeypatch.delenv("DIRT_COUCHDB_USER")
    monkeypatch.delenv("DIRT_COUCHDB_PASSWORD")

    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login admin password s3cret-pw\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Database.from_url(host_url, name).info()["db_name"] == name

    wrong = host_url.replace("http://", "http://admin:wrong@")
    with pytest.raises(Unauthorized) as err:
        Database.from_url(wrong, name).info()
    assert "wrong" not in str(err.value) and "check the user name and password" in str(err.value)


def test_unreachable_server_is_a_clear_error():
    port = free_port()
    db = Database.from_url(f"http://user:pw@127.0.0.1:{port}/x")
    with pytest.raises(Unreachable) as err:
        db.info()
    assert f"127.0.0.1:{port}" in str(err.value) and "pw" not in str(err.value)


def test_redact_and_split():
    assert redact("http://a:b@h:5984/db") == "http://***@h:5984/db"
    assert redact("http://h:5984/db") == "http://h:5984/db"
    assert split_credentials("https://u:p%40ss@h:6984/")[1] == ("u", "p@ss")
    with pytest.raises(CouchError):
        split_credentials("localhost:5984")


def test_bad_database_name(couch):
    with pytest.raises(CouchError) as err:
        Database.from_url(couch.url, "Bad Name!").create()
    assert "database name" in str(err.value)


def test_longpoll_changes_returns_when_a_doc_arrives(db_url):
    import threading
    import time

    db = Database.from_url(db_url)
    seq = db.changes()["last_seq"]
    threading.Timer(0.3, lambda: httpx.put(f"{db_url}/late", json={"v": 1})).start()
    start = time.monotonic()
    answer = db.changes(seq, feed="longpoll", include_docs=True, timeout=10)
    assert [r["id"] for r in answer["results"]] == ["late"]
    assert time.monotonic() - start < 5
