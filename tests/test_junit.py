"""JUnit XML reports, as real test runners write them, and hostile ones."""
from __future__ import annotations

import time

import pytest

from dirt import junit
from dirt.documents import build_results

PYTEST = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.412"
 timestamp="2026-01-02T10:00:00" hostname="ci1">
<testcase classname="tests.test_math" name="test_add" time="0.001" />
<testcase classname="tests.test_math" name="test_div[0]" time="0.010">
<failure message="ZeroDivisionError: division by zero">def test_div(x):
&gt;       assert 1 / x
E       ZeroDivisionError: division by zero</failure></testcase>
<testcase classname="tests.test_io" name="test_read" time="0.2">
<error message="failed on setup with &quot;FileNotFoundError&quot;">fixture 'tmp' not found</error></testcase>
<testcase classname="tests.test_io" name="test_slow" time="0"><skipped type="pytest.skip" message="slow">
</skipped></testcase>
<testcase classname="tests.test_io" name="test_unicode_&#233;" time="0.2"><system-out>ok</system-out></testcase>
</testsuite></testsuites>
"""

# ctest --output-junit: status attributes, failures carry the test's output.
CTEST = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux-c++" tests="3" failures="1" disabled="1" skipped="0" hostname="" time="2"
 timestamp="2026-01-02T10:00:00">
    <testcase name="unit" classname="unit" time="0.5" status="run"><system-out>passed</system-out></testcase>
    <testcase name="integration" classname="integration" time="1.5" status="fail">
        <failure message="Failed">expected 3, got 4</failure><system-out>expected 3, got 4</system-out>
    </testcase>
    <testcase name="gpu" classname="gpu" time="0" status="disabled"><skipped message="Disabled"/></testcase>
</testsuite>
"""

# Maven Surefire: nested suites, properties, a test that passed when rerun.
SUREFIRE = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="org.example.AppTest" time="0.05"
 tests="2" errors="0" skipped="0" failures="0">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="testApp" classname="org.example.AppTest" time="0.01"/>
  <testcase name="testNetwork" classname="org.example.AppTest" time="0.04">
    <flakyFailure message="timeout" type="java.net.SocketTimeoutException">at org.example</flakyFailure>
  </testcase>
</testsuite>
"""


def test_pytest_report():
    report = junit.parse(PYTEST, "junit.xml")
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (5, 2, 1, 1, 1)
    assert report.time == pytest.approx(0.411)
    first, second = report.failures
    assert first.test == "tests.test_math.test_div[0]" and first.kind == "failure"
    assert first.message == "ZeroDivisionError: division by zero"
    assert "> " in first.detail and "E       ZeroDivisionError" in first.detail
    assert second.test == "tests.test_io.test_read" and second.kind == "error"
    assert second.message == 'failed on setup with "FileNotFoundError"'


def test_ctest_report():
    report = junit.parse(CTEST, "ctest.xml")
    assert (report.total, report.passed, report.failed, report.skipped) == (3, 1, 1, 1)
    assert report.failures[0].test == "integration"     # classname == name: said once
    assert report.failures[0].detail == "expected 3, got 4"


def test_surefire_flaky_test_passes_and_is_listed():
    report = junit.parse(SUREFIRE, "TEST-org.example.AppTest.xml")
    assert (report.total, report.passed, report.failed) == (2, 2, 0)
    assert report.flaky == ["org.example.AppTest.testNetwork"]


def test_summarize_merges_reports_and_ignores_other_xml():
    other = b"<?xml version='1.0'?><project><modelVersion>4.0.0</modelVersion></project>"
    summary = junit.summarize([("junit.xml", PYTEST), ("pom.xml", other), ("ctest.xml", CTEST),
                               ("garbage.xml", b"\x00\x01 not xml")])
    assert summary["files"] == ["junit.xml", "ctest.xml"]
    assert (summary["total"], summary["failed"], summary["errors"]) == (8, 2, 1)
    assert [f["test"] for f in summary["failures"]] == [
        "tests.test_math.test_div[0]", "tests.test_io.test_read", "integration"]
    assert "problems" not in summary
    assert junit.summarize([("pom.xml", other)]) is None


def test_entities_are_never_expanded():
    laughs = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<testsuite><testcase name="a"><failure message="&lol9;"/></testcase></testsuite>"""
    external = b"""<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="a"><failure message="&x;"/></testcase></testsuite>"""
    for data in (laughs, external):
        started = time.monotonic()
        summary = junit.summarize([("evil.xml", data)])
        assert time.monotonic() - started < 1
        assert summary["total"] == 0 and "document type declaration" in summary["problems"][0]
        assert "root:" not in str(summary) and "lollol" not in str(summary)


def test_a_report_that_breaks_off_counts_what_it_read():
    cut = PYTEST[:PYTEST.index(b"<testcase classname=\"tests.test_io\" name=\"test_slow\"")]
    summary = junit.summarize([("junit.xml", cut)])
    assert summary["total"] == 3 and summary["failed"] == 1 and summary["errors"] == 1
    assert "not well-formed" in summary["problems"][0] and summary["problems"][0].startswith("junit.xml: ")


def test_huge_and_deep_reports_are_capped():
    cases = b"".join(b'<testcase classname="c" name="t%d"><failure message="%s">%s</failure></testcase>'
                     % (i, b"m" * 5000, b"d" * 50_000) for i in range(200))
    summary = junit.summarize([("big.xml", b"<testsuite>" + cases + b"</testsuite>")])
    assert summary["total"] == 200 and summary["failed"] == 200
    assert len(summary["failures"]) == junit.MAX_FAILURES
    assert summary["failures_omitted"] == 200 - junit.MAX_FAILURES
    assert all(len(f["message"]) <= junit.MAX_MESSAGE and len(f["detail"]) <= junit.MAX_DETAIL
               for f in summary["failures"])
    deep = b"<testsuite>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</testsuite>"
    summary = junit.summarize([("deep.xml", deep)])
    assert "deep" in summary["problems"][0]


def test_over_the_size_limit_only_the_start_is_read(monkeypatch):
    monkeypatch.setattr(junit, "MAX_BYTES", 2000)   # a 32 MB file would make this test slow
    case = b'<testcase classname="c" name="t"/>'
    summary = junit.summarize([("big.xml", b"<testsuite>" + case * 1000 + b"</testsuite>")])
    assert 0 < summary["total"] < 1000 and "only its first" in summary["problems"][0]


def test_build_results_adds_the_tests_of_xml_attachments():
    returned = {"success": False, "attachments": [
        {"filename": "reports/junit.xml", "contents": PYTEST.decode(), "link_name": "JUnit report"},
        {"filename": "log.txt", "contents": "<testsuite><testcase name='no'/></testsuite>"}]}
    results, attachments, state = build_results(returned, 4_000_000)
    assert state == "failed"
    assert results["tests"]["total"] == 5 and results["tests"]["files"] == ["reports/junit.xml"]
    assert attachments["reports/junit.xml"]["content_type"].startswith("text/plain")   # never served as XML
    # a task's own "tests" value is kept
    own = {"success": True, "tests": 12, "attachments": [{"filename": "junit.xml", "contents": PYTEST}]}
    assert build_results(own, 4_000_000)[0]["tests"] == 12
    assert "tests" not in build_results({"success": True}, 4_000_000)[0]
