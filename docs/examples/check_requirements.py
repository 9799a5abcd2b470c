"""Check tasks' requirements against a node's system information, without a server."""
from dirt.requirements import mismatch
from dirt.taskdoc import parse_task

node = {  # a trimmed sys_info, as `dirt updatenodes` stores it
    "sys_platform": "linux",
    "platform": "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
    "architecture": "x86_64",
    "cpu_count": 8,
    "environ": {"G4INSTALL": "/opt/geant4", "HOME": "/home/build"},
    "path": ["/usr/local/bin", "/usr/bin", "/bin"],
}

tasks = {
    "fits": {"platform": "linux", "requires": ["architecture is x86_64", "G4INSTALL in environ"]},
    "needs arm": {"requires": ["architecture is aarch64"]},
    "avoids Debian": {"requires": ["glibc2.36 not_in platform"]},
    "macOS only": {"platform": "osx"},
    "typo": {"requires": ["architecture == x86_64"]},
}

for label, fields in tasks.items():
    # parse_task reads a task document the way dirt serve does: a problem is what ends it in error
    task = parse_task({"type": "task", "record_id": "r1", "name": "build", **fields})
    if task.problem:
        print(f"{label}: error: {task.problem}")
    else:
        why = mismatch(task.platform, task.requires, node)
        print(f"{label}: {'runs here' if why is None else 'waits: ' + why}")
