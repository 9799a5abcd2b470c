function (doc) {
  // One task name across records, oldest to newest: key [name, created, _id].
  // Newest first: descending=true, startkey=[name, {}], endkey=[name].
  // A date range: startkey=[name, T1], endkey=[name, T0] (descending).
  // group_level=1 (with the _count reduce) lists every task name and its runs.
  // Value: outcome, duration (seconds from started to completed), variant
  // (platform and kwargs, lib/variant.js) and test counts [total, failing].
  // !code lib/state.js
  // !code lib/variant.js
  // !code lib/tests.js
  if (doc.type !== 'task' || typeof doc.name !== 'string') return;
  var results = doc.results && typeof doc.results === 'object' ? doc.results : {};
  var state = taskState(doc);
  var started = typeof doc.started === 'number' ? doc.started : null;
  var completed = typeof doc.completed === 'number' ? doc.completed : null;
  var when = typeof doc.created === 'number' ? doc.created : (started || 0);
  var report = testReport(doc);
  emit([doc.name, when, doc._id], {
    record_id: doc.record_id,
    state: state,
    node: doc.node || null,
    started: started,
    completed: completed,
    duration: started !== null && completed !== null ? completed - started : null,
    reason: doc.reason || results.reason || null,
    variant: taskVariant(doc),
    tests: report ? [report.total, (report.failed || 0) + (report.errors || 0)] : null
  });
}
