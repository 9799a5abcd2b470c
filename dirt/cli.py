"""The ``dirt`` command. The only module that prints, reads signals or exits.

Exit codes: 0 success; 1 a dirt error; 2 bad usage or settings (also: the
project already exists); 3 CouchDB unreachable, refusing or failing;
4 some of the nodes given to ``updatenodes`` could not be updated.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path

import click

from . import __version__
from .couch import Database, redact
from .create import create_project
from .errors import DirtError
from .logs import configure
from .nodes import NodeUpdate, update_nodes
from .plural import plural
from .settings import Project, load_project

log = logging.getLogger("dirt.cli")
PROGRESS_EVERY = 15.0   # seconds between progress lines while serving

project_option = click.option(
    "--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Project directory (default: the current directory).")


def load(project_dir: Path | None) -> Project:
    """The project's settings; what looks wrong in them (a misspelt name) is shown, never fatal."""
    project = load_project(project_dir)
    for warning in project.warnings:
        click.echo(f"warning: {warning}", err=True)
    return project


def open_database(project: Project) -> Database:
    """The project's database, created if it does not exist yet."""
    s = project.settings
    db = Database.from_url(s.couchdb_host, s.couchdb_dbname)
    if not db.exists():
        db.create()
        log.info("Created database %s", db.url)
    return db


