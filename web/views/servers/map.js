function (doc) {
  // dirt servers (`dirt serve` processes) by their last heartbeat: key beat time.
  // Newest first: descending=true. A server is alive while its beats keep coming
  // (the page calls it alive while the last beat is under three intervals old).
  if (doc.type !== 'server') return;
  var nodes = doc.nodes && typeof doc.nodes === 'object' && !Array.isArray(doc.nodes) ? doc.nodes : {};
  emit(typeof doc.beat === 'number' ? doc.beat : 0, {
    server_id: doc.server_id || null,
    host: doc.host || null,
    pid: typeof doc.pid === 'number' ? doc.pid : null,
    version: doc.version || null,
    project: doc.project || null,
    started: typeof doc.started === 'number' ? doc.started : null,
    interval: typeof doc.interval === 'number' ? doc.interval : 20,
    status: doc.status || null,
    running: typeof doc.running === 'number' ? doc.running : 0,
    nodes: nodes
  });
}
