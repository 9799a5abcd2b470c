function (doc) {
  // Nodes by name, with what the nodes page shows (not the environment).
  if (doc.type !== 'node') return;
  var info = doc.sys_info && typeof doc.sys_info === 'object' ? doc.sys_info : {};
  var slots = doc.slots;
  if (typeof slots !== 'number' || slots < 1) slots = info.cpu_count;
  if (typeof slots !== 'number' || slots < 1) slots = 1;
  emit(doc.name || doc._id.replace(/^node:/, ''), {
    fqdn: doc.fqdn || info.fqdn || null,
    enabled: doc.enabled !== false,
    status: doc.status || null,
    down_reason: doc.down_reason || null,
    down_since: doc.down_since || null,
    last_seen: doc.last_seen || null,
    slots: slots,
    cpu_count: info.cpu_count || null,
    platform: info.platform || null,
    sys_platform: info.sys_platform || null,
    architecture: info.architecture || null,
    version_info: info.version_info || null,
    hostname: info.hostname || null
  });
}
