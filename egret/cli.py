"""The ``egret`` command: the only part of egret that prints, prompts or exits.

Each command is a thin wrapper over a library function (:mod:`egret.compiler`,
:mod:`egret.push`, :mod:`egret.data`, :mod:`egret.watch`, :mod:`egret.create`,
:class:`egret.couch.Couch` for ``createdb``). Every
:class:`~egret.errors.EgretError` becomes one line on stderr and exit status 1.

egret talks to CouchDB with httpx rather than the ``couchdb`` PyPI client:
that client is archived, while httpx is maintained and gives keep-alive
connection pools, timeouts, streamed uploads and HTTPS with certificate checks.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import click

from egret import __version__, csp
from egret.compiler import compile_app
from egret.couch import SERVER_VARIABLE, Couch, Target
from egret.create import create_app
from egret.data import push_file
from egret.errors import DatabaseExists, EgretError
from egret.push import PushResult, push_directory
from egret.watch import Watcher

URL_HELP = (
    "URL is http(s)://[USER:PASSWORD@]HOST:PORT/DATABASE, or a bare database name for "
    "that database on the server in DIRT_COUCHDB_HOST, else on http://localhost:5984/NAME. "
    "Credentials may also come from DIRT_COUCHDB_USER and DIRT_COUCHDB_PASSWORD, COUCHDB_USER and "
    "COUCHDB_PASSWORD, or ~/.netrc (as for dirt); they are never printed."
)


SHOWN_UPLOADS = 12  # the progress line names at most this many attachments


class Failure(click.ClickException):
    """An error shown as ``egret: MESSAGE`` with exit status 1."""

    def show(self, file=None) -> None:  # type: ignore[override]
        click.echo(f"egret: {self.format_message()}", err=True)


def _count(number: int, noun: str, plural: str | None = None) -> str:
    """``1 document``, ``2 documents``: a number with its noun, singular or plural."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def _size(length: int) -> str:
    for unit in ("B", "kB", "MB"):
        if length < 1000 or unit == "MB":
            return f"{length} {unit}" if unit == "B" else f"{length:.1f} {unit}"
        length /= 1000  # type: ignore[assignment]
    return f"{length} B"


def _connect(url: str, timeout: float) -> Couch:
    try:
        target = Target.parse(url)
    except EgretError as exc:
        raise Failure(str(exc)) from None
    if target.server_from == SERVER_VARIABLE:
        click.echo(f"using {target.url} ({url!r} is a database name; the server is {SERVER_VARIABLE}'s)")
    elif target.server_from:
        click.echo(f"using {target.url} ({url!r} is a database name: the local server; "
                   f"give a full URL or set {SERVER_VARIABLE} for another)")
    return Couch(target, timeout=timeout)


def _report_push(result: PushResult, couch: Couch) -> None:
    if result.created_database:
        click.echo(f"created database {couch.db_url}")
    if result.uploaded:
        shown = ", ".join(f"{name} ({_size(size)})" for name, size in result.uploaded[:SHOWN_UPLOADS])
        rest = result.uploaded[SHOWN_UPLOADS:]
        if rest:
            shown += f" and {len(rest)} more ({_size(sum(size for _, size in rest))})"
        click.echo(f"uploaded {shown}")
    if result.removed:
        click.echo("removed " + ", ".join(result.removed))
    if result.changed:
        click.echo(f"pushed {result.doc_id} (rev {result.rev})")
    else:
        click.echo(f"{result.doc_id} is up to date (rev {result.rev}), nothing written")
    click.echo(result.url)


