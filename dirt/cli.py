"""The ``dirt`` command. The only module that prints, reads signals or exits.

Exit codes: 0 success; 1 a dirt error; 2 bad usage or settings (also: the
project already exists); 3 CouchDB unreachable, refusing or failing;
4 some of the nodes given to ``updatenodes`` could not be updated.
"""
from __future__ import annotations

import json
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
    Store a record, tasks:    dirt submit r124 --task examples.simple
    Find what broke a task:   dirt bisect TASK --good RECORD --bad RECORD
    Cancel, run again:        dirt cancel TASK_ID; dirt rerun --record r124 --failed

    Records and tasks are JSON documents in the database (`dirt submit`,
    curl, `egret pushdata`, a post-commit hook); `dirt serve` runs each task
    on a matching node and stores its results and attachments back.
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
@click.argument("task_ids", nargs=-1)
@project_option
def status(task_ids: tuple[str, ...], project_dir: Path | None) -> None:
    """Sum up the database: records, tasks by state, servers, nodes, and what waits.

    A server is alive while its heartbeat is recent; a node shows as up only
    while a live server holds it. With TASK_IDS: each task's runs instead
    (a rerun keeps the earlier ones), how each ended, and who asked for it.
    """
    from .status import summarize, task_history

    project = load(project_dir)
    db = Database.from_url(project.settings.couchdb_host, project.settings.couchdb_dbname)
    if task_ids:
        click.echo("\n".join(task_history(db, task_id) for task_id in task_ids))
        return
    click.echo(summarize(db))


# -- acting on records and tasks: submit, cancel, rerun ------------------------------------------

db_option = click.option(
    "--db", "db_url", metavar="URL", default=None,
    help="The database's URL (http://host:5984/dbname) instead of the project's settings; the login as "
         "for the project: in the URL, DIRT_COUCHDB_USER/DIRT_COUCHDB_PASSWORD, COUCHDB_USER/"
         "COUCHDB_PASSWORD, or ~/.netrc.")


def target(project_dir: Path | None, db_url: str | None) -> tuple[Database, Project | None]:
    """The database to act on (``--db``, else the project's), and the project if there is one."""
    project = None
    if db_url is None or project_dir is not None:     # with --db alone, no project (a hook in another repo)
        project = load(project_dir)
    if db_url is not None:
        return Database.from_url(db_url), project
    s = project.settings
    return Database.from_url(s.couchdb_host, s.couchdb_dbname), project


@cli.command()
@click.argument("record_id", required=False)
@click.option("--task", "-t", "names", multiple=True, metavar="NAME",
              help="A task module to run for the record (repeat for several), e.g. examples.simple.")
@click.option("--description", "-d", default=None, help="The record's description (with --git: the commit's subject).")
@click.option("--kwargs", "kwargs_json", metavar="JSON", default=None,
              help='Keyword arguments for every task, as a JSON object: \'{"compiler": "gcc"}\'.')
@click.option("--kwarg", "kwarg_pairs", multiple=True, metavar="KEY=VALUE",
              help="One keyword argument (repeatable); VALUE is read as JSON if it is JSON (n=3), else as text.")
@click.option("--platform", default=None, help="Where the tasks must run: linux, darwin, win32...")
@click.option("--requires", multiple=True, metavar="RULE",
              help="A requirement the node must meet (repeatable): 'architecture is x86_64', 'G4INSTALL in environ'.")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE",
              help="Another field of the record (repeatable): branch=main, author=ann, changeset_url=...")
@click.option("--git", "from_git", is_flag=True,
              help="Take the record from git's HEAD: its sha as id and sha, subject, author, branch, and the "
                   "remote origin as repository (DIRT_REVISION, DIRT_SUBJECT, DIRT_REPOSITORY win).")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="The git repository for --git (default: the current directory).")
@click.option("--file", "file_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='A JSON or YAML file with the record and its tasks: {"record": {...}, "tasks": [...]}, '
                   'or {"docs": [...]}.')
@click.option("--matrix", "axes", multiple=True, metavar="KEY=V1,V2",
              help="One task per combination of values (repeatable): --matrix platform=linux,osx --matrix "
                   "python=3.11,3.12 makes four of each task; platform sets where it runs, other keys go "
                   "into its kwargs (as strings).")
@click.option("--after", "after", multiple=True, metavar="NAME",
              help="The tasks run after the record's tasks of this name (or this task id) passed, and are "
                   "skipped if one did not (repeatable).")
