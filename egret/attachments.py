"""Attachments: a named blob with a content type, read from a file or held in memory.

A file-backed attachment is never read whole into memory except when it is
inlined into a JSON body; uploads of big files stream it in chunks.
"""
from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1024 * 1024

# The standard library's own table only (not the machine's /etc/mime.types),
# so a directory compiles to the same document everywhere; plus the types
# web apps need that older Pythons lack or name differently.
_TYPES = mimetypes.MimeTypes()
_EXTRA = {
    ".js": "application/javascript",
    ".mjs": "application/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".ico": "image/vnd.microsoft.icon",
    ".webp": "image/webp",
    ".wasm": "application/wasm",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".txt": "text/plain",
}


def content_type_for(name: str) -> str:
    """The content type a file name implies; ``application/octet-stream`` if unknown."""
    suffix = Path(name).suffix.lower()
    if suffix in _EXTRA:
        return _EXTRA[suffix]
    guessed, _encoding = _TYPES.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


@dataclass
class Attachment:
    """One attachment of a design document.

    Exactly one of ``path`` (a file, streamed) and ``data`` (bytes) is set.
    ``origin`` says where it came from, for messages (a relative path, or
    e.g. ``XStatic-jQuery``).
    """

    name: str
    content_type: str
    path: Path | None = None
    data: bytes | None = None
    origin: str = ""
    _md5: str | None = field(default=None, repr=False)
    _length: int | None = field(default=None, repr=False)

    @classmethod
    def from_file(cls, name: str, path: Path, origin: str = "") -> "Attachment":
        """An attachment whose content is the file at ``path``."""
        return cls(name=name, content_type=content_type_for(name), path=path, origin=origin or str(path))

    @classmethod
    def from_bytes(cls, name: str, data: bytes, origin: str = "", content_type: str | None = None) -> "Attachment":
        """An attachment held in memory (a rendered page, a packaged asset)."""
        return cls(name=name, content_type=content_type or content_type_for(name), data=data, origin=origin or name)

    def chunks(self) -> Iterator[bytes]:
        """The content, in chunks of at most 1 MiB."""
        if self.data is not None:
            for start in range(0, len(self.data), CHUNK):
                yield self.data[start:start + CHUNK]
            return
        assert self.path is not None
        with open(self.path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def _measure(self) -> None:
        digest, length = hashlib.md5(), 0
        for chunk in self.chunks():
            digest.update(chunk)
            length += len(chunk)
        self._md5, self._length = digest.hexdigest(), length

    @property
    def md5(self) -> str:
        """Hex MD5 of the content (what egret records to detect changes)."""
        if self._md5 is None:
            self._measure()
        return self._md5  # type: ignore[return-value]

    @property
    def length(self) -> int:
        """Size in bytes."""
        if self._length is None:
            self._measure()
        return self._length  # type: ignore[return-value]

    def read(self) -> bytes:
        """The whole content."""
        return self.data if self.data is not None else b"".join(self.chunks())

    def inline(self) -> dict[str, str]:
        """The ``_attachments`` entry that carries the content inline (base64)."""
        return {"content_type": self.content_type, "data": base64.b64encode(self.read()).decode("ascii")}

    def stub(self) -> dict[str, object]:
        """A description without content: name's type, length and digest."""
        return {"content_type": self.content_type, "length": self.length, "md5": self.md5}
