"""Packaging: metadata lives in pyproject.toml; this file maps the data trees.

The repository keeps the project template (``skeleton/``) and dirt's CouchApp
(``web/``) at the top level, where users and reviewers find them. In the wheel
they are installed inside the package as ``dirt/skeleton`` and ``dirt/web`` so
that ``pip install .`` followed by ``dirt create`` works without the checkout.
Every folder of those trees is declared (setuptools treats folders as
packages), with all of its files as data. ``python setup.py install`` (the
2012 instructions) still works too.
"""
import os

from setuptools import find_packages, setup


def data_tree(package: str, folder: str) -> tuple[dict, dict]:
    """Package names, folders and data globs for every folder under ``folder``."""
    dirs, data = {}, {}
    for root, subdirs, _ in os.walk(folder):
        subdirs[:] = [d for d in subdirs if d != "__pycache__"]
        rel = os.path.relpath(root, folder)
        name = package if rel == "." else package + "." + rel.replace(os.sep, ".")
        dirs[name] = root
        data[name] = ["*", ".*"]
    return dirs, data


skeleton_dirs, skeleton_data = data_tree("dirt.skeleton", "skeleton")
web_dirs, web_data = data_tree("dirt.web", "web")

setup(
    packages=find_packages(include=["dirt", "dirt.*", "egret", "egret.*"]) + list(skeleton_dirs) + list(web_dirs),
    package_dir={**skeleton_dirs, **web_dirs},
    package_data={**skeleton_data, **web_data, "egret": ["**/*.html", "**/*.js"]},
    exclude_package_data={"": ["__pycache__/*", "*.pyc"]},
)
