function (doc) {
  // Tasks by record: key [record_id, state].
  //   reduce=false, startkey=[id], endkey=[id, {}]:  a record's tasks (record page)
  //   group=true with keys [[id, "passed"], ...]:     counts per state (overview)
  // The value holds what the record page shows, not the whole document:
  // results are summarised in `brief` (a few short values); the page reads the
  // document itself when a user opens a task's full results. `after` is what
  // the task runs after (names or ids), `axes` its platform and short kwargs
  // (lib/variant.js), from which the page orders the tasks and lays out matrices.
  // !code lib/state.js
  // !code lib/tests.js
  // !code lib/variant.js
  if (doc.type !== 'task' || typeof doc.record_id !== 'string') return;
  var results = doc.results && typeof doc.results === 'object' && !Array.isArray(doc.results) ? doc.results : {};
  var state = taskState(doc);
  var brief = [], more = false;
  for (var key in results) {
    if (key === 'success' || key === 'attach_links' || key === 'reason' || (key === 'tests' && testReport(doc))) continue;
    if (brief.length >= 4) { more = true; break; }
    var text = JSON.stringify(results[key]);
    if (text === undefined) continue;
    if (text.length > 80) { text = text.slice(0, 77) + '...'; more = true; }
    brief.push([key, text]);
  }
  var links = results.attach_links || doc.attach_links || [];
  var files = [];
  for (var name in doc._attachments || {}) {
    var att = doc._attachments[name];
    files.push([name, att.content_type || '', att.length || 0]);
  }
  var report = testReport(doc), tests = null;
  if (report) {
    // the counts, and the first few failing tests (the task's document has the rest)
    var failures = Array.isArray(report.failures) ? report.failures : [];
    tests = {total: report.total, passed: report.passed || 0, failed: report.failed || 0,
             errors: report.errors || 0, skipped: report.skipped || 0, failures: [],
             more: Math.max(0, failures.length - 5) + (report.failures_omitted || 0)};
    for (var f = 0; f < failures.length && f < 5; f++) {
      if (!failures[f] || typeof failures[f].test !== 'string') continue;
      tests.failures.push([failures[f].test, String(failures[f].message || '').slice(0, 200)]);
    }
  }
  emit([doc.record_id, state], {
    name: doc.name,
    node: doc.node || null,
    created: doc.created || null,
    started: doc.started || null,
    completed: doc.completed || null,
    reason: doc.reason || results.reason || null,
    attempts: Array.isArray(doc.attempts) ? doc.attempts.length : 0,
    brief: brief,
    more: more,
    links: Array.isArray(links) ? links : [],
    files: files,
    variant: taskVariant(doc),
    axes: taskAxes(doc),
    after: Array.isArray(doc.after) ? doc.after.filter(function (a) { return typeof a === 'string'; }).slice(0, 20) : [],
    tests: tests,
    run: typeof doc.run === 'number' ? doc.run : 1,
    rerun_by: typeof doc.rerun_by === 'string' ? doc.rerun_by : null,
    rerun_at: typeof doc.rerun_at === 'number' ? doc.rerun_at : null,
    cancelled_by: typeof doc.cancelled_by === 'string' ? doc.cancelled_by : null
  });
}