class _StderrHandler(logging.Handler):
    """Writes log lines to whatever ``sys.stderr`` is when they are logged."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 (logging must never raise)
            self.handleError(record)


def _set_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    """-v counts wherever it is given (``egret -v push`` or ``egret push -v``)."""
    total = ctx.meta.get("egret.verbosity", 0) + value
    ctx.meta["egret.verbosity"] = total
    _configure_logging(total)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if not verbosity else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("egret: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    # httpx logs each request line (never credentials: they are not in the URL) at -vv.
    logging.getLogger("httpx").setLevel(logging.INFO if verbosity >= 2 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


verbose_option = click.option(
    "-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
    help="Log what egret does, and what it skipped and why (-vv: each HTTP request too).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="egret")
@verbose_option
def main() -> None:
    """Compile a CouchApp directory into a design document and push it,
    its data, and every later edit, to CouchDB or pouchdb-server."""


@main.command("compile")
@verbose_option
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here instead of stdout.")
@click.option("--database", help="Database name the page templates see (default: couchapp.json's).")
@click.option("--stubs", is_flag=True, help="Describe attachments (type, length, md5) instead of inlining them.")
def compile_command(directory: Path, output: Path | None, database: str | None, stubs: bool) -> None:
    """Compile DIRECTORY (default: .) into design document JSON, without a server.

    Attachments are inlined as base64, so the output can be PUT as it is.
    """
    try:
        app = compile_app(directory, database=database)
    except EgretError as exc:
        raise Failure(str(exc)) from None
    text = json.dumps(app.document(inline=not stubs), indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {app.doc_id} to {output} ({_count(len(app.attachments), 'attachment')})", err=True)
    else:
        click.echo(text, nl=False)


@main.command("push", epilog=URL_HELP)
@verbose_option
@click.argument("url")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the server.")
def push_command(url: str, directory: Path, timeout: float) -> None:
    """Push the app in DIRECTORY (default: .) to the database at URL.

    Creates the database if missing, writes only what changed (nothing if
    nothing did) and prints the URL of the app's index.html.
    """
    with _connect(url, timeout) as couch:
        try:
            result = push_directory(directory, couch)
        except EgretError as exc:
            raise Failure(str(exc)) from None
        _report_push(result, couch)
        _warn_if_scripts_blocked(couch, result.doc_id, url)


def _warn_if_scripts_blocked(couch: Couch, doc_id: str, url: str) -> None:
    """Say what to do when the server's Content-Security-Policy stops the app's scripts."""
    try:
        found = csp.check(couch, doc_id)
    except EgretError as exc:
        click.echo(f"egret: could not check the server's Content-Security-Policy: {exc}", err=True)
        return
    if found is not None and found.blocked:
        click.echo(f"warning: {found.advice(couch.db_url)}", err=True)


CSP_HELP = f"""Check whether the server lets the app at URL run its scripts; with --apply, let it.

