"""Compiling directories into design documents: no server needed."""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import xstatic.pkg.jquery
from click.testing import CliRunner

from egret.cli import main
from egret.compiler import Skipped, compile_app
from egret.errors import SourceError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NOT_READ = 'not part of the app (to push it as a field, list it in "fields" of the "egret" options)'


def text(path):
    """A file's content the way couchapp stores it in a field: UTF-8, stripped."""
    return path.read_text(encoding="utf-8").strip()


def test_couchapp_style_directory_compiles_to_what_the_conventions_specify():
    root = FIXTURES / "sampleapp"
    app = compile_app(root)
    doc = app.document()

    # What couchapp's conventions make of this directory, written out by hand:
    # the design document's own files and folders become fields named without
    # their extension, folders nested objects, .json parsed, _id from the _id
    # file, couchapp.json as "couchapp", _attachments/ and
    # vendor/*/_attachments/ as attachments. README.md and config/ are not
    # part of a CouchApp: skipped.
    expected_fields = {
        "_id": "_design/sample",
        "language": "javascript",
        "couchapp": {
            "name": "Sample",
            "description": "An ordinary CouchApp, laid out the way couchapp generates them.",
        },
        "views": {
            "by_type": {"map": text(root / "views/by_type/map.js"), "reduce": "_count"},
            "lib": {"prefix": "exports.prefix = 'item: ';"},
        },
        "shows": {"item": text(root / "shows/item.js")},
        "lists": {"ids": text(root / "lists/ids.js")},
        "filters": {"tasks": 'function (doc, req) {\n  return doc.type === "task";\n}'},
        "updates": {"stamp": text(root / "updates/stamp.js")},
        "validate_doc_update": text(root / "validate_doc_update.js"),
        "rewrites": [{"from": "", "to": "index.html"}, {"from": "api/*", "to": "../../*"}],
        "lib": {"helpers": {"format": "exports.title = function (s) { return s.toUpperCase(); };"}},
        "vendor": {"mylib": {}},
    }
    expected_attachments = {
        "index.html": ("text/html", root / "_attachments/index.html"),
        "css/style.css": ("text/css", root / "_attachments/css/style.css"),
        "img/dot.png": ("image/png", root / "_attachments/img/dot.png"),
        "deep/a/b/c.txt": ("text/plain", root / "_attachments/deep/a/b/c.txt"),
        "vendor/mylib/mylib.js": ("application/javascript", root / "vendor/mylib/_attachments/mylib.js"),
    }
    # egret's two additions: jQuery from XStatic-jQuery, and its bookkeeping field.
    jquery_file = xstatic.pkg.jquery.BASE_DIR + "/jquery.min.js"
    expected_attachments["vendor/jquery.min.js"] = ("application/javascript", jquery_file)

    egret_field = doc.pop("egret")
    attachments = doc.pop("_attachments")
    assert doc == expected_fields
    assert sorted(attachments) == sorted(expected_attachments)
    for name, (content_type, path) in expected_attachments.items():
        content = open(path, "rb").read()
        assert attachments[name] == {"content_type": content_type, "data": base64.b64encode(content).decode()}
        assert egret_field["attachments"][name] == hashlib.md5(content).hexdigest()


def test_skipped_files_do_not_appear_anywhere():
    doc = compile_app(FIXTURES / "sampleapp").document(inline=False)
    dumped = json.dumps(doc)
    # dotfiles, *.bak and "drafts" (.couchappignore regexes), the _id file itself
    for absent in ("DS_Store", "old.bak", "notes", "drafts", "hidden", "secret", "couchappignore", "Read me"):
        assert absent not in dumped


