"""The 2012 module API (dirt.core.*) still works as documented."""
import threading

import execnet

from dirt.core import dbi, load_balance, yelling
from dirt_run import add_nodes


def test_dbi_module_api(project, couch, caplog):
    add_nodes(project, "localhost")
    caplog.set_level("INFO")
    db = dbi.DirtCouchDB(couch.url, project.dbname)
    assert f"Connected to db at {couch.url}/{project.dbname}" in caplog.text
    nodes = db.get_nodes()
    assert list(nodes) == ["localhost"] and nodes["localhost"]["sys_info"]["cpu_count"] >= 1

    task = db.save({"type": "task", "record_id": "r1", "name": "examples.simple", "requires": ["PATH in environ"]})
    assert dbi.check_requirements(db, task["_id"], "localhost") is True
    odd = db.save({"type": "task", "record_id": "r1", "name": "x", "requires": ["architecture is vax"]})
    assert dbi.check_requirements(db, odd["_id"], nodes["localhost"]) is False

    # The seed's recipe: run a task module on a node with execnet, push its results.
    import importlib.util
    spec = importlib.util.spec_from_file_location("attachments", project.root / "tasks/examples/attachments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gw = execnet.makegateway("popen//python=python3")
    results = gw.remote_exec(module).receive()
    gw.exit()
    db.push_results(results, task["_id"], "localhost", gw)
    doc = db.db.get(task["_id"])
    assert doc["state"] == "passed" and doc["attach_links"] == [{"id": "report.txt", "name": "Report"}]
    assert "report.txt" in doc["_attachments"]

    stop = threading.Event()
    waiting = db.get_tasks(stop)
    first = next(waiting)
    assert first["_id"] == odd["_id"]
    stop.set()

    assert db.disable_node("localhost") == 1
    assert db.get_nodes()["localhost"]["enabled"] is False


def test_round_robin_generator(project, couch):
    add_nodes(project, "localhost", "popen//python=python3")
    db = dbi.DirtCouchDB(couch.url, project.dbname)
    gen = load_balance.round_robin(db)
    names = [next(gen)["name"] for _ in range(4)]
    assert names == ["localhost", "popen//python=python3"] * 2
    gen = load_balance.load(db, margin=1000)
    assert next(gen)["name"] == "localhost"
    gen.close()


def test_yelling_log_format(tmp_path):
    path = tmp_path / "x.log"
    yelling.Log(str(path), service_name="myproject", console=False).write("hello")
    line = path.read_text().strip()
    import re
    assert re.fullmatch(r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ myproject : hello", line), line