Apache CouchDB 3.2 and later send attachments (so the app's pages) with
`Content-Security-Policy: sandbox` unless told otherwise, and then no script
runs. --apply sets [csp] attachments_header_value on every node to a policy
that runs the app's own scripts from this server and no others: no inline
script (what task-made HTML would carry), nothing from other sites, no
plugins, no framing by other sites. It prints each node's old value, so the
change can be undone. Nothing else changes this setting: `egret push` only
says when it is needed.

\b
The policy:
  {csp.APP_POLICY}
"""


@main.command("csp", epilog=URL_HELP, help=CSP_HELP)
@verbose_option
@click.argument("url")
@click.option("--apply", "apply_policy", is_flag=True,
              help="Set the server's [csp] attachments_header_value to the policy above, on every node "
                   "(needs a server admin's login).")
@click.option("--app", "doc_id", metavar="DESIGN_DOC", default=None,
              help="The app's design document whose files are checked (default: the one with index.html).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the server.")
def csp_command(url: str, apply_policy: bool, doc_id: str | None, timeout: float) -> None:
    with _connect(url, timeout) as couch:
        try:
            if apply_policy:
                for node, old in csp.apply(couch):
                    was = old if old is not None else "not set, so CouchDB's default: sandbox"
                    click.echo(f"{node}: set [csp] {csp.KEY} = {csp.APP_POLICY} (was: {was})")
            doc_id = doc_id or csp.find_app(couch)
            found = csp.check(couch, doc_id) if doc_id else None
        except EgretError as exc:
            raise Failure(str(exc)) from None
        if found is None:
            click.echo(f"no app with files in {couch.db_url} to check (push one first)")
            return
        shown = found.policy if found.policy is not None else "none (no Content-Security-Policy header)"
        click.echo(f"{doc_id}: the server sends its files with Content-Security-Policy: {shown}")
        if found.blocked:
            raise Failure(found.advice(couch.db_url))
        click.echo("the app's scripts run")


@main.command("pushdata", epilog=URL_HELP)
@verbose_option
@click.argument("url")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--update", is_flag=True, help="Replace documents that already exist instead of reporting a conflict.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the server.")
def pushdata_command(url: str, file: Path, update: bool, timeout: float) -> None:
    """Store the documents in FILE in the database at URL.

    FILE holds {"docs": [...]}, a list of documents, or one document. Each
    document the server refuses is listed with its reason, and the exit
    status is then 1.
    """
    with _connect(url, timeout) as couch:
        try:
            result = push_file(file, couch, update=update)
        except EgretError as exc:
            raise Failure(str(exc)) from None
        if result.created_database:
            click.echo(f"created database {couch.db_url}")
        click.echo(f"stored {_count(len(result.written), 'document')} in {couch.db_url}")
        for rejection in result.rejected:
            reason = f": {rejection.reason}" if rejection.reason and rejection.reason != rejection.error else ""
            click.echo(f"rejected {rejection.doc_id}: {rejection.error}{reason}", err=True)
        if result.rejected:
            raise Failure(_rejected_summary(result.rejected, update))


def _rejected_summary(rejected: list, update: bool) -> str:
    """``2 documents were rejected``, with the --update hint only when some were conflicts."""
    summary = f"{_count(len(rejected), 'document')} {'was' if len(rejected) == 1 else 'were'} rejected"
    conflicts = sum(1 for r in rejected if r.error == "conflict")
    if not conflicts or update:
        return summary
    if conflicts == len(rejected):
        return f"{summary} (--update replaces existing documents)"
    return f"{summary} ({_count(conflicts, 'conflict')} among them: --update replaces existing documents)"


@main.command("watch", epilog=URL_HELP)
@verbose_option
@click.argument("url")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the server.")
def watch_command(url: str, directory: Path, timeout: float) -> None:
    """Push DIRECTORY (default: .) to URL now and after every change, until Ctrl-C.

    Errors (a broken file, an unreachable server) are reported and watching
    goes on.
    """
    with _connect(url, timeout) as couch:

        def report_error(exc: EgretError) -> None:
            click.echo(f"egret: {exc}", err=True)

        watcher = Watcher(
            directory,
            lambda: push_directory(directory, couch),
            on_push=lambda result: _report_push(result, couch),
            on_error=report_error,
        )
        click.echo(f"watching {directory.resolve()} (Ctrl-C to stop)", err=True)
        try:
            watcher.run(threading.Event())
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


@main.command("create")
@verbose_option
@click.argument("directory", type=click.Path(path_type=Path), default=".")
def create_command(directory: Path) -> None:
    """Make DIRECTORY (default: .) a new app, ready to push.

    Writes settings.json (the design document is _design/ plus the
    directory's name), a view counting documents by type, an index.html
    showing those counts, and the empty folders shows/, lists/, updates/ and
    filters/. Never overwrites a file.
    """
    try:
        written = create_app(directory)
    except EgretError as exc:
        raise Failure(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    shown = str(directory) if str(directory) != "." else "."
    click.echo(f"Next: cd {shown} && egret push http://localhost:5984/DATABASE")


@main.command("createdb", epilog=URL_HELP)
@verbose_option
@click.argument("url")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the server.")
def createdb_command(url: str, timeout: float) -> None:
    """Create the database at URL.

    An error if it exists already, if the name is not one CouchDB accepts,
    or if the user is not a server admin (which creating a database needs).
    push and pushdata create a missing database themselves.
    """
    with _connect(url, timeout) as couch:
        try:
            couch.create_database()
        except DatabaseExists as exc:
            raise Failure(f"{exc}; nothing to do") from None
        except EgretError as exc:
            raise Failure(str(exc)) from None
        click.echo(f"created database {couch.db_url}")
