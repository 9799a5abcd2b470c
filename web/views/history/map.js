function (doc) {
  // One task name across records, oldest to newest: key [name, created, _id].
  // Newest first: descending=true, startkey=[name, {}], endkey=[name].
  // group_level=1 (with the _count reduce) lists every task name and its runs.
  // Value: outcome and duration (seconds from started to completed).
  // !code lib/state.js
  if (doc.type !== 'task' || typeof doc.name !== 'string') return;
  var results = doc.results && typeof doc.results === 'object' ? doc.results : {};
  var state = taskState(doc);
  var started = typeof doc.started === 'number' ? doc.started : null;
  var completed = typeof doc.completed === 'number' ? doc.completed : null;
  var when = typeof doc.created === 'number' ? doc.created : (started || 0);
  emit([doc.name, when, doc._id], {
    record_id: doc.record_id,
    state: state,
    node: doc.node || null,
    started: started,
    duration: started !== null && completed !== null ? completed - started : null,
    reason: doc.reason || results.reason || null
  });
}
