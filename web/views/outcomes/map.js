function (doc) {
  // Tasks by how they ended, newest last: key [verdict, created] where
  // verdict is the record verdict a task in its state stands for (failed for
  // failed and error tasks, see VERDICTS in lib/state.js).
  //   descending=true, startkey=["failed", {}], endkey=["failed"]: the newest failures
  // Value: [name, record_id, state, variant, duration]: what the overview's
  // state filter and the flaky-task analysis read.
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
}
