"""Store a record and its tasks, as a post-commit hook would.

Usage: python post_record.py REVISION
The server and database come from DIRT_COUCHDB_HOST and DIRT_COUCHDB_DBNAME.
"""
import os
import sys
import time

import httpx

server = os.environ.get("DIRT_COUCHDB_HOST", "http://localhost:5984")
database = os.environ.get("DIRT_COUCHDB_DBNAME", "builder")
revision = sys.argv[1]
now = time.time()

record = {"_id": f"r{revision}", "type": "record", "created": now,
          "description": f"revision {revision}"}
tasks = [
    {"_id": f"r{revision}-{name}", "type": "task", "record_id": record["_id"],
     "name": name, "created": now, **extra}
    for name, extra in [
        ("examples.simple", {}),
        ("examples.kwargs", {"kwargs": {"foo": int(revision), "bar": "from the hook"}}),
        ("examples.attachments", {"platform": "linux"}),
    ]
]

response = httpx.post(f"{server}/{database}/_bulk_docs", json={"docs": [record, *tasks]})
response.raise_for_status()
for row in response.json():
    print(row["id"], "stored" if "rev" in row else f"not stored: {row.get('reason')}")
