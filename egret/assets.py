"""Third-party front-end files, taken from installed Python packages.

jQuery comes from XStatic-jQuery (PyPI), so the repository holds no copied
vendor files and pages load nothing from a CDN. It is attached to every app as
``vendor/jquery.min.js`` unless the app ships its own file at that name or
turns it off (``"egret": {"jquery": false}`` in ``couchapp.json``).
"""
from __future__ import annotations

from pathlib import Path

from egret.attachments import Attachment
from egret.errors import EgretError

JQUERY_NAME = "vendor/jquery.min.js"


def jquery() -> Attachment:
    """The minified jQuery of the installed XStatic-jQuery, as attachment ``vendor/jquery.min.js``."""
    try:
        import xstatic.pkg.jquery as package
    except ImportError:
        raise EgretError("jQuery is not installed: pip install XStatic-jQuery") from None
    path = Path(package.BASE_DIR) / "jquery.min.js"
    return Attachment.from_file(JQUERY_NAME, path, origin=f"XStatic-jQuery {package.VERSION}")


def jquery_version() -> str | None:
    """The version of the installed jQuery, or ``None``."""
    try:
        import xstatic.pkg.jquery as package
    except ImportError:
        return None
    return str(package.VERSION)
