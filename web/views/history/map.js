function (doc) {
  // One task name across records, oldest to newest: key [name, created, _id].
  // Newest first: descending=true, startkey=[name, {}], endkey=[name].
  // group_level=1 (with the _count reduce) lists every task name and its runs.
  // Value: outcome and duration (seconds from started to completed).
  if (doc.type !== 'task' || typeof doc.name !== 'string') return;
  var states = ['waiting', 'running', 'passed', 'failed', 'error', 'cancelled'];
  var results = doc.results && typeof doc.results === 'object' ? doc.results : {};
  var state = doc.state;
  if (states.indexOf(state) < 0) {
    state = doc.completed ? (results.success === true ? 'passed' : 'failed') : 'waiting';
  }
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
