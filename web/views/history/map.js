function (doc) {
  // One task name across records, oldest to newest: key [name, created, _id].
  // Newest first: descending=true, startkey=[name, {}], endkey=[name].
  // A date range: startkey=[name, T1], endkey=[name, T0] (descending).
  // group_level=1 (with the _count reduce) lists every task name and its runs.
  // Value: outcome, duration (seconds from started to completed), variant
  // (platform and kwargs, lib/variant.js), test counts [total, failing], which
  // run it is and who asked for it (run, rerun_by; earlier: true for a run a
  // rerun replaced).
  // !code lib/state.js
  // !code lib/variant.js
  // !code lib/tests.js
  if (doc.type !== 'task' || typeof doc.name !== 'string') return;
  var results = doc.results && typeof doc.results === 'object' ? doc.results : {};
  var state = taskState(doc);
  var started = typeof doc.started === 'number' ? doc.started : null;
  var completed = typeof doc.completed === 'number' ? doc.completed : null;
  var created = typeof doc.created === 'number' ? doc.created : (started || 0);
  var run = typeof doc.run === 'number' ? doc.run : 1;
  var when = run > 1 && typeof doc.rerun_at === 'number' ? doc.rerun_at : created;
  var report = testReport(doc);
  // A rerun keeps the runs before it in doc.runs: each is a row too (earlier: true),
  // at the time it was asked for (the first run: when the task was created).
  var earlier = Array.isArray(doc.runs) ? doc.runs : [];
  for (var i = 0; i < earlier.length; i++) {
    var r = earlier[i];
    if (!r || typeof r !== 'object' || typeof r.run !== 'number') continue;
    var rs = typeof r.started === 'number' ? r.started : null, rc = typeof r.completed === 'number' ? r.completed : null;
    var rresults = r.results && typeof r.results === 'object' ? r.results : {};
    emit([doc.name, r.run > 1 && typeof r.rerun_at === 'number' ? r.rerun_at : created, doc._id], {
      record_id: doc.record_id, state: r.state, node: r.node || null, started: rs, completed: rc,
      duration: rs !== null && rc !== null ? rc - rs : null, reason: r.reason || rresults.reason || null,
      variant: taskVariant(doc), tests: null, run: r.run, rerun_by: r.rerun_by || null, earlier: true
    });
  }
  emit([doc.name, when, doc._id], {
    record_id: doc.record_id,
    state: state,
    node: doc.node || null,
    started: started,
    completed: completed,
    duration: started !== null && completed !== null ? completed - started : null,
    reason: doc.reason || results.reason || null,
    variant: taskVariant(doc),
    tests: report ? [report.total, (report.failed || 0) + (report.errors || 0)] : null,
    run: run,
    rerun_by: typeof doc.rerun_by === 'string' ? doc.rerun_by : null
  });
}
