"""Pushing apps to a real server (pouchdb-server and Apache CouchDB 3.5), then using what was pushed."""
from __future__ import annotations

import hashlib
import json
import os
import uuid

import httpx
import pytest
from click.testing import CliRunner

from egret.cli import main
from egret.couch import Couch, Target
from egret.errors import Conflict, NotAuthorized, ServerUnreachable, SourceError
from egret.push import push_directory
from servers import free_port

pytestmark = pytest.mark.both_servers


class RecordingCouch(Couch):
    """A real client whose requests are also noted: (method, url, body size)."""

    def __init__(self, target: Target):
        self.requests: list[tuple[str, str, int]] = []

        def note(request: httpx.Request) -> None:
            self.requests.append((request.method, str(request.url), int(request.headers.get("content-length", 0))))

        super().__init__(target, client=httpx.Client(
            auth=httpx.BasicAuth(*target.auth) if target.auth else None, timeout=30,
            event_hooks={"request": [note]},
        ))

    def writes(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[0] != "GET"]


@pytest.fixture
def couch_client(db_url):
    with RecordingCouch(Target.parse(db_url)) as couch:
        yield couch


def test_pushed_couchapp_works(sample_app, couch_client, db_url, shown_db_url, http):
    result = push_directory(sample_app, couch_client)
    assert result.changed and result.rev.startswith("1-")
    assert result.url == f"{shown_db_url}/_design/sample/index.html"

    # the page and its files, served with their content types
    page = http.get(result.url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Sample</h1>" in page.text
    for name, content_type in [("css/style.css", "text/css"), ("img/dot.png", "image/png"),
                               ("vendor/jquery.min.js", "application/javascript"), ("deep/a/b/c.txt", "text/plain")]:
        response = http.get(f"{db_url}/_design/sample/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(content_type), name
        if not name.startswith("vendor/"):
            assert response.content == (sample_app / "_attachments" / name).read_bytes(), name
    assert "jQuery v3.7.1" in http.get(f"{db_url}/_design/sample/vendor/jquery.min.js").text

    # data for the functions
    docs = [{"_id": "r1", "type": "record"}, {"_id": "t1", "type": "task", "record_id": "r1"},
            {"_id": "t2", "type": "task", "record_id": "r1"}]
    assert http.post(f"{db_url}/_bulk_docs", json={"docs": docs}).status_code == 201

    # a view with a built-in reduce
    grouped = http.get(f"{db_url}/_design/sample/_view/by_type", params={"group": "true"}).json()
    assert {row["key"]: row["value"] for row in grouped["rows"]} == {"record": 1, "task": 2}
    # a show
    assert http.get(f"{db_url}/_design/sample/_show/item/t1").text == "item t1 is a task"
    # a list over the view
    listed = http.get(f"{db_url}/_design/sample/_list/ids/by_type", params={"reduce": "false", "key": '"task"'})
    assert listed.text == "t1,t2"
    # a filter on _changes
    changes = http.get(f"{db_url}/_changes", params={"filter": "sample/tasks"}).json()
    assert sorted(row["id"] for row in changes["results"]) == ["t1", "t2"]
    # validate_doc_update rejecting a document
    rejected = http.put(f"{db_url}/t3", json={"type": "task"})
    assert rejected.status_code == 403
    assert rejected.json()["reason"] == "a task needs a record_id"


def test_unchanged_push_writes_nothing(sample_app, couch_client, db_url, shown_db_url, http):
    first = push_directory(sample_app, couch_client)
    seq = http.get(db_url).json()["update_seq"]
    couch_client.requests.clear()

    second = push_directory(sample_app, couch_client)
    assert not second.changed
    assert second.rev == first.rev
    assert couch_client.writes() == []
    assert http.get(db_url).json()["update_seq"] == seq

    result = CliRunner().invoke(main, ["push", db_url, str(sample_app)])
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == f"{shown_db_url}/_design/sample/index.html"
    assert http.get(db_url).json()["update_seq"] == seq


def test_changed_css_sends_only_the_css(sample_app, couch_client, db_url, http):
    push_directory(sample_app, couch_client)
    (sample_app / "_attachments" / "css" / "style.css").write_text("body { color: red; }\n")
    couch_client.requests.clear()

    result = push_directory(sample_app, couch_client)
    assert result.uploaded == [("css/style.css", 21)]
    assert not result.fields_changed and result.rev.startswith("2-")
    (write,) = couch_client.writes()
    assert write[0] == "PUT" and write[1].endswith("/_design/sample")
    assert write[2] < 10_000  # jQuery (87 kB) and the other files were not sent again
    assert http.get(f"{db_url}/_design/sample/css/style.css").text == "body { color: red; }\n"
    assert http.get(f"{db_url}/_design/sample/img/dot.png").content == (sample_app / "_attachments/img/dot.png").read_bytes()


def test_view_change_and_removed_attachment(sample_app, couch_client, db_url, http):
    push_directory(sample_app, couch_client)
    (sample_app / "views" / "by_type" / "reduce.js").write_text("_sum")
    (sample_app / "_attachments" / "deep" / "a" / "b" / "c.txt").unlink()
    result = push_directory(sample_app, couch_client)
    assert result.fields_changed and result.uploaded == [] and result.removed == ["deep/a/b/c.txt"]
    ddoc = http.get(f"{db_url}/_design/sample").json()
    assert ddoc["views"]["by_type"]["reduce"] == "_sum"
    assert "deep/a/b/c.txt" not in ddoc["_attachments"]
    assert http.get(f"{db_url}/_design/sample/deep/a/b/c.txt").status_code == 404


def test_big_attachment_is_streamed_not_inlined(sample_app, couch_client, db_url, http):
    big = os.urandom(4 * 1024 * 1024) * 5  # 20 MiB
    (sample_app / "_attachments" / "data").mkdir()
    (sample_app / "_attachments" / "data" / "big file.bin").write_bytes(big)
    result = push_directory(sample_app, couch_client)
    assert ("data/big file.bin", len(big)) in result.uploaded
    raw_put = [w for w in couch_client.writes() if "/_design/sample/data/big%20file.bin" in w[1]]
    assert [size for _, _, size in raw_put] == [len(big)]
    doc_put = [w for w in couch_client.writes() if w[1].split("?")[0].endswith("/_design/sample")]
    assert doc_put and max(size for _, _, size in doc_put) < 1_000_000
    served = http.get(f"{db_url}/_design/sample/data/big%20file.bin")
    assert hashlib.md5(served.content).hexdigest() == hashlib.md5(big).hexdigest()
    # and a second push finds it unchanged
    couch_client.requests.clear()
    assert not push_directory(sample_app, couch_client).changed
    assert couch_client.writes() == []


def test_doc_changed_or_deleted_on_the_server_is_put_right(sample_app, couch_client, db_url, http):
    push_directory(sample_app, couch_client)
    ddoc = http.get(f"{db_url}/_design/sample").json()
    ddoc["views"]["by_type"]["map"] = "function (doc) {}"
    del ddoc["_attachments"]["css/style.css"]
    assert http.put(f"{db_url}/_design/sample", json=ddoc).status_code == 201
    result = push_directory(sample_app, couch_client)
    assert result.fields_changed and result.uploaded == [("css/style.css", 22)]
    assert http.get(f"{db_url}/_design/sample/css/style.css").status_code == 200

    rev = http.get(f"{db_url}/_design/sample").json()["_rev"]
    assert http.delete(f"{db_url}/_design/sample", params={"rev": rev}).status_code == 200
    result = push_directory(sample_app, couch_client)
    assert result.changed
    assert http.get(result.url).status_code == 200


def test_write_racing_another_writer_is_retried_once(sample_app, db_url, http):
    """A real 409: another writer updates the design doc between egret's read and write.

    The race is made deterministic by writing from inside get_document, the
    only way to produce it on demand; the server and the conflict are real.
    """
    races = []

    class RacedCouch(Couch):
        def get_document(self, doc_id):
            doc = super().get_document(doc_id)
            if len(races) < self.races and doc is not None:
                races.append(doc["_rev"])
                http.put(f"{db_url}/{doc_id}", json=dict(doc, touched=len(races))).raise_for_status()
            return doc

    setup = Couch(Target.parse(db_url))
    push_directory(sample_app, setup)
    (sample_app / "_attachments" / "css" / "style.css").write_text("p { margin: 0 }\n")

    RacedCouch.races = 1
    with RacedCouch(Target.parse(db_url)) as couch:
        result = push_directory(sample_app, couch)
    assert result.changed and len(races) == 1
    ddoc = http.get(f"{db_url}/_design/sample").json()
    assert "touched" not in ddoc  # egret's version won, from a fresh read
    assert http.get(f"{db_url}/_design/sample/css/style.css").text == "p { margin: 0 }\n"

    (sample_app / "_attachments" / "css" / "style.css").write_text("p { margin: 1px }\n")
    races.clear()
    RacedCouch.races = 2
    with RacedCouch(Target.parse(db_url)) as couch, pytest.raises(Conflict):
        push_directory(sample_app, couch)
    setup.close()


def test_attachment_names_and_ids_are_url_encoded(tmp_path, db_url, shown_db_url, http):
    app = tmp_path / "app"
    (app / "_attachments" / "my docs").mkdir(parents=True)
    (app / "_attachments" / "my docs" / "read me#1 é.txt").write_text("hello\n")
    (app / "_attachments" / "index.html").write_text("<p>hi</p>\n")
    (app / "_id").write_text("_design/my app")
    with Couch(Target.parse(db_url)) as couch:
        result = push_directory(app, couch)
    assert result.url == f"{shown_db_url}/_design/my%20app/index.html"
    assert http.get(result.url).text == "<p>hi</p>\n"
    assert http.get(f"{db_url}/_design/my%20app/my%20docs/read%20me%231%20%C3%A9.txt").text == "hello\n"


def test_push_creates_the_database_and_prints_the_index_url(couch, pages_app, http):
    db = "egret-new-" + uuid.uuid4().hex[:8]
    result = CliRunner().invoke(main, ["push", f"{couch.auth_url}/{db}", str(pages_app)])   # a server admin
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"created database {couch.url}/{db}"
    assert "index.html (" in lines[1] and "vendor/jquery.min.js (87.5 kB)" in lines[1]
    assert lines[-1] == f"{couch.url}/{db}/_design/pages/index.html"
    page = http.get(lines[-1], auth=couch.admin).text
    assert f'data-database="{db}"' in page  # the database it was pushed to, in the template context
    http.delete(f"{couch.url}/{db}", auth=couch.admin)


def test_compile_error_writes_nothing(couch, sample_app, http):
    db = "egret-never-" + uuid.uuid4().hex[:8]
    (sample_app / "rewrites.json").write_text("[{]")
    result = CliRunner().invoke(main, ["push", f"{couch.auth_url}/{db}", str(sample_app)])
    assert result.exit_code == 1
    assert "rewrites.json:1: invalid JSON" in result.stderr
    assert http.get(f"{couch.url}/{db}", auth=couch.admin).status_code == 404  # not even the database


def test_unreachable_server_is_one_clear_line(sample_app):
    url = f"http://127.0.0.1:{free_port()}/db"
    result = CliRunner().invoke(main, ["push", url, str(sample_app)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"egret: cannot reach {url}")
    assert result.stderr.count("\n") == 1
    with Couch(Target.parse(url)) as couch, pytest.raises(ServerUnreachable):
        push_directory(sample_app, couch)


def test_invalid_database_name_is_refused_before_any_request(couch, sample_app, http):
    result = CliRunner().invoke(main, ["push", f"{couch.auth_url}/Bad_Name", str(sample_app)])
    assert result.exit_code == 1
    assert "not a valid CouchDB database name" in result.stderr
    assert http.get(f"{couch.url}/Bad_Name", auth=couch.admin).status_code in (400, 404)


# --- a server with an admin, like Apache CouchDB 3 ---------------------------


def test_push_with_credentials_in_the_url_never_prints_them(secure_couch, sample_app, http):
    db = "egret-secure-" + uuid.uuid4().hex[:8]
    result = CliRunner().invoke(main, ["push", f"{secure_couch.auth_url}/{db}", str(sample_app)])
    assert result.exit_code == 0, result.output
    assert secure_couch.admin[1] not in result.output
    assert result.stdout.strip().splitlines()[-1] == f"{secure_couch.url}/{db}/_design/sample/index.html"
    served = http.get(f"{secure_couch.url}/{db}/_design/sample/css/style.css", auth=secure_couch.admin)
    assert served.text == "body { color: #333; }\n"
    http.delete(f"{secure_couch.url}/{db}", auth=secure_couch.admin)


def test_push_with_netrc_credentials(secure_couch, sample_app, clean_environment, http):
    name, password = secure_couch.admin
    (clean_environment / ".netrc").write_text(f"machine 127.0.0.1\n  login {name}\n  password {password}\n")
    db = "egret-netrc-" + uuid.uuid4().hex[:8]
    result = CliRunner().invoke(main, ["-v", "push", f"{secure_couch.url}/{db}", str(sample_app)])
    assert result.exit_code == 0, result.output
    assert password not in result.output
    assert http.get(f"{secure_couch.url}/{db}/_design/sample", auth=secure_couch.admin).status_code == 200
    http.delete(f"{secure_couch.url}/{db}", auth=secure_couch.admin)


@pytest.mark.parametrize("variables", ["COUCHDB", "DIRT_COUCHDB"])
def test_push_with_environment_credentials(secure_couch, sample_app, monkeypatch, http, variables):
    monkeypatch.setenv(f"{variables}_USER", secure_couch.admin[0])
    monkeypatch.setenv(f"{variables}_PASSWORD", secure_couch.admin[1])
    db = "egret-env-" + uuid.uuid4().hex[:8]
    result = CliRunner().invoke(main, ["push", f"{secure_couch.url}/{db}", str(sample_app)])
    assert result.exit_code == 0, result.output
    http.delete(f"{secure_couch.url}/{db}", auth=secure_couch.admin)


def test_wrong_password_is_a_clear_401(secure_couch, sample_app):
    url = f"http://admin:wrong-pw@127.0.0.1:{secure_couch.port}/egret-denied"
    result = CliRunner().invoke(main, ["push", url, str(sample_app)])
    assert result.exit_code == 1
    assert "401" in result.stderr and "check the user name and password" in result.stderr
    assert "wrong-pw" not in result.output
    assert result.stderr.count("\n") == 1


def test_no_credentials_is_a_clear_401(secure_couch, sample_app):
    with Couch(Target.parse(f"{secure_couch.url}/egret-denied"), timeout=10) as couch:
        with pytest.raises(NotAuthorized) as caught:
            push_directory(sample_app, couch)
    assert caught.value.status == 401
    assert "COUCHDB_USER" in str(caught.value)


def test_broken_app_raises_before_connecting(sample_app):
    (sample_app / "views" / "by_type" / "map.js").unlink()
    with Couch(Target.parse(f"http://127.0.0.1:{free_port()}/db")) as couch, pytest.raises(SourceError):
        push_directory(sample_app, couch)


def test_compiled_json_is_what_was_pushed(sample_app, db_url, http):
    with Couch(Target.parse(db_url)) as couch:
        push_directory(sample_app, couch)
    compiled = json.loads(CliRunner().invoke(main, ["compile", str(sample_app), "--stubs"]).stdout)
    stored = http.get(f"{db_url}/_design/sample").json()
    for key in ("_rev", "_attachments"):
        stored.pop(key), compiled.pop(key, None)
    assert stored == compiled


def test_first_push_of_many_files_stays_brief(tmp_path, db_url):
    app = tmp_path / "many"
    (app / "_attachments").mkdir(parents=True)
    for number in range(30):
        (app / "_attachments" / f"page{number:02}.html").write_text("<p>x</p>\n" * 100)
    result = CliRunner().invoke(main, ["push", db_url, str(app)])
    assert result.exit_code == 0, result.output
    uploaded = result.stdout.splitlines()[0]
    assert uploaded.startswith("uploaded page00.html (900 B), page01.html (900 B)")
    assert uploaded.endswith("and 19 more (103.7 kB)")  # 18 pages and jQuery (87.5 kB)