def test_what_is_skipped_is_listed_with_the_reason():
    skipped = {str(s.path): s.reason for s in compile_app(FIXTURES / "sampleapp").skipped}
    assert skipped == {
        ".couchappignore": "a dotfile",
        ".hidden": "a dotfile",
        "README.md": NOT_READ,
        "_attachments/.DS_Store": "a dotfile",
        "_attachments/css/old.bak": r"matches .*\.bak$ in .couchappignore",
        "config/": NOT_READ,
        "drafts/": "matches drafts in .couchappignore",
        "notes.bak": r"matches .*\.bak$ in .couchappignore",
    }


def test_fields_option_reads_named_top_level_entries_as_fields(sample_app):
    settings = json.loads((sample_app / "couchapp.json").read_text())
    settings["egret"] = {"fields": ["config", "README.md"]}
    (sample_app / "couchapp.json").write_text(json.dumps(settings))
    app = compile_app(sample_app)
    assert app.doc["config"] == {"limits": {"page_size": 20, "refresh": True}}
    assert app.doc["README"] == "Sample app\n==========\n\nRead me."
    assert {s.path for s in app.skipped} >= {".hidden", "notes.bak"}
    assert not {"config/", "README.md"} & {s.path for s in app.skipped}


def test_fields_option_must_name_top_level_entries(sample_app):
    (sample_app / "couchapp.json").write_text(json.dumps({"egret": {"fields": "config"}}))
    with pytest.raises(SourceError, match='"fields" in the egret options must be a list'):
        compile_app(sample_app)


def test_glob_style_couchappignore(sample_app):
    (sample_app / ".couchappignore").write_text("# globs, one a line\n*.bak\ndrafts/\n_attachments/deep\n")
    app = compile_app(sample_app)
    assert "notes" not in app.doc and "drafts" not in app.doc
    assert "css/old.bak" not in app.attachments
    assert "deep/a/b/c.txt" not in app.attachments
    assert "css/style.css" in app.attachments


def test_default_id_is_the_directory_name_and_language_is_optional(tmp_path):
    app_dir = tmp_path / "myapp"
    (app_dir / "views" / "all").mkdir(parents=True)
    (app_dir / "views" / "all" / "map.js").write_text("function (doc) { emit(doc._id, 1); }\n")
    doc = compile_app(app_dir).doc
    assert doc["_id"] == "_design/myapp"
    assert "language" not in doc
    assert doc["views"] == {"all": {"map": "function (doc) { emit(doc._id, 1); }"}}


def test_id_from_couchapp_json(pages_app):
    app = compile_app(pages_app)
    assert app.doc_id == "_design/pages"
    assert "_id" not in app.doc["couchapp"]


def test_templates_render_into_static_pages_with_the_settings(pages_app):
    app = compile_app(pages_app, database="projectdb")
    assert sorted(app.attachments) == ["css/style.css", "index.html", "sub/about.html", "vendor/jquery.min.js"]
    index = app.attachments["index.html"]
    assert index.content_type == "text/html"
    html = index.read().decode()
    assert "<title>Pages &amp; Co</title>" in html  # name, autoescaped
    assert '<p class="description">Static pages rendered from jinja2 templates.</p>' in html
    assert 'data-database="projectdb"' in html
    assert '<script src="./vendor/jquery.min.js"></script>' in html
    assert "<nav>" in html  # the partial
    about = app.attachments["sub/about.html"].read().decode()
    assert '<link rel="stylesheet" href="../css/style.css">' in about
    assert "Design document _design/pages in database projectdb." in about
    # layouts and partials are not pages, and templates/ is not a field
    assert not any(name.startswith("_") or "partials" in name for name in app.attachments)
    assert "templates" not in app.doc


def test_templates_can_stay_a_field_for_apps_that_use_them_server_side(pages_app):
    settings = json.loads((pages_app / "couchapp.json").read_text())
    settings["egret"] = {"templates": False, "jquery": False}
    (pages_app / "couchapp.json").write_text(json.dumps(settings))
    app = compile_app(pages_app)
    assert sorted(app.attachments) == ["css/style.css"]
    assert app.doc["templates"]["index"].startswith('{% extends "_layout.html" %}')


