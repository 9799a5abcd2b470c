"""pushdata against real servers (pouchdb-server and Apache CouchDB 3.5)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from egret.cli import main
from egret.couch import Couch, Target
from egret.data import load_documents, push_file
from egret.errors import SourceError
from egret.push import push_directory

DATA = Path(__file__).resolve().parent / "fixtures" / "data"
FIXTURES = DATA.parent

pytestmark = pytest.mark.both_servers


def pushdata(*args: str):
    return CliRunner().invoke(main, ["pushdata", *args])


def test_seed_r123_json(db_url, shown_db_url, http):
    result = pushdata(db_url, str(DATA / "r123.json"))
    assert result.exit_code == 0, result.output
    assert f"stored 2 documents in {shown_db_url}" in result.stdout
    task = http.get(f"{db_url}/2e3dabbff38ca7f6fa05c5a0cbbc95a5").json()
    assert (task["type"], task["record_id"], task["name"]) == ("task", "r123", "compile_hello")
    assert http.get(f"{db_url}/r123").json()["description"] == "this is revision one two three"


def test_a_bare_list_of_documents(db_url, http):
    with Couch(Target.parse(db_url)) as couch:
        result = push_file(DATA / "bare_list.json", couch)
    assert not result.rejected
    assert len(result.written) == 4 and {"r1", "r1-simple", "r1-attachments"} <= set(result.written)
    assert http.get(db_url).json()["doc_count"] == 4


def test_one_document(db_url, http):
    assert pushdata(db_url, str(DATA / "one.json")).exit_code == 0
    assert http.get(f"{db_url}/lonely").json()["description"] == "just one document"


def test_conflicts_are_reported_by_id_and_update_replaces(db_url, http):
    assert pushdata(db_url, str(DATA / "r123.json")).exit_code == 0
    again = pushdata(db_url, str(DATA / "r123.json"))
    assert again.exit_code == 1
    assert "rejected r123: conflict: Document update conflict" in again.stderr
    assert "rejected 2e3dabbff38ca7f6fa05c5a0cbbc95a5: conflict" in again.stderr
    assert "egret: 2 documents were rejected (--update replaces existing documents)" in again.stderr

    updated = pushdata(db_url, str(DATA / "r123.json"), "--update")
    assert updated.exit_code == 0, updated.output
    assert http.get(f"{db_url}/r123").json()["_rev"].startswith("2-")


def test_validate_doc_update_rejections_are_reported_and_the_rest_stored(db_url, tmp_path, http):
    with Couch(Target.parse(db_url)) as couch:
        push_directory(FIXTURES / "sampleapp", couch)
    data = tmp_path / "mixed.json"
    data.write_text('[{"_id": "ok1", "type": "record"}, {"_id": "bad1", "type": "task"},'
                    ' {"_id": "ok2", "type": "task", "record_id": "ok1"}]')
    result = pushdata(db_url, str(data))
    assert result.exit_code == 1
    assert "rejected bad1: forbidden: a task needs a record_id" in result.stderr
    assert result.stderr.splitlines()[-1] == "egret: 1 document was rejected"   # no --update hint: not a conflict
    assert "stored 2 documents" in result.stdout

    # A conflict among validation refusals: the hint says how many it concerns.
    data.write_text('[{"_id": "ok1", "type": "record"}, {"_id": "bad2", "type": "task"}, {"_id": "new", "type": "record"}]')
    result = pushdata(db_url, str(data))
    assert result.stdout.startswith("stored 1 document in ")
    assert result.stderr.splitlines()[-1] == (
        "egret: 2 documents were rejected (1 conflict among them: --update replaces existing documents)")
    assert http.get(f"{db_url}/ok2").status_code == 200
    assert http.get(f"{db_url}/bad1").status_code == 404


def test_creates_the_database(couch, http):
    db = "egret-data-" + uuid.uuid4().hex[:8]
    result = pushdata(f"{couch.auth_url}/{db}", str(DATA / "r123.json"))   # a server admin
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"created database {couch.url}/{db}")
    assert http.get(f"{couch.url}/{db}", auth=couch.admin).json()["doc_count"] == 2
    http.delete(f"{couch.url}/{db}", auth=couch.admin)


def test_invalid_json_names_the_line_and_writes_nothing(couch, tmp_path, http):
    bad = tmp_path / "bad.json"
    bad.write_text('{"docs": [\n  {"_id": "a"},\n  {"_id": "b",}\n]}\n')
    db = "egret-data-" + uuid.uuid4().hex[:8]
    result = pushdata(f"{couch.auth_url}/{db}", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:3: invalid JSON" in result.stderr
    assert http.get(f"{couch.url}/{db}", auth=couch.admin).status_code == 404


@pytest.mark.parametrize("content, problem", [
    ('"just a string"', "expected"),
    ('{"docs": {"_id": "a"}}', '"docs" must be a list'),
    ('[{"_id": "a"}, 42]', "document 2 is not a JSON object"),
    ('[{"_id": 7}]', "_id must be a string"),
])
def test_file_shapes_that_are_refused(tmp_path, content, problem):
    path = tmp_path / "data.json"
    path.write_text(content)
    with pytest.raises(SourceError, match=problem):
        load_documents(path)


def test_secure_server_with_credentials_in_url(secure_couch, http):
    db = "egret-data-" + uuid.uuid4().hex[:8]
    result = pushdata(f"{secure_couch.auth_url}/{db}", str(DATA / "bare_list.json"))
    assert result.exit_code == 0, result.output
    assert secure_couch.admin[1] not in result.output
    assert http.get(f"{secure_couch.url}/{db}", auth=secure_couch.admin).json()["doc_count"] == 4
    http.delete(f"{secure_couch.url}/{db}", auth=secure_couch.admin)


def test_secure_server_without_credentials(secure_couch):
    result = pushdata(f"{secure_couch.url}/egret-data-denied", str(DATA / "r123.json"))
    assert result.exit_code == 1
    assert "401" in result.stderr and "COUCHDB_USER" in result.stderr
