"""egret: compile a CouchApp directory into a design document and push it."""

__version__ = "0.7.0"
