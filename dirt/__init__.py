"""dirt: oversight and tracking of remotely executed jobs, on CouchDB and SSH."""

__version__ = "0.7.0"
