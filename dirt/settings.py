"""A project's settings: every default in one place, validated at start-up.

A project's ``settings.py`` (written by ``dirt create``) is plain Python that
assigns module-level names. It is the user's own file, so it is executed; but
nothing read from the database ever is. Unknown names are ignored (so a
settings file can compute values with helper names of its own), but one that
looks like a misspelt setting (``task_timout``) gets a warning with "did you
mean", never an error; known names are type-checked here, and
``DIRT_COUCHDB_HOST`` / ``DIRT_COUCHDB_DBNAME`` in the environment override
the host and database.

Each field of :class:`Settings` is described by the comment on its line
(and ``#:`` lines above it): the docs' settings reference is built from
them, so a new setting needs one.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import os
import runpy
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SettingsError

BALANCERS = ("round_robin", "load")
COMMIT_STATUS_SERVICES = ("github", "gitlab")


@dataclass
class Settings:
    """Everything dirt reads from a project's settings.py, with its default."""

    #: Name of the project, in log lines and notifications; default: the project directory's name
    project_name: str = "dirt"
    #: URL of the CouchDB server; credentials may be in it (never printed).
    #: DIRT_COUCHDB_HOST in the environment overrides it
    couchdb_host: str = "http://localhost:5984"
    #: Database holding the project's records, tasks and nodes;
    #: DIRT_COUCHDB_DBNAME in the environment overrides it
    couchdb_dbname: str = ""            # default: project_name
    node_enable_default: bool = True    # are newly added nodes enabled?
    log_file: str | None = "dirt.log"   # relative to the project; None: console only
    #: E-mail addresses told when a task ends failed or error
    notify_list: list[str] = field(default_factory=list)
    #: SMTP server notifications are sent through
    smtp_server: str = "localhost"
    #: How nodes are chosen among those that can run a task: "round_robin" (in turn)
    load_balancer: str = "round_robin"  # or "load"
    load_margin: float = 0.9            # "load": skip nodes whose load average is above this × cpus
    task_timeout: float = 3600.0        # seconds a task may run unless its doc says otherwise
    #: Seconds a task may wait while no node can run it before it ends in error
    #: (its record then finishes); 0: for ever. A task's own wait_timeout wins
    wait_timeout: float = 86400.0
    max_attempts: int = 3               # tries before a task that keeps losing its node is an error
    lease_seconds: float = 60.0         # a running task whose server stops renewing is recovered after this
    node_python: str = "python3"        # interpreter started on SSH nodes
    ssh_keepalive: int = 5              # seconds between SSH keepalives; 3 missed = node down
    node_retry_interval: float = 30.0   # seconds between reconnection tries to a down node
    busy_ping_interval: float = 2.0     # seconds between pings of a node while tasks run there
    ping_timeout: float = 5.0           # a node that does not answer a ping within this is lost
    max_result_bytes: int = 4_000_000   # larger results (JSON, without attachments) are refused
    log_max_bytes: int = 4_194_304      # a task attempt's captured output kept: its first and last halves
    log_flush_interval: float = 1.0     # seconds between writes of running tasks' new output lines
    serve_html_attachments: bool = False  # store tasks' HTML/SVG files as what they are (they can run script)
    # Notifications (see docs/notifications.rst). SMTP login: DIRT_SMTP_USER / DIRT_SMTP_PASSWORD.
    #: Port of smtp_server
    smtp_port: int = 25
    smtp_starttls: bool = False         # upgrade the SMTP connection with STARTTLS before logging in
    smtp_sender: str = ""               # From: address; default dirt@<this host>
    webhook_url: str = ""               # JSON POST when all tasks of a record are finished; "" = none
    commit_status: str = ""             # "github", "gitlab", or "" (no commit statuses)
    commit_status_api: str = ""         # API base URL; default https://api.github.com or https://gitlab.com/api/v4
    commit_status_token_env: str = ""   # environment variable holding the token; default GITHUB_TOKEN / GITLAB_TOKEN
    web_url: str = ""                   # the web app's URL, for links; default couchdb_host/db/_design/project_name/
    #: CouchDB's URL as tasks on the nodes reach it, for the database and file URLs tasks are
    #: given (DIRT_COUCHDB_URL, DIRT_AFTER); default: couchdb_host. Credentials are always taken out
    task_couchdb_url: str = ""
    notify_retries: int = 5             # retries of a notification that failed (with doubling delays)
    notify_retry_delay: float = 30.0    # seconds before the first retry
    notify_timeout: float = 10.0        # seconds to wait for an SMTP or HTTP server

    def __post_init__(self) -> None:
        if not self.couchdb_dbname:
            self.couchdb_dbname = self.project_name
        for name in _NONE_MEANS_EMPTY:
            if getattr(self, name) is None:
                setattr(self, name, "")
        self.validate()

    def validate(self) -> None:
        """Raise SettingsError naming the first setting with a wrong type or value."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = _TYPES[f.name]
            if value is None and f.name == "log_file":
                continue
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise SettingsError(f"setting {f.name} must be {_TYPE_WORDS[expected]}, not {value!r}")
        if self.load_balancer not in BALANCERS:
            raise SettingsError(f"setting load_balancer must be one of {', '.join(BALANCERS)}, not {self.load_balancer!r}")
        if not all(isinstance(x, str) for x in self.notify_list):
            raise SettingsError("setting notify_list must be a list of e-mail addresses (strings)")
        for name in ("task_timeout", "lease_seconds", "node_retry_interval", "busy_ping_interval", "ping_timeout",
                     "log_flush_interval"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"setting {name} must be a positive number of seconds")
        if self.wait_timeout < 0:
            raise SettingsError("setting wait_timeout must be a number of seconds, 0 or more (0: wait for ever)")
        if self.max_attempts < 1 or self.max_result_bytes < 1 or self.ssh_keepalive < 1:
            raise SettingsError("settings max_attempts, max_result_bytes and ssh_keepalive must be at least 1")
        if self.log_max_bytes < 1024:
            raise SettingsError("setting log_max_bytes must be at least 1024 (bytes of output kept per attempt)")
        if not self.couchdb_host.startswith(("http://", "https://")):
            raise SettingsError(f"setting couchdb_host must be an http:// or https:// URL, not {self.couchdb_host!r}")
        for name in ("webhook_url", "commit_status_api", "web_url", "task_couchdb_url"):
            value = getattr(self, name)
            if value and not value.startswith(("http://", "https://")):
                # Not echoed: a webhook URL often carries a secret.
                raise SettingsError(f"setting {name} must be an http:// or https:// URL (or empty)")
        if self.commit_status and self.commit_status not in COMMIT_STATUS_SERVICES:
            raise SettingsError(f"setting commit_status must be one of {', '.join(COMMIT_STATUS_SERVICES)} "
                                f"or empty, not {self.commit_status!r}")
        if not 0 < self.smtp_port < 65536:
            raise SettingsError(f"setting smtp_port must be a TCP port number, not {self.smtp_port}")
        if self.notify_retries < 0:
            raise SettingsError("setting notify_retries must be 0 or more")
        for name in ("notify_retry_delay", "notify_timeout"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"setting {name} must be a positive number of seconds")

    @classmethod
    def from_mapping(cls, values: dict[str, Any], environ: dict[str, str] | None = None) -> "Settings":
        """Settings from a dict of names (unknown names ignored) plus the environment."""
        environ = os.environ if environ is None else environ
        known = {f.name for f in dataclasses.fields(cls)}
        chosen = {k: v for k, v in values.items() if k in known}
        if environ.get("DIRT_COUCHDB_HOST"):
            chosen["couchdb_host"] = environ["DIRT_COUCHDB_HOST"]
        if environ.get("DIRT_COUCHDB_DBNAME"):
            chosen["couchdb_dbname"] = environ["DIRT_COUCHDB_DBNAME"]
        return cls(**chosen)


_TYPES = {
    "project_name": str, "couchdb_host": str, "couchdb_dbname": str, "node_enable_default": bool,
    "log_file": str, "notify_list": list, "smtp_server": str, "load_balancer": str, "load_margin": float,
    "task_timeout": float, "wait_timeout": float, "max_attempts": int, "lease_seconds": float, "node_python": str,
    "ssh_keepalive": int, "node_retry_interval": float, "busy_ping_interval": float, "ping_timeout": float,
    "max_result_bytes": int, "log_max_bytes": int, "log_flush_interval": float,
    "smtp_port": int, "smtp_starttls": bool, "smtp_sender": str, "webhook_url": str, "commit_status": str,
    "commit_status_api": str, "commit_status_token_env": str, "web_url": str, "notify_retries": int,
    "notify_retry_delay": float, "notify_timeout": float, "serve_html_attachments": bool, "task_couchdb_url": str,
}
# Settings where None (natural in a settings file) means "not set".
_NONE_MEANS_EMPTY = ("smtp_sender", "webhook_url", "commit_status", "commit_status_api",
                     "commit_status_token_env", "web_url", "task_couchdb_url")
_TYPE_WORDS = {str: "a string", bool: "True or False", list: "a list", float: "a number", int: "a whole number"}


@dataclass
class Project:
    """A dirt project directory: its settings and its tasks/ package.

    ``warnings`` are things in settings.py worth telling the user (a name
    that looks like a misspelt setting); the CLI shows them.
    """

    root: Path
    settings: Settings
    warnings: list[str] = field(default_factory=list)

    @property
    def tasks_dir(self) -> Path:
        return self.root / "tasks"

    @property
    def log_path(self) -> Path | None:
        if not self.settings.log_file:
            return None
        return self.root / self.settings.log_file


def load_project(root: str | os.PathLike | None = None) -> Project:
    """Read ``settings.py`` from the project directory ``root`` (default: cwd)."""
    root = Path(root or os.getcwd()).resolve()
    path = root / "settings.py"
    if not path.is_file():
        raise SettingsError(
            f"no settings.py in {root}: run this from a project directory made by `dirt create`, "
            "or pass --project DIR")
    try:
        values = runpy.run_path(str(path))
    except Exception as exc:  # the user's file: report whatever it raised
        raise SettingsError(f"{path} failed to load: {type(exc).__name__}: {exc}") from None
    values.setdefault("project_name", root.name)
    return Project(root, Settings.from_mapping(values), misspelt_settings(path, values))


def misspelt_settings(path: Path, values: dict[str, Any]) -> list[str]:
    """A warning for each name in a settings file that is not a setting but looks like one.

    Names of the file's own helpers (modules, functions, classes, names
    starting with ``_``, or names like no setting) pass silently.
    """
    known = [f.name for f in dataclasses.fields(Settings)]
    lines = _assignment_lines(path)
    found = []
    for name, value in values.items():
        if name in known or name.startswith("_") or isinstance(value, (types.ModuleType, types.FunctionType, type)):
            continue
        guess = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.8)
        if guess:
            where = f"{path}, line {lines[name]}" if name in lines else str(path)
            found.append(f"{where}: {name} is not a dirt setting and is ignored; did you mean {guess[0]}?")
    return found


def _assignment_lines(path: Path) -> dict[str, int]:
    """The line of the first assignment to each module-level name in ``path``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    lines: dict[str, int] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            if isinstance(target, ast.Name):
                lines.setdefault(target.id, node.lineno)
    return lines
