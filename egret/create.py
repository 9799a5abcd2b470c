"""``egret create``: the skeleton of a new app directory, ready to push.

The layout is the 2012 egret's (``settings.json``, ``views/``, ``shows/``,
``lists/``, ``updates/``, ``filters/``), with the attachments in couchapp's
``_attachments/`` and just enough in it to work once pushed: a view counting
documents by ``type`` and a page that shows those counts. The page's script
is a file of its own (no inline script), so it also runs under a CouchDB 3.2+
attachment policy that allows the app's own scripts (see the egret docs).
"""
from __future__ import annotations

import json
from pathlib import Path

from egret.errors import SourceError

FOLDERS = ("views", "shows", "lists", "updates", "filters", "_attachments")

INDEX_HTML = """\
<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>{name}</title>
  <link rel="stylesheet" href="style.css">
</head>
<body>
  <h1>{name}</h1>
  <p>Documents in this database, by <code>type</code>
     (the view <a href="_view/by_type?group=true">by_type</a>):</p>
  <table><tbody id="counts"><tr><td>loading...</td></tr></tbody></table>
  <script src="app.js"></script>
</body>
</html>
"""

APP_JS = """\
// Fills the table of index.html from the by_type view. Text only: a type
// read from the database is never put on the page as HTML.
(function () {
  var body = document.getElementById('counts');
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (text) {
      var td = document.createElement('td');
      td.textContent = String(text);
      tr.appendChild(td);
    });
    return tr;
  }
  fetch('_view/by_type?group=true', {credentials: 'same-origin'})
    .then(function (response) {
      if (!response.ok) throw new Error('the view answered HTTP ' + response.status);
      return response.json();
    })
    .then(function (answer) {
      body.textContent = '';
      if (!answer.rows.length) body.appendChild(row(['no documents with a type yet']));
      answer.rows.forEach(function (r) { body.appendChild(row([r.key, r.value])); });
    })
    .catch(function (error) {
      body.textContent = '';
      body.appendChild(row(['could not read the view: ' + error.message]));
    });
})();
"""

STYLE_CSS = """\
body { font-family: sans-serif; margin: 2em; color: #222; }
td { padding: 0.2em 1em 0.2em 0; }
"""

MAP_JS = """\
function (doc) {
  if (doc.type) {
    emit(doc.type, null);
  }
}
"""


def skeleton(name: str) -> dict[str, str]:
    """The files of a new app whose design document is ``_design/NAME``, by relative path."""
    settings = {"name": name, "description": f"The CouchApp {name}", "designname": name, "language": "javascript"}
    return {
        "settings.json": json.dumps(settings, indent=2) + "\n",
        "views/by_type/map.js": MAP_JS,
        "views/by_type/reduce.js": "_count\n",
        "_attachments/index.html": INDEX_HTML.format(name=_html_text(name)),
        "_attachments/app.js": APP_JS,
        "_attachments/style.css": STYLE_CSS,
    }


def create_app(directory: Path | str) -> list[Path]:
    """Write a new app into ``directory`` (made if missing); return the files written.

    The design document is named after the directory. Nothing is
    overwritten: if any file of the skeleton exists already, nothing is
    written and :class:`~egret.errors.SourceError` names it.
    """
    app_dir = Path(directory)
    if app_dir.exists() and not app_dir.is_dir():
        raise SourceError(app_dir, "exists and is not a directory")
    name = app_dir.resolve().name
    files = skeleton(name)
    for relative in files:
        if (app_dir / relative).exists():
            raise SourceError(app_dir / relative, "already exists; egret create never overwrites (choose a new directory)")
    for folder in FOLDERS:
        (app_dir / folder).mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in files.items():
        path = app_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