@click.option("--again", is_flag=True, help="Store new copies of tasks that are stored already.")
@project_option
@db_option
def submit(record_id: str | None, names: tuple[str, ...], description: str | None, kwargs_json: str | None,
           kwarg_pairs: tuple[str, ...], platform: str | None, requires: tuple[str, ...], fields: tuple[str, ...],
           from_git: bool, repo: Path, file_path: Path | None, axes: tuple[str, ...], after: tuple[str, ...],
           again: bool, project_dir: Path | None, db_url: str | None) -> None:
    """Store record RECORD_ID and tasks to run for it; print what was stored.

    \b
    dirt submit r124 --task examples.simple --task examples.kwargs --kwarg foo=3
    dirt submit --git --task build --task test       (in a git post-commit hook)
    dirt submit --file r124.yaml
    dirt submit r124 --task test --after build --matrix platform=linux,osx

    Each task's id is the record's id and the task's name (plus a hash of its
    kwargs, platform and requires, if any), so submitting the same record
    and tasks again stores nothing new (it says "exists"); --again stores
    copies. Names are checked against the project's tasks/ when there is a
    project. Nothing is stored if anything is wrong. Exit code 3 if CouchDB
    refuses a document (e.g. the account lacks the "submitters" role).
    """
    from . import submit as submitting
    from .taskfiles import resolve_task

    if file_path is not None:
        if record_id or names or from_git or description or kwargs_json or kwarg_pairs or platform or requires \
                or fields or after:
            raise click.UsageError("--file holds the record and its tasks: give no RECORD_ID, --task or other "
                                   "record options with it")
        submission = submitting.from_file(file_path)
    else:
        record_fields: dict = submitting.git_fields(repo) if from_git else {}
        for pair in fields:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise click.UsageError(f"--field {pair!r} is not KEY=VALUE (e.g. --field branch=main)")
            record_fields[key] = value
        record_id = record_id or record_fields.pop("_id", None)
        record_fields.pop("_id", None)
        if not names:
            raise click.UsageError("name at least one task to run: --task NAME (e.g. --task examples.simple)")
        kwargs = {}
        if kwargs_json is not None:
            try:
                kwargs = json.loads(kwargs_json)
            except ValueError as exc:
                raise click.UsageError(f"--kwargs is not JSON: {exc}") from None
            if not isinstance(kwargs, dict):
                raise click.UsageError('--kwargs must be a JSON object, e.g. \'{"compiler": "gcc"}\'')
        kwargs.update(submitting.parse_kwarg(pair) for pair in kwarg_pairs)
        submission = submitting.from_options(record_id or "", list(names), description=description,
                                             kwargs=kwargs, platform=platform, requires=list(requires),
                                             fields=record_fields,
                                             task_fields={"after": list(after)} if after else None)
    if axes:        # one task per combination (dirt.matrix), for --task and --file alike
        from .matrix import expand, parse_axis

        parsed = [parse_axis(axis) for axis in axes]
        submission.tasks = [doc for task in submission.tasks for doc in expand(task, parsed)]
    db, project = target(project_dir, db_url)

    def problem_of(name: str) -> str | None:
        try:
            resolve_task(project.tasks_dir, name)
        except DirtError as exc:
            return str(exc)
        return None

    stored = submitting.store(db, submission, again=again, problem_of=problem_of if project else None)
    for item in stored:
        line = f"{item.kind} {item.doc_id}: {item.status}" + (f" ({item.detail})" if item.detail else "")
        click.echo(("error: " if not item.ok else "") + line, err=not item.ok)
    if not all(item.ok for item in stored):
        sys.exit(3)


def _report_action(report, verb: str) -> None:
    for done in report.done:
        click.echo(done.message)
    if report.note:
        click.echo(report.note)
    for task_id, why in report.refused:
        click.echo(f"error: {task_id}: not {verb}: {why}", err=True)
    if report.refused:
        sys.exit(3 if report.couch_refused else 1)


@cli.command()
@click.argument("task_ids", nargs=-1)
@click.option("--record", "record_id", metavar="RECORD_ID", default=None,
              help="Cancel every task of this record that has not ended.")
