function (doc, req) {
  // The pages follow _changes through this filter: ?filter=DDOC/live
  // Query parameters narrow it: type=record,task,node  record_id=ID  name=TASKNAME
  // Deleted documents always pass (they no longer say what they were).
  if (doc._deleted) return true;
  var q = req.query || {};
  if (q.type && String(q.type).split(',').indexOf(doc.type) < 0) return false;
  if (q.record_id && doc.record_id !== q.record_id && doc._id !== q.record_id) return false;
  if (q.name && doc.name !== q.name) return false;
  return true;
}
