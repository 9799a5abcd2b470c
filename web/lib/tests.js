// The test counts dirt serve parsed from a task's JUnit XML files
// (results.tests, see dirt/junit.py), or null when there are none. A task
// may return its own "tests" key of another shape: that is not a report.
function testReport(doc) {
  var results = doc.results;
  var t = results && typeof results === 'object' ? results.tests : null;
  if (!t || typeof t !== 'object' || typeof t.total !== 'number') return null;
  return t;
}
