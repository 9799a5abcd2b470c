/* What exactly ran: each attempt's provenance (the sha256 of the task
 * module's source as shipped, dirt's version, the node's Python and
 * platform, the kwargs as sent), shown on request; and a mark on a task
 * whose module was not the same source in every run of its record.
 *
 *   dirt.provenance.changes(rows)   -> {task id: change} from the provenance view's rows of one record
 *   dirt.provenance.tag(change)     -> the "module changed" tag for a task's row
 *   dirt.provenance.section(doc, change) -> a <details> "What ran" with a table of the attempts
 */
(function (dirt) {
  'use strict';

  function short(sha) { return typeof sha === 'string' ? sha.slice(0, 12) : '?'; }

  function where(taskId, attempt) { return taskId + ' #' + attempt; }

  /* Task names of one record whose runs (a task's own attempts, or tasks of
   * the same name) shipped more than one version of the module. */
  function changes(rows) {
    var byName = {};
    (rows || []).forEach(function (row) {
      var sha = row.value && row.value.sha256;
      if (typeof sha !== 'string' || !sha) return;
      var name = row.key[1], taskId = row.key[2], attempt = row.key[3];
      var group = byName[name] || (byName[name] = {order: [], runs: {}, tasks: {}});
      if (!group.runs[sha]) { group.runs[sha] = []; group.order.push(sha); }
      group.runs[sha].push(where(taskId, attempt));
      group.tasks[taskId] = true;
    });
    var out = {};
    Object.keys(byName).forEach(function (name) {
      var group = byName[name];
      if (group.order.length < 2) return;
      var versions = group.order.map(function (sha) { return [sha, group.runs[sha]]; });
      var text = 'The module ' + name + ' was not the same in every run on this record: ' + versions.length +
        ' versions ran (' + versions.map(function (v) { return short(v[0]) + ' in ' + v[1].join(', '); }).join('; ') +
        ').';
      Object.keys(group.tasks).forEach(function (taskId) {
        out[taskId] = {name: name, versions: versions, text: text};
      });
    });
    return out;
  }

  function tag(change) {
    var t = dirt.el('span', 'tag module-changed', 'module changed');
    t.title = change.text + ' Details: What ran.';
    return t;
  }

  function cell(tr, value, className) {
    var td = dirt.el('td', className, value === undefined || value === null ? '' : value);
    tr.appendChild(td);
    return td;
  }

  function table(attempts, change) {
    var versionOf = {};
    if (change) change.versions.forEach(function (v, i) { versionOf[v[0]] = i + 1; });
    var t = dirt.headedTable('grid provenance-table',
                             ['#', 'node', 'module sha256', 'dirt', 'Python', 'platform', 'kwargs as sent']);
    var tbody = t.tBodies[0];
    attempts.forEach(function (a, i) {
      if (!a || typeof a !== 'object') return;
      var p = a.provenance && typeof a.provenance === 'object' ? a.provenance : null;
      var tr = dirt.el('tr');
      cell(tr, a.attempt || i + 1, 'mono');
      cell(tr, a.node || '', 'mono');
      if (!p) {
        var none = cell(tr, 'not recorded (an attempt by a dirt that did not record what ran)', 'muted');
        none.colSpan = 5;
        tbody.appendChild(tr);
        return;
      }
      var sha = cell(tr, typeof p.sha256 === 'string' ? p.sha256 : '', 'mono sha');
      if (versionOf[p.sha256]) {
        sha.classList.add('version-' + Math.min(versionOf[p.sha256], 4));
        sha.appendChild(dirt.el('span', 'version', ' version ' + versionOf[p.sha256]));
      }
      cell(tr, p.dirt, 'mono');
      cell(tr, p.python, 'mono');
      cell(tr, p.platform, 'mono');
      var kwargs = cell(tr, '');
      if (p.kwargs !== undefined) kwargs.appendChild(dirt.el('code', null, JSON.stringify(p.kwargs)));
      tbody.appendChild(tr);
    });
    return t;
  }

  /* "What ran", closed until asked for; null when no attempt recorded anything. */
  function section(doc, change) {
    var attempts = Array.isArray(doc.attempts) ? doc.attempts : [];
    if (!attempts.some(function (a) { return a && a.provenance; })) return null;
    var box = dirt.el('details', 'provenance');
    var summary = dirt.el('summary', null, 'What ran (provenance)');
    if (change) summary.appendChild(dirt.el('span', 'tag module-changed', 'module changed'));
    box.appendChild(summary);
    if (change) box.appendChild(dirt.el('p', 'changed-note', change.text));
    box.appendChild(table(attempts, change));
    return box;
  }

  dirt.provenance = {changes: changes, tag: tag, section: section, table: table};
}(window.dirt));
