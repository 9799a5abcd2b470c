function (doc) {
  // One row per task, keyed by its record; the reduce sums up a record:
  //   POST group=true {"keys": [RECORD_ID, ...]}  ->  per record
  //   {states: {passed: n, ...}, first: earliest start, last: latest end,
  //    slowest: [seconds, task name, task id]}
  // (the verdict follows from the states: recordVerdict in lib/state.js).
  // !code lib/state.js
  if (doc.type !== 'task' || typeof doc.record_id !== 'string') return;
  emit(doc.record_id, [taskState(doc),
                       typeof doc.started === 'number' ? doc.started : null,
                       typeof doc.completed === 'number' ? doc.completed : null,
                       typeof doc.name === 'string' ? doc.name.slice(0, 120) : '']);
}
