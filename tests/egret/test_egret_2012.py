"""What the 2012 egret did, on a real pouchdb-server: push a dirt 0.6 ``web/``
as it is, ``egret create`` and ``egret createdb``, and bare database names."""
from __future__ import annotations

import os
import shutil
import struct
import uuid
import zlib

import pytest
from click.testing import CliRunner

from egret.cli import main

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

NOT_READ = 'not part of the app (to push it as a field, list it in "fields" of the "egret" options)'


def egret(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def png(width: int, height: int, noise: bytes = b"") -> bytes:
    """A valid PNG image (RGB), with ``noise`` in a private chunk to make it as big as wanted."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes((x + y) % 256 for x in range(width * 3)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + (chunk(b"prVt", noise) if noise else b"") + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def web_2012(tmp_path):
    """A copy of a dirt 0.6 project's web/: ./egret, test_data.json, README, editor files and all."""
    web = tmp_path / "builder" / "web"
    shutil.copytree(os.path.join(FIXTURES, "seedapp"), web)
    assert os.access(web / "egret", os.X_OK)
    return web


def test_a_2012_web_directory_pushes_unchanged_from_inside_it(web_2012, db_url, http, monkeypatch):
    small = (web_2012 / "attachments" / "img" / "logo.png").read_bytes()
    big = png(64, 64, noise=os.urandom(1_500_000))  # over 1 MiB: uploaded on its own, streamed
    (web_2012 / "attachments" / "img" / "big.png").write_bytes(big)
    monkeypatch.chdir(web_2012)  # as in `cd web && ./egret push URL`

    result = egret("push", "-v", db_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == f"{db_url}/_design/builder/index.html"
    for name in ("egret", "test_data.json", "README", "#settings.json#"):
        assert f"egret: skipped {name}: {NOT_READ}" in result.stderr
    assert "egret: skipped .settings.json.swp: a dotfile" in result.stderr
    assert "egret: skipped views/records/map.js~: an editor backup (ends with ~)" in result.stderr

    ddoc = http.get(f"{db_url}/_design/builder").json()
    assert set(ddoc) == {"_id", "_rev", "_attachments", "egret", "designname", "name", "description",
                         "language", "views", "lists", "filters"}
    for name, data in (("img/logo.png", small), ("img/big.png", big)):
        served = http.get(f"{db_url}/_design/builder/{name}")
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        assert served.content == data, name  # byte for byte
    assert "<h1>" in http.get(f"{db_url}/_design/builder/index.html").text

    # The app works: its view and its list answer over the 2012 sample data.
    assert egret("pushdata", db_url, "test_data.json").exit_code == 0
    rows = http.get(f"{db_url}/_design/builder/_view/tasks_by_record").json()["rows"]
    assert [(row["key"], row["value"]) for row in rows] == [("r123", "examples.simple")]
    listed = http.get(f"{db_url}/_design/builder/_list/index/tasks_by_record")
    assert listed.text == "r123-simple"

    again = egret("push", db_url)
    assert again.exit_code == 0 and "is up to date" in again.stdout and "skipped" not in again.stderr


def test_a_push_without_v_does_not_list_the_skipped_files(web_2012, db_url):
    result = egret("push", db_url, str(web_2012))
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output


# --- egret create ------------------------------------------------------------


def test_egret_create_makes_an_app_that_works_once_pushed(tmp_path, db_url, http, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = egret("create", "shop")
    assert result.exit_code == 0, result.output
    app = tmp_path / "shop"
    for folder in ("views", "shows", "lists", "updates", "filters", "_attachments"):
        assert (app / folder).is_dir(), folder
    assert "wrote shop/settings.json" in result.stdout

    pushed = egret("push", db_url, "shop")
    assert pushed.exit_code == 0, pushed.output
    assert pushed.stdout.strip().splitlines()[-1] == f"{db_url}/_design/shop/index.html"
    http.post(f"{db_url}/_bulk_docs", json={"docs": [{"type": "fruit"}, {"type": "fruit"}, {"type": "veg"}]})
    page = http.get(f"{db_url}/_design/shop/index.html")
    assert page.status_code == 200 and "<h1>shop</h1>" in page.text
    assert '<script src="app.js"></script>' in page.text
    assert http.get(f"{db_url}/_design/shop/app.js").headers["content-type"].startswith("application/javascript")
    # the page's relative link to its view works from where the page is served
    view = http.get(f"{db_url}/_design/shop/_view/by_type", params={"group": "true"}).json()
    assert {row["key"]: row["value"] for row in view["rows"]} == {"fruit": 2, "veg": 1}


def test_egret_create_in_the_current_directory_and_never_over_a_file(tmp_path, monkeypatch):
    app = tmp_path / "here"
    app.mkdir()
    (app / "README").write_text("mine\n")
    monkeypatch.chdir(app)
    assert egret("create").exit_code == 0
    assert (app / "settings.json").is_file() and (app / "README").read_text() == "mine\n"
    (app / "_attachments" / "style.css").write_text("/* edited */\n")
    again = egret("create")
    assert again.exit_code == 1
    assert "settings.json: already exists; egret create never overwrites" in again.stderr
    assert (app / "_attachments" / "style.css").read_text() == "/* edited */\n"


# --- egret createdb ----------------------------------------------------------


def test_createdb_creates_and_then_says_it_exists(couch, http):
    url = f"{couch.url}/egret-created-{uuid.uuid4().hex[:8]}"
    first = egret("createdb", url)
    assert first.exit_code == 0, first.output
    assert first.stdout == f"created database {url}\n"
    assert http.get(url).status_code == 200
    second = egret("createdb", url)
    assert second.exit_code == 1
    assert second.stderr == f"egret: the database {url} already exists; nothing to do\n"
    http.delete(url)


def test_createdb_bad_name_is_refused_before_any_request(couch):
    result = egret("createdb", f"{couch.url}/My_Project")
    assert result.exit_code == 1
    assert "My_Project: not a valid CouchDB database name" in result.stderr


def test_createdb_without_rights_says_an_admin_is_needed(secure_couch, http):
    db = f"egret-norights-{uuid.uuid4().hex[:8]}"
    anonymous = egret("createdb", f"{secure_couch.url}/{db}")
    assert anonymous.exit_code == 1
    assert "creating a database needs a server admin" in anonymous.stderr
    assert "COUCHDB_USER" in anonymous.stderr  # how to give credentials

    wrong = egret("createdb", f"http://admin:not-it@127.0.0.1:{secure_couch.port}/{db}")
    assert wrong.exit_code == 1
    assert "401" in wrong.stderr and "check the user name and password" in wrong.stderr
    assert "not-it" not in wrong.output
    assert http.get(f"{secure_couch.url}/{db}", auth=secure_couch.admin).status_code == 404


# --- bare database names -----------------------------------------------------


def test_a_bare_name_says_which_server_it_used(couch, web_2012, http, monkeypatch):
    db = f"egret-bare-{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(web_2012)
    result = egret("push", db, env={"DIRT_COUCHDB_HOST": couch.url})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"using {couch.url}/{db} ('{db}' is a database name; the server is DIRT_COUCHDB_HOST's)")
    assert http.get(f"{couch.url}/{db}/_design/builder").status_code == 200
    http.delete(f"{couch.url}/{db}")


def test_a_bare_name_without_dirt_couchdb_host_is_the_local_server(web_2012):
    (web_2012 / "views" / "records" / "map.js").unlink()  # a broken app: nothing is sent anywhere
    result = egret("push", "builder", str(web_2012), env={"DIRT_COUCHDB_HOST": None})
    assert result.stdout.splitlines()[0] == (
        "using http://localhost:5984/builder ('builder' is a database name: the local server; "
        "give a full URL or set DIRT_COUCHDB_HOST for another)")
    assert result.exit_code == 1 and "view folder has no map.js" in result.stderr


def test_a_full_url_prints_no_using_line(web_2012, db_url):
    result = egret("push", db_url, str(web_2012))
    assert result.exit_code == 0 and not result.stdout.startswith("using")


def test_a_bad_dirt_couchdb_host_is_named(web_2012):
    result = egret("push", "builder", str(web_2012), env={"DIRT_COUCHDB_HOST": "localhost:5984"})
    assert result.exit_code == 1
    assert result.stderr == "egret: DIRT_COUCHDB_HOST=localhost:5984: not an http:// or https:// URL\n"


def test_credentials_in_dirt_couchdb_host_are_used_and_never_printed(secure_couch, web_2012, http):
    db = f"egret-bare-{uuid.uuid4().hex[:8]}"
    result = egret("push", db, str(web_2012), env={"DIRT_COUCHDB_HOST": secure_couch.auth_url})
    assert result.exit_code == 0, result.output
    assert secure_couch.admin[1] not in result.output
    assert f"using {secure_couch.url}/{db} " in result.stdout
    assert http.get(f"{secure_couch.url}/{db}/_design/builder", auth=secure_couch.admin).status_code == 200
