"""Routine used to create the skeleton directory structure for a new project."""
from dirt.create import create_project

__all__ = ["create_project", "create"]


def create(name: str, dbname: str | None = None):
    """Create project directory ``name`` (database ``dbname``, default the name)."""
    return create_project(name, dbname)
