"""The main dirt server function."""
from __future__ import annotations

import os

from dirt.couch import Database
from dirt.scheduler import Scheduler
from dirt.settings import load_project

__all__ = ["serve"]


def serve(project_dir: str | os.PathLike | None = None, until_idle: bool = False) -> None:
    """Run the project's waiting tasks (``dirt serve``) until interrupted or, with
    ``until_idle``, until nothing is left that a node could take."""
    project = load_project(project_dir)
    settings = project.settings
    db = Database.from_url(settings.couchdb_host, settings.couchdb_dbname)
    db.create(exist_ok=True)
    scheduler = Scheduler(db, project)
    try:
        scheduler.run(until_idle=until_idle)
    finally:
        if scheduler.runs:
            scheduler.hand_back()
        scheduler.close()
