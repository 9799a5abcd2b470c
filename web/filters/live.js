function (doc, req) {
  // The pages follow _changes through this filter: ?filter=DDOC/live
  // Query parameters narrow it: type=record,task,node  record_id=ID  name=TASKNAME
  // task_id=ID (that task and its log chunks, log:ID:...).
  // Deleted documents always pass (they no longer say what they were), but
  // with task_id only that task's own.
  var q = req.query || {};
  if (doc._deleted) {
    return !q.task_id || doc._id === q.task_id || doc._id.indexOf('log:' + q.task_id + ':') === 0;
  }
  if (q.type && String(q.type).split(',').indexOf(doc.type) < 0) return false;
  if (q.record_id && doc.record_id !== q.record_id && doc._id !== q.record_id) return false;
  if (q.name && doc.name !== q.name) return false;
  if (q.task_id && doc.task_id !== q.task_id && doc._id !== q.task_id) return false;
  return true;
}
