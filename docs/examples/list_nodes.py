"""List a project's nodes and whether each may run a task (the 2012 dbi API).

Usage: python list_nodes.py TASK_ID
The server and database come from DIRT_COUCHDB_HOST and DIRT_COUCHDB_DBNAME.
"""
import os
import sys

from dirt.core import dbi

db = dbi.DirtCouchDB(os.environ.get("DIRT_COUCHDB_HOST", "http://localhost:5984"),
                     os.environ.get("DIRT_COUCHDB_DBNAME", "builder"))
task_id = sys.argv[1]
for name, node in sorted(db.get_nodes().items()):
    info = node["sys_info"]
    fits = dbi.check_requirements(db, task_id, node)
    cpus = info["cpu_count"]
    print(f"{name}: {cpus} cpu{'' if cpus == 1 else 's'}, {info['architecture']}, "
          f"enabled: {node['enabled']}, can run {task_id}: {fits}")