EXIT_CODES = """\b
Exit codes: 0 success, 1 error, 2 bad usage or settings (or the project
exists), 3 CouchDB unreachable or refusing, 4 some nodes not updated."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="dirt")
def cli() -> None:
    """dirt: run tasks on remote nodes for every record in a CouchDB database.

    \b
    Start a project:          dirt create myproject
    Add nodes to run on:      dirt updatenodes localhost node1.example.com
    Run waiting tasks:        dirt serve
    See where things stand:   dirt status
    Find what broke a task:   dirt bisect TASK --good RECORD --bad RECORD

    Records and tasks are JSON documents you add to the database (curl,
    `egret pushdata`, a post-commit hook); `dirt serve` runs each task on a
    matching node and stores its results and attachments back.
    """


@cli.command()
@click.argument("name")
@click.argument("dbname", required=False)
@click.option("--couchdb-host", metavar="URL", default=None,
              help="The CouchDB server for settings.py (default: http://localhost:5984), without credentials.")
def create(name: str, dbname: str | None, couchdb_host: str | None) -> None:
    """Create a new project directory NAME (database DBNAME, default NAME).

    The project holds README.md, settings.py, tasks/ with examples, and web/:
    the web app, its egret launcher (`cd web && ./egret push URL`) and
    test_data.json, the sample record and tasks. An existing directory is
    never overwritten.
    """
    path = create_project(name, dbname, couchdb_host)
    click.echo(f"dirt v{__version__}")
    click.echo(f"Created new dirt project in {path}")
    click.echo(f"Next: cd {path} && dirt updatenodes localhost && dirt serve")


@cli.command()
@click.argument("hosts", nargs=-1, required=True)
@project_option
def updatenodes(hosts: tuple[str, ...], project_dir: Path | None) -> None:
    """Add or refresh the nodes HOSTS in the database.

    Each HOST is `localhost` (this machine, no SSH), a host name or ssh config
    alias (reached with your own ssh config and keys, without a password), or
    an execnet spec such as `ssh=user@host//python=python3`. dirt runs its
    system_info task there and stores what it finds; running it again updates
    the node, never duplicates it. A host that cannot be reached is reported
    and the others are still updated (exit code 4).
    """
    project = load(project_dir)
    configure(project.settings.project_name, project.log_path)
    db = open_database(project)

    def report(update: NodeUpdate) -> None:
        if update.ok:
            click.echo(f"updated {update.host}: {update.message}")
        else:
            click.echo(f"error: {update.message}", err=True)

    results = update_nodes(db, list(hosts), project.settings, progress=report)
    failed = [u.host for u in results if not u.ok]
    if failed:
        click.echo(f"{len(failed)} of {plural(len(results), 'node')} could not be updated: {', '.join(failed)}",
                   err=True)
        sys.exit(4)


@cli.command()
@project_option
@click.option("--until-idle", is_flag=True,
              help="Exit once no task is running and none that a node could take is waiting.")
@click.option("--embedded", is_flag=True,
              help="First start the embedded database (as `dirt db start`) on couchdb_host's port "
                   "if nothing answers there; couchdb_host must be on localhost.")
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail too.")
def serve(project_dir: Path | None, until_idle: bool, embedded: bool, verbose: bool) -> None:
    """Run waiting tasks on the project's nodes and record their results.

    Follows the database for new tasks until stopped. Ctrl-C once: start
    nothing new and let running tasks finish; Ctrl-C again (or SIGTERM): stop
    now, handing running tasks back so they run again later. A dirt serve
    that is killed outright leaves its tasks claimed for `lease_seconds`,
    after which any dirt serve runs them again.

    With --embedded, a settings couchdb_host of http://localhost:PORT (or
    127.0.0.1) that nobody answers on gets the embedded pouchdb-server
    started there first; it keeps running after dirt serve stops (`dirt db
    stop` stops it). Without --embedded, dirt serve never starts a server.
    """
    from .server import build_server

    project = load(project_dir)
    configure(project.settings.project_name, project.log_path, verbose)
    click.echo(f"dirt v{__version__}")
    if embedded:
        _start_embedded_for(project.settings.couchdb_host)
    db = open_database(project)
    server = build_server(project, db)
    scheduler = server.scheduler
    stop = threading.Event()
    presses = {"n": 0}

    def on_interrupt(signum, frame):  # noqa: ARG001 (signal handler signature)
        presses["n"] += 1
        if signum == signal.SIGINT and presses["n"] == 1 and scheduler.runs:
            log.warning("stopping: letting %s finish (Ctrl-C again to hand %s back now)",
                        plural(len(scheduler.runs), "running task"), "it" if len(scheduler.runs) == 1 else "them")
            scheduler.stop_dispatching()
            return
        stop.set()

    signal.signal(signal.SIGINT, on_interrupt)
    signal.signal(signal.SIGTERM, on_interrupt)
    try:
        server.start()
        last_report, last_line = time.monotonic(), ""
        while not stop.is_set():
            scheduler.step(timeout=0.2)
            if time.monotonic() - last_report > PROGRESS_EVERY:
                last_report, line = time.monotonic(), scheduler.progress()
                if line != last_line:
                    log.info("progress: %s", line)
                    last_line = line
            if until_idle and scheduler.idle():
                break
            if not scheduler.dispatching and not scheduler.runs:
                break
        if scheduler.runs:
            log.warning("handing back %s", plural(len(scheduler.runs), "running task"))
    finally:
        server.close()
    log.info("dirt serve stopped")


LOG_EXIT_CODES = {"passed": 0, "failed": 1, "error": 5, "cancelled": 6, "skipped": 7}


@cli.command()
@click.argument("task_id")
@click.option("--attempt", type=click.IntRange(1), default=None, help="Which attempt (default: the latest).")
@click.option("-f", "--follow", is_flag=True,
              help="Print new lines as the task prints them, until the attempt ends.")
@project_option
def logs(task_id: str, attempt: int | None, follow: bool, project_dir: Path | None) -> None:
    """Print what task TASK_ID printed (its stdout and stderr, and its programs').

    \b
    The latest attempt unless --attempt N. With -f, follow a running task
    (or wait for a waiting one) until its attempt ends. The exit code says
    how the task ended: 0 passed, 1 failed, 5 error, 6 cancelled, 7 skipped;
    without -f, 0 while it still runs or waits.
    """
    from .output import follow as follow_log
    from .output import read

    project = load_project(project_dir)
    db = Database.from_url(project.settings.couchdb_host, project.settings.couchdb_dbname)
    if follow:
        reading = follow_log(db, task_id, attempt, click.echo)
    else:
        reading = read(db, task_id, attempt)
        for _, text in reading.lines:
            click.echo(text)
    if not reading.lines:
        click.echo(f"(task {task_id}: no output" + (f" in attempt {reading.attempt})" if reading.attempt else
                                                    " yet: it has not run)"), err=True)
    if follow or reading.ended:
        sys.exit(LOG_EXIT_CODES.get(reading.state, 0))


@cli.command()
@project_option
def status(project_dir: Path | None) -> None:
    """Sum up the database: records, tasks by state, servers, nodes, and what waits.

    A server is alive while its heartbeat is recent; a node shows as up only
    while a live server holds it.
    """
    from .status import summarize

    project = load(project_dir)
    db = Database.from_url(project.settings.couchdb_host, project.settings.couchdb_dbname)
    click.echo(summarize(db))


@cli.command("bisect")
@click.argument("task_name")
@click.option("--good", required=True, metavar="RECORD", help="A record on which TASK_NAME passed.")
@click.option("--bad", required=True, metavar="RECORD",
              help="A later record of the same branch on which it fails.")
@click.option("--no-wait", is_flag=True,
              help="Ask and exit: a dirt serve finds the answer (run the same command again to follow it).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop waiting after this long (the bisection goes on without you).")
@project_option
def bisect_command(task_name: str, good: str, bad: str, no_wait: bool, timeout: float | None,
                   project_dir: Path | None) -> None:
    """Find the first record on which TASK_NAME fails, between --good and --bad.

    The records of their branch (their `branch` field) are ordered by
    `created`; a running `dirt serve` runs TASK_NAME on the one halfway
    between the last that passed and the first that failed, and halves again,
    until it finds the first failing record: about log2(N) runs for N
    records. Each run is a copy of BAD's task of that name (with the tasks it
    runs after), written to the record being tested. A record where it
    cannot decide (error, cancelled, or skipped because its build failed) is
    left out, and the answer then lists every record it could be.

    Asking the same question again follows the first bisection instead of
    starting another. Exit code 0 when one record is named, 1 when the answer
    is several records or the bisection stopped (the reason is printed).
    """
    from .bisect import DONE, PASSED, describe
    from .bisector import follow, servers_alive, start

    project = load(project_dir)
    db = Database.from_url(project.settings.couchdb_host, project.settings.couchdb_dbname)
    doc = start(db, task_name, good, bad, time.time())
    click.echo(f"bisect {doc['_id']}: {task_name}, passing on {good}, failing on {bad}")
    if servers_alive(db, time.time()) == 0:
        click.echo("warning: no dirt serve is running on this database; the bisection waits for one "
                   "(start it with `dirt serve`)", err=True)
    if no_wait:
        click.echo("a dirt serve runs it; run this command again to follow it")
        return
    told: set[str] = {good, bad}
    said: dict[str, object] = {"records": False, "testing": None}

    def show(doc: dict) -> None:
        if doc.get("records") and not said["records"]:
            said["records"] = True
            click.echo(f"{len(doc['records']) - 2} records between them on branch {doc.get('branch')}")
        for record_id, verdict in (doc.get("verdicts") or {}).items():
            if record_id not in told:
                told.add(record_id)
                note = (doc.get("notes") or {}).get(record_id)
                mark = "good" if verdict == PASSED else ("bad" if verdict == "failed" else verdict)
                click.echo(f"  {record_id}: {mark}" + (f" ({note})" if note else ""))
        if doc.get("current") and doc.get("current") != said["testing"] and doc.get("state") != DONE:
            said["testing"] = doc["current"]
            click.echo(f"testing {doc['current']} ...")

    final = follow(db, doc["_id"], show, timeout=timeout)
    click.echo(describe(final))
    if final.get("state") != DONE or len(final.get("candidates") or []) != 1:
        sys.exit(1)


def _start_embedded_for(couchdb_host: str) -> None:
    """Start the embedded database on the port of ``couchdb_host``, a loopback URL."""
    from urllib.parse import urlsplit

    from .embedded import start_server

    url = urlsplit(couchdb_host)
    if url.hostname not in ("localhost", "127.0.0.1") or url.scheme != "http":
        raise click.UsageError(f"--embedded needs couchdb_host on http://localhost, not {redact(couchdb_host)}")
    _report_server(start_server(url.port or 80))


def _report_server(server, using: bool = True) -> None:
    if server.external:
        click.echo(f"a CouchDB that dirt did not start answers at {server.url}" + ("; using it" if using else ""))
    elif server.running:
        click.echo(f"embedded database running at {server.url} (pid {server.pid}, data in {server.data_dir})")
    else:
        click.echo(f"embedded database not running (would serve {server.url}, data in {server.data_dir})")


@cli.group()
def db() -> None:
    """Start, stop and show the embedded database (pouchdb-server).

    \b
    dirt db start [--port 5984] [--dir DATA_DIR]
    dirt db status [--port 5984]
    dirt db stop [--port 5984]

    A local CouchDB-API server for trying dirt and for small projects: data
    in ~/.local/share/dirt/pouchdb (or --dir), listening on 127.0.0.1 only.
    It needs Node.js 20 and npm; pouchdb-server comes from this checkout's
    node_modules or is installed by npm into ~/.local/share/dirt/npm. It runs
    in the background until `dirt db stop`. For production, point
    couchdb_host at Apache CouchDB 3 instead.
    """


@db.command("start")
@click.option("--port", type=click.IntRange(1, 65535), default=5984, show_default=True,
              help="TCP port on 127.0.0.1.")
@click.option("--dir", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data directory (default: ~/.local/share/dirt/pouchdb).")
def db_start(port: int, data_dir: Path | None) -> None:
    """Start the embedded database, unless it (or another CouchDB) already answers."""
    from .embedded import start_server

    _report_server(start_server(port, data_dir))


@db.command("stop")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Stop it only if it runs on this port (as given to `dirt db start --port`).")
def db_stop(port: int | None) -> None:
    """Stop the embedded database that `dirt db start` started.

    A CouchDB that dirt did not start is never stopped.
    """
    from .embedded import stop_server

    stopped = stop_server(port=port)
    where = f" on port {port}" if port else ""
    click.echo(f"stopped the embedded database at {stopped.url} (pid {stopped.pid})" if stopped
               else f"the embedded database was not running{where}")


@db.command("status")
@click.option("--port", type=click.IntRange(1, 65535), default=5984, show_default=True,
              help="Where to look when the embedded database is not running.")
def db_status(port: int) -> None:
    """Show the embedded database's URL, data directory, pid and whether it runs."""
    from .embedded import status as server_status

    _report_server(server_status(port=port), using=False)


def main() -> None:
    """Console entry point: run the CLI, turning dirt's errors into messages."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DirtError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)

