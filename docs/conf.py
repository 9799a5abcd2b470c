"""Sphinx configuration for dirt's documentation (built with -W by tests/test_docs.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from dirt import __version__  # noqa: E402

project = "dirt"
author = "the dirt authors"
copyright = "2012-2026, the dirt authors"
version = release = __version__

extensions = ["sphinx.ext.autodoc", "reference"]  # reference: docs/_ext/reference.py
autodoc_member_order = "bysource"
autodoc_typehints = "description"

exclude_patterns = ["_build", "examples", "_ext", "README.md"]
html_theme = "alabaster"