def test_an_app_file_at_the_jquery_name_wins(sample_app):
    (sample_app / "_attachments" / "vendor").mkdir()
    (sample_app / "_attachments" / "vendor" / "jquery.min.js").write_text("/* my own jQuery */\n")
    app = compile_app(sample_app)
    assert app.attachments["vendor/jquery.min.js"].read() == b"/* my own jQuery */\n"


def test_content_types(tmp_path):
    files = {"a.js": "application/javascript", "b.json": "application/json", "c.svg": "image/svg+xml",
             "d.woff2": "font/woff2", "e.html": "text/html", "f.unknownext": "application/octet-stream",
             "g.jpg": "image/jpeg", "h.css": "text/css"}
    (tmp_path / "app" / "_attachments").mkdir(parents=True)
    for name in files:
        (tmp_path / "app" / "_attachments" / name).write_bytes(b"x")
    app = compile_app(tmp_path / "app")
    assert {name: app.attachments[name].content_type for name in files} == files


# --- errors a person can act on: file, line, what is wrong ------------------


def test_invalid_rewrites_json_names_file_and_line(sample_app):
    (sample_app / "rewrites.json").write_text('[\n  {"from": "", "to": "index.html"},\n  {"from": "x"\n]\n')
    with pytest.raises(SourceError) as caught:
        compile_app(sample_app)
    assert caught.value.path == sample_app / "rewrites.json"
    assert caught.value.line == 4
    assert "invalid JSON" in str(caught.value)


def test_rewrite_rule_without_to_is_refused(sample_app):
    (sample_app / "rewrites.json").write_text('[\n  {"from": "", "to": "index.html"},\n  {"from": "x"}\n]\n')
    with pytest.raises(SourceError) as caught:
        compile_app(sample_app)
    assert caught.value.line == 3
    assert "rule 2 needs a string 'to'" in str(caught.value)


def test_view_folder_without_map(sample_app):
    (sample_app / "views" / "broken").mkdir()
    (sample_app / "views" / "broken" / "reduce.js").write_text("_sum")
    with pytest.raises(SourceError) as caught:
        compile_app(sample_app)
    assert caught.value.path == sample_app / "views" / "broken"
    assert "no map.js" in str(caught.value)


def test_unknown_builtin_reduce(sample_app):
    (sample_app / "views" / "by_type" / "reduce.js").write_text("_cuont")
    with pytest.raises(SourceError, match="unknown built-in reduce '_cuont'"):
        compile_app(sample_app)


def test_jinja2_syntax_error_names_template_and_line(pages_app):
    (pages_app / "templates" / "sub" / "about.html").write_text("<p>fine</p>\n<p>{% if name %}unclosed</p>\n")
    with pytest.raises(SourceError) as caught:
        compile_app(pages_app)
    assert caught.value.path.name == "about.html"
    assert caught.value.line == 2
    assert "template syntax error" in str(caught.value)


def test_syntax_error_in_layout_points_at_the_layout(pages_app):
    layout = pages_app / "templates" / "_layout.html"
    layout.write_text(layout.read_text().replace("{% endblock %}</title>", "{% endblok %}</title>"))
    with pytest.raises(SourceError) as caught:
        compile_app(pages_app)
    assert caught.value.path.name == "_layout.html"
    assert caught.value.line == 5


def test_undefined_variable_in_template_is_an_error(pages_app):
    (pages_app / "templates" / "index.html").write_text("<p>\n{{ nmae }}\n</p>\n")
    with pytest.raises(SourceError) as caught:
        compile_app(pages_app)
    assert caught.value.path.name == "index.html"
    assert caught.value.line == 2
    assert "nmae" in str(caught.value)


def test_template_and_attachment_of_the_same_name(pages_app):
    (pages_app / "_attachments" / "index.html").write_text("<p>static</p>")
    with pytest.raises(SourceError, match="make attachment index.html"):
        compile_app(pages_app)


