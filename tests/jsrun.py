"""Running the web app's JavaScript (views, validate_doc_update) in Node, as
CouchDB would, to check it against dirt's Python over many documents at once."""
from __future__ import annotations

import json
import shutil
import subprocess

from dirt.create import web_dir
from egret.compiler import expand_code_macros

NODE = shutil.which("node")


def app_function(relative: str) -> str:
    """The source of one function of web/ as egret compiles it (``// !code`` lines inlined)."""
    path = web_dir() / relative
    return expand_code_macros(path.read_text(encoding="utf-8").strip(), path, web_dir())


def run_node(script: str, data: object, timeout: float = 60.0) -> object:
    """Run ``script`` with ``DATA`` bound to ``data``; what it writes with ``out(value)``."""
    program = ("var DATA = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
               "function out(v) { process.stdout.write(JSON.stringify(v)); }\n" + script)
    done = subprocess.run([NODE, "-e", program], input=json.dumps(data), capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"node failed: {done.stderr}")
    return json.loads(done.stdout)


class Validator:
    """validate_doc_update in one long-lived Node process: one document per call,
    about a millisecond each, so property tests can check every example."""

    def __init__(self, user_ctx: dict | None = None):
        script = "var validate = (" + app_function("validate_doc_update.js") + """);
var userCtx = %s;
var rl = require('readline').createInterface({input: process.stdin});
rl.on('line', function (line) {
  var result = null;
  try { validate(JSON.parse(line), null, userCtx, {}); }
  catch (e) { result = e && e.forbidden ? String(e.forbidden) : 'THREW ' + String(e); }
  process.stdout.write(JSON.stringify(result) + '\\n');
});""" % json.dumps(user_ctx or {"name": None, "roles": ["_admin"]})
        self.proc = subprocess.Popen([NODE, "-e", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def __call__(self, doc: dict) -> str | None:
        self.proc.stdin.write(json.dumps(doc) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


class WriteValidator:
    """validate_doc_update with everything CouchDB passes it (the new and old
    revision, the user's context and the _security object), one write per call."""

    def __init__(self):
        script = "var validate = (" + app_function("validate_doc_update.js") + """);
var rl = require('readline').createInterface({input: process.stdin});
rl.on('line', function (line) {
  var w = JSON.parse(line), result = null;
  try { validate(w.new, w.old, w.ctx, w.sec); }
  catch (e) { result = e && e.forbidden ? String(e.forbidden) : 'THREW ' + String(e); }
  process.stdout.write(JSON.stringify(result) + '\\n');
});"""
        self.proc = subprocess.Popen([NODE, "-e", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def __call__(self, new: dict, old: dict | None, name: str | None, roles: list[str],
                 security: dict | None = None) -> str | None:
        """The refusal of writing ``new`` over ``old`` as user ``name`` with ``roles``, or None if allowed."""
        line = {"new": new, "old": old, "ctx": {"db": "db", "name": name, "roles": roles}, "sec": security or {}}
        self.proc.stdin.write(json.dumps(line) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)
