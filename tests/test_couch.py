"""dirt's CouchDB layer, against pouchdb-server and Apache CouchDB 3.5."""
import httpx
import pytest

from dirt.couch import Database, split_credentials
from dirt.errors import Conflict, CouchError, DatabaseMissing, NotFound, Unreachable
from servers import free_port

pytestmark = pytest.mark.both_servers


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


def test_unreachable_server_is_a_clear_error():
    port = free_port()
    db = Database.from_url(f"http://user:pw@127.0.0.1:{port}/x")
    with pytest.raises(Unreachable) as err:
        db.info()
    assert f"127.0.0.1:{port}" in str(err.value) and "pw" not in str(err.value)


def test_split_credentials():
    # Where credentials come from, and the masking: tests/test_credentials.py (dirt and egret alike).
    assert split_credentials("https://u:p%40ss@h:6984/") == ("https://h:6984", ("u", "p@ss"))
    with pytest.raises(CouchError):
        split_credentials("localhost:5984")


def test_bad_database_name_is_refused_before_any_request(couch):
    with pytest.raises(CouchError) as err:
        Database.from_url(couch.url, "Bad Name!").create()
    assert "'Bad Name!' is not a valid CouchDB database name" in str(err.value)


def test_a_missing_database_says_which_where_and_how_to_create_it(couch, db_name):
    server = couch.user_url
    misspelt = db_name[:-1] + ("x" if db_name[-1] != "x" else "y")
    db = Database.from_url(server, misspelt)
    assert db.exists() is False
    for call in (db.info, db.all_docs, lambda: db.get("doc"), lambda: db.changes()):
        with pytest.raises(DatabaseMissing) as err:
            call()
        message = str(err.value)
        assert f"the database {misspelt!r} does not exist on {couch.url}" in message
        assert f"curl -X PUT {couch.url}/{misspelt}" in message and "dirt serve" in message
        assert "_all_docs" not in message and "no_db_file" not in message
    # Where the account may list the databases (pouchdb-server), a close name is offered.
    if couch.kind == "pouchdb":
        assert f"did you mean {db_name!r}?" in message


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
