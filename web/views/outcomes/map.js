function (doc) {
  // Tasks by how they ended, newest last: key [verdict, created] where
  // verdict is the record verdict a task in its state stands for (failed for
  // failed and error tasks, see VERDICTS in lib/state.js).
  //   descending=true, startkey=["failed", {}], endkey=["failed"]: the newest failures
  // Value: [name, record_id, state, variant, duration]: what the overview's
  // state filter and the flaky-task analysis read; [..., true] for an earlier run.
  // !code lib/state.js
  // !code lib/variant.js
  if (doc.type !== 'task' || typeof doc.name !== 'string') return;
  var state = taskState(doc), verdict = state;
  for (var i = 0; i < VERDICTS.length; i++) if (VERDICTS[i][1].indexOf(state) >= 0) verdict = VERDICTS[i][0];
  var started = typeof doc.started === 'number' ? doc.started : null;
  var completed = typeof doc.completed === 'number' ? doc.completed : null;
  var when = typeof doc.created === 'number' ? doc.created : (started || 0);
  emit([verdict, when], [doc.name, typeof doc.record_id === 'string' ? doc.record_id : null, state,
                         taskVariant(doc), started !== null && completed !== null ? completed - started : null]);
  // Runs a rerun replaced (doc.runs) count for flakiness, flagged (value[5] true) so
  // that filters by a record's state skip them.
  var runs = Array.isArray(doc.runs) ? doc.runs : [];
  for (var r = 0; r < runs.length; r++) {
    var run = runs[r];
    if (!run || typeof run !== 'object' || !isFinalState(run.state)) continue;
    var v = run.state;
    for (var k = 0; k < VERDICTS.length; k++) if (VERDICTS[k][1].indexOf(run.state) >= 0) v = VERDICTS[k][0];
    var rs = typeof run.started === 'number' ? run.started : null;
    var rc = typeof run.completed === 'number' ? run.completed : null;
    emit([v, rc !== null ? rc : when], [doc.name, typeof doc.record_id === 'string' ? doc.record_id : null, run.state,
                                      taskVariant(doc), rs !== null && rc !== null ? rc - rs : null, true]);
  }
}
