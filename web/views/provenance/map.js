function (doc) {
  // What ran: one row per attempt that recorded its provenance (the sha256 of
  // the task module's source as shipped, dirt's version, the node's Python and
  // platform). Key [record_id, name, task id, attempt], value {sha256, dirt,
  // python, platform, node}. A record's rows: startkey=[id]&endkey=[id, {}];
  // the record page marks a task name whose module differs between runs.
  if (doc.type !== 'task' || typeof doc.record_id !== 'string' || !Array.isArray(doc.attempts)) return;
  function text(v) { return typeof v === 'string' ? v : null; }
  for (var i = 0; i < doc.attempts.length; i++) {
    var a = doc.attempts[i];
    if (!a || typeof a !== 'object' || !a.provenance || typeof a.provenance !== 'object') continue;
    var p = a.provenance;
    emit([doc.record_id, String(doc.name), doc._id, typeof a.attempt === 'number' ? a.attempt : i + 1],
         {sha256: text(p.sha256), dirt: text(p.dirt), python: text(p.python), platform: text(p.platform),
          node: text(a.node)});
  }
}
