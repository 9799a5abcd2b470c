"""Packaging: metadata lives in pyproject.toml; this file maps the data trees.

The repository keeps the project template (``skeleton/``) and dirt's CouchApp
(``web/``) at the top level, where users and reviewers find them. In the wheel
they are installed inside the package as ``dirt/skeleton`` and ``dirt/web`` so
that ``pip install .`` followed by ``dirt create`` works without the checkout.
``python setup.py install`` (the 2012 instructions) still works too.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["dirt", "dirt.*", "egret", "egret.*"])
    + ["dirt.skeleton", "dirt.web"],
    package_dir={"dirt.skeleton": "skeleton", "dirt.web": "web"},
    package_data={
        "dirt.skeleton": ["**/*", "**/.*"],
        "dirt.web": ["**/*", "**/.*"],
        "egret": ["**/*.html", "**/*.js"],
    },
    exclude_package_data={"": ["__pycache__/*", "*.pyc"]},
)