@project_option
@db_option
def cancel(task_ids: tuple[str, ...], record_id: str | None, project_dir: Path | None, db_url: str | None) -> None:
    """Cancel tasks TASK_IDS (or those of --record): waiting ones never start,
    running ones are stopped on their node by the dirt serve that runs them.

    Each is marked cancelled with who asked (your CouchDB account, or your
    local user name where the server has no accounts) and when. A task that
    has already ended is left alone and said so (exit code 1). Needs the
    "operators" role on a CouchDB with roles.
    """
    from . import actions

    db, _ = target(project_dir, db_url)
    _report_action(actions.cancel(db, task_ids, record_id), "cancelled")


@cli.command()
@click.argument("task_ids", nargs=-1)
@click.option("--record", "record_id", metavar="RECORD_ID", default=None,
              help="Rerun the tasks of this record that have ended.")
@click.option("--failed", is_flag=True, help="Only tasks that ended failed or error.")
@click.option("--with-followers", "followers", is_flag=True,
              help="Also rerun every finished task that runs after them (those skipped because of them are "
                   "rerun anyway).")
@project_option
@db_option
def rerun(task_ids: tuple[str, ...], record_id: str | None, failed: bool, followers: bool, project_dir: Path | None,
          db_url: str | None) -> None:
    """Run finished tasks TASK_IDS (or those of --record) again, keeping every earlier run.

    \b
    dirt rerun r124-examples.simple
    dirt rerun --record r124 --failed

    The task document gets a new run: the one that ended (its state,
    results, node, times, reason) moves to its "runs" list, and the task
    waits to run again, with who asked and when. Views that read
    "completed" and "results.success" show the newest run; the task history
    page, `dirt status` and notifications see every run. A task still
    waiting or running (also one already being rerun) is left alone and said
    so (exit code 1). Needs the "operators" role on a CouchDB with roles.

    Tasks that run after them (`after`) and were skipped because of them
    run again too; rerunning a skipped task first reruns what it was skipped
    for (the task it runs after that failed).
    """
    from . import actions

    db, _ = target(project_dir, db_url)
    _report_action(actions.rerun(db, task_ids, record_id, failed=failed, followers=followers), "rerun")


@cli.command()
@click.option("--members-only", is_flag=True,
              help="Only members may read (the roles readers, submitters, operators, dirt-server); "
                   "without it anyone may read, and writes still need a role.")
@click.option("--grant", "grants", multiple=True, metavar="USER=ROLE[,ROLE]",
              help="Give an existing account roles (repeatable): --grant ann=operators --grant ci=dirt-server.")
@click.option("--csp", "apply_csp", is_flag=True,
              help="Also set the server's attachment Content-Security-Policy so the app's own scripts run "
                   "(Apache CouchDB 3.2+; see `egret csp --help`).")
@project_option
def setup(members_only: bool, grants: tuple[str, ...], apply_csp: bool, project_dir: Path | None) -> None:
    """Set up the project's database for production, as a server admin.

    Creates the database, writes its _security (members-only with
    --members-only; else anyone may read), pushes the web app (whose
    validate_doc_update enforces the roles: readers change nothing,
    submitters add records and tasks, operators cancel and rerun, only
    dirt-server writes outcomes), installs the design documents dirt serve
    reads, gives accounts roles (--grant) and checks that the server lets
    the app's scripts run (--csp changes the server's setting so they do).
    Each step says what it changed; running it again changes nothing that
    is right already. Give a server admin's login as for any dirt command
    (DIRT_COUCHDB_USER and DIRT_COUCHDB_PASSWORD, or ~/.netrc).
    """
    from .couch import split_credentials
    from .setup import setup as set_up

    project = load(project_dir)
    s = project.settings
    pairs = []
    for given in grants:
        user, sep, roles = given.partition("=")
        if not sep or not user or not roles:
            raise click.UsageError(f"--grant {given!r} is not USER=ROLE[,ROLE] (e.g. --grant ann=operators)")
        pairs.append((user, [r.strip() for r in roles.split(",") if r.strip()]))
    _, login = split_credentials(s.couchdb_host)
    db = Database.from_url(s.couchdb_host, s.couchdb_dbname)
    for line in set_up(db, project.root / "web", login, members_only=members_only, grants=pairs,
                       apply_csp=apply_csp):
        click.echo(line, err=line.startswith("warning:"))


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
@db_option
def bisect_command(task_name: str, good: str, bad: str, no_wait: bool, timeout: float | None,
                   project_dir: Path | None, db_url: str | None) -> None:
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

    db, _ = target(project_dir, db_url)
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

