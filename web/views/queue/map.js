function (doc) {
  // Unfinished tasks: what runs now, and what waits and why.
  //   ["running", node, started]:   group_level=2 gives running tasks per node
  //   ["waiting", reason, created]: group_level=2 gives waiting tasks per reason
  // (reason is "" when the task waits only for a free slot or for dirt serve.)
  // !code lib/state.js
  if (doc.type !== 'task') return;
  var state = taskState(doc);
  var value = {
    name: doc.name,
    record_id: doc.record_id,
    created: doc.created || null,
    started: doc.started || null,
    attempts: Array.isArray(doc.attempts) ? doc.attempts.length : 0
  };
  if (state === 'running') {
    emit(['running', doc.node || '', doc.started || 0], value);
  } else if (state === 'waiting') {
    emit(['waiting', typeof doc.reason === 'string' ? doc.reason : '', doc.created || 0], value);
  }
}