def test_invalid_json_file_names_file_and_line(sample_app):
    (sample_app / "lib" / "limits.json").write_text('{\n  "page_size": 20,\n}\n')
    with pytest.raises(SourceError) as caught:
        compile_app(sample_app)
    assert caught.value.path.name == "limits.json" and caught.value.line == 3


def test_two_files_for_one_field(sample_app):
    (sample_app / "lib" / "helpers" / "format.json").write_text('{"not": "a module"}')
    with pytest.raises(SourceError, match="make field 'format'"):
        compile_app(sample_app)


def test_a_binary_file_egret_reads_is_an_error(sample_app):
    (sample_app / "shows" / "item.js").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(SourceError, match="binary files belong in _attachments"):
        compile_app(sample_app)


@pytest.mark.parametrize("relative, reason", [
    ("logo.png", NOT_READ),
    ("egret", NOT_READ),
    ("test_data.json", NOT_READ),
    ("#index.js#", NOT_READ),
    ("_design", "names starting with _ are reserved by CouchDB"),
    ("shows/item.txt", "shows/ holds one .js file per function"),
    ("shows/#item.js#", "shows/ holds one .js file per function"),
    ("shows/item.js.orig", "shows/ holds one .js file per function"),
    ("filters/README", "filters/ holds one .js file per function"),
    ("views/README.md", "views/ holds one folder per view (views/NAME/map.js)"),
    ("views/by_type/notes.txt", "a view folder holds map.js and reduce.js only"),
    ("views/by_type/map.js.swp", "a view folder holds map.js and reduce.js only"),
    ("lib/logo.png", "lib/ holds CommonJS modules (.js) and JSON data (.json)"),
    ("views/lib/README", "views/ holds CommonJS modules (.js) and JSON data (.json)"),
    ("vendor/mylib/LICENSE", "vendor/ holds CommonJS modules (.js) and JSON data (.json)"),
    ("templates/README.md", "templates/ renders *.html files (pages, and _-prefixed layouts and partials)"),
])
def test_a_stray_file_never_becomes_a_field_or_stops_the_compile(sample_app, relative, reason):
    before = compile_app(sample_app).document()
    stray = sample_app / relative
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary, and { not JSON")
    stray.chmod(0o755)
    (sample_app / "templates").mkdir(exist_ok=True)
    app = compile_app(sample_app)
    assert app.document() == before
    assert Skipped(relative, reason) in app.skipped


def test_a_stray_folder_in_a_function_folder_is_skipped(sample_app):
    (sample_app / "shows" / "nested").mkdir()
    (sample_app / "shows" / "nested" / "x.js").write_text("function () {}")
    app = compile_app(sample_app)
    assert set(app.doc["shows"]) == {"item"}
    assert Skipped("shows/nested/", "shows/ holds one .js file per function") in app.skipped


# --- the compile command -----------------------------------------------------


def test_compile_command_prints_a_document_that_can_be_put_as_is():
    result = CliRunner().invoke(main, ["compile", str(FIXTURES / "sampleapp")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["_id"] == "_design/sample"
    assert base64.b64decode(doc["_attachments"]["css/style.css"]["data"]) == b"body { color: #333; }\n"


def test_compile_command_writes_a_file_with_stubs(tmp_path):
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        main, ["compile", str(FIXTURES / "pages"), "-o", str(out), "--stubs", "--database", "db1"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["_attachments"]["index.html"]["content_type"] == "text/html"
    assert "data" not in doc["_attachments"]["index.html"]
    assert "wrote _design/pages" in result.stderr


def test_compile_command_error_is_one_line(sample_app):
    (sample_app / "views" / "by_type" / "map.js").unlink()
    result = CliRunner().invoke(main, ["compile", str(sample_app)])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "view folder has no map.js" in result.stderr
    assert "Traceback" not in result.output


def test_a_2012_dirt_web_directory_compiles_as_it_is():
    # A dirt 0.6 project's web/: settings.json, attachments/, views, lists and
    # filters, next to its ./egret script, its test_data.json, a README and
    # an editor's leftovers.
    root = FIXTURES / "seedapp"
    app = compile_app(root)
    assert app.doc_id == "_design/builder"  # from "designname"
    doc = app.document(inline=False)
    doc.pop("egret")
    attachments = doc.pop("_attachments")
    # settings.json keys are top-level fields, as the 2012 egret pushed them
    assert doc == {
        "_id": "_design/builder",
        "designname": "builder",
        "name": "builder",
        "description": "A dirt 0.6-era web directory",
        "language": "javascript",
        "views": {"records": {"map": text(root / "views/records/map.js")},
                  "tasks_by_record": {"map": text(root / "views/tasks_by_record/map.js")}},
        "lists": {"index": text(root / "lists/index.js")},
        "filters": {"task": "function (doc, req) { return doc.type === \"task\"; }"},
    }
    assert sorted(attachments) == ["css/style.css", "img/logo.png", "index.html", "vendor/jquery.min.js"]
    assert attachments["img/logo.png"]["content_type"] == "image/png"
    assert app.attachments["img/logo.png"].read() == (root / "attachments/img/logo.png").read_bytes()
    assert {str(s) for s in app.skipped} == {
        f"#settings.json#: {NOT_READ}",
        ".settings.json.swp: a dotfile",
        f"README: {NOT_READ}",
        f"egret: {NOT_READ}",
        f"test_data.json: {NOT_READ}",
        "views/records/map.js~: an editor backup (ends with ~)",
    }


def test_compile_verbose_says_what_was_skipped_and_why():
    result = CliRunner().invoke(main, ["compile", "-v", str(FIXTURES / "seedapp")])
    assert result.exit_code == 0, result.output
    assert f"egret: skipped egret: {NOT_READ}" in result.stderr
    assert f"egret: skipped test_data.json: {NOT_READ}" in result.stderr
    assert json.loads(result.stdout)["_id"] == "_design/builder"
    quiet = CliRunner().invoke(main, ["compile", str(FIXTURES / "seedapp")])
    assert "skipped" not in quiet.stderr


def test_code_macro_inlines_a_shared_file_into_views_and_validation(tmp_path):
    app = tmp_path / "app"
    (app / "lib").mkdir(parents=True)
    (app / "views" / "by_state").mkdir(parents=True)
    (app / "lib" / "helper.js").write_text("function twice(x) { return 2 * x; }\n")
    (app / "views" / "by_state" / "map.js").write_text(
        "function (doc) {\n  // !code lib/helper.js\n  emit(twice(doc.n), null);\n}\n")
    (app / "validate_doc_update.js").write_text("function (n, o) {\n    //  !code  lib/helper.js\n}\n")
    doc = compile_app(app).document()
    assert doc["views"]["by_state"]["map"] == \
        "function (doc) {\nfunction twice(x) { return 2 * x; }\n  emit(twice(doc.n), null);\n}"
    assert "function twice(x)" in doc["validate_doc_update"] and "!code" not in doc["validate_doc_update"]


@pytest.mark.parametrize("target, problem", [
    ("lib/missing.js", "no such file"),
    ("../outside.js", "outside the app directory"),
    ("lib/loop.js", "includes itself"),
])
def test_code_macro_errors_name_file_and_line(tmp_path, target, problem):
    app = tmp_path / "app"
    (app / "lib").mkdir(parents=True)
    (tmp_path / "outside.js").write_text("var x = 1;")
    (app / "lib" / "loop.js").write_text("// !code lib/loop.js\n")
    (app / "filters").mkdir()
    (app / "filters" / "f.js").write_text(f"function (doc) {{\n  return true;\n  // !code {target}\n}}\n")
    with pytest.raises(SourceError, match=problem) as caught:
        compile_app(app)
    if target != "lib/loop.js":
        assert caught.value.path.name == "f.js" and caught.value.line == 3
