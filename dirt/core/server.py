"""The main dirt server function."""
from __future__ import annotations

import os

from dirt.couch import Database
from dirt.server import build_server
from dirt.settings import load_project

__all__ = ["serve"]


def serve(project_dir: str | os.PathLike | None = None, until_idle: bool = False) -> None:
    """Run the project's waiting tasks (``dirt serve``) until interrupted or, with
    ``until_idle``, until nothing is left that a node could take. Notifications
    are sent as ``dirt serve`` sends them."""
    project = load_project(project_dir)
    settings = project.settings
    db = Database.from_url(settings.couchdb_host, settings.couchdb_dbname)
    db.create(exist_ok=True)
    server = build_server(project, db)
    try:
        server.run(until_idle=until_idle)
    finally:
        server.close()
