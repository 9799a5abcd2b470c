/* Nodes: each node's platform, health and slots in use, and what runs now. */
(function (dirt, $) {
  'use strict';

  var nodeRows = new dirt.KeyedRows(document.querySelector('#nodes tbody'), buildNode);
  var runningRows = new dirt.KeyedRows(document.querySelector('#running tbody'), buildRunning);

  function buildNode(item) {
    var n = item.value;
    var tr = dirt.el('tr', n.status === 'down' ? 'is-down' : (!n.enabled ? 'is-disabled' : ''));
    tr.setAttribute('data-node', item.key);

    var name = dirt.el('td');
    name.appendChild(dirt.el('div', 'mono strong', item.key));
    if (n.fqdn && n.fqdn !== item.key) name.appendChild(dirt.el('div', 'sub mono', n.fqdn));
    tr.appendChild(name);

    var status = dirt.el('td', 'node-status');
    if (n.status === 'down') {
      status.appendChild(dirt.el('span', 'pill node-down', 'down'));
    } else if (n.status === 'up') {
      status.appendChild(dirt.el('span', 'pill node-up', 'up'));
    } else {
      status.appendChild(dirt.el('span', 'pill node-unknown', 'not connected yet'));
    }
    if (!n.enabled) status.appendChild(dirt.el('span', 'pill node-disabled', 'disabled'));
    if (n.status === 'down' && n.down_reason) {
      var why = dirt.el('div', 'reason', n.down_reason);
      if (dirt.isTime(n.down_since)) why.appendChild(dirt.el('span', 'muted', ' (since ' + dirt.ago(n.down_since) + ')'));
      status.appendChild(why);
    }
    tr.appendChild(status);

    var platform = dirt.el('td');
    platform.appendChild(dirt.el('div', null, n.sys_platform || ''));
    if (n.platform) platform.appendChild(dirt.el('div', 'sub', n.platform));
    tr.appendChild(platform);
    tr.appendChild(dirt.el('td', 'mono', n.architecture || ''));
    tr.appendChild(dirt.el('td', 'col-num', n.cpu_count === null ? '' : n.cpu_count));

    var slots = dirt.el('td', 'col-slots');
    var used = item.running || 0, total = n.slots || 1;
    var meter = dirt.el('div', 'meter');
    var fill = dirt.el('span', used >= total ? 'full' : '');
    fill.style.width = Math.min(100, 100 * used / total) + '%';
    meter.appendChild(fill);
    meter.title = used + ' of ' + total + (total === 1 ? ' slot' : ' slots') + ' running tasks';
    slots.appendChild(meter);
    slots.appendChild(dirt.el('span', 'slots-text', used + ' / ' + total));
    tr.appendChild(slots);

    tr.appendChild(dirt.el('td', 'mono', n.version_info || ''));
    var seen = dirt.el('td', 'col-time');
    seen.appendChild(dirt.time(n.last_seen, 'never'));
    tr.appendChild(seen);
    return tr;
  }

  function buildRunning(item) {
    var v = item.value;
    var tr = dirt.el('tr');
    tr.setAttribute('data-id', item.id);
    tr.appendChild(dirt.el('td', 'mono', item.key[1]));
    var task = dirt.el('td');
    if (typeof v.name === 'string') task.appendChild(dirt.link(dirt.taskHref(v.name), v.name, 'mono'));
    tr.appendChild(task);
    var record = dirt.el('td', 'col-id mono');
    if (typeof v.record_id === 'string') record.appendChild(dirt.link(dirt.recordHref(v.record_id), v.record_id));
    tr.appendChild(record);
    var started = dirt.el('td', 'col-time');
    started.appendChild(dirt.time(v.started));
    tr.appendChild(started);
    var took = dirt.el('td', 'col-num');
    if (dirt.isTime(v.started)) took.appendChild(dirt.elapsed(v.started));
    tr.appendChild(took);
    return tr;
  }

  function load() {
    return Promise.all([
      dirt.view('nodes', {}),
      dirt.view('queue', {reduce: false, startkey: ['running'], endkey: ['running', {}]})
    ]).then(function (answers) {
      var perNode = {};
      answers[1].rows.forEach(function (row) { perNode[row.key[1]] = (perNode[row.key[1]] || 0) + 1; });
      var nodes = answers[0].rows.map(function (row) {
        return {key: row.key, value: row.value, running: perNode[row.key] || 0};
      });
      nodeRows.update(nodes, function (item) { return item.key; });
      runningRows.update(answers[1].rows, function (row) { return row.id; });
      $('#empty').prop('hidden', nodes.length > 0);
      $('#nodes').prop('hidden', !nodes.length);
      $('#running-empty').prop('hidden', answers[1].rows.length > 0);
      $('#running').prop('hidden', !answers[1].rows.length);
      var up = nodes.filter(function (n) { return n.value.status !== 'down' && n.value.enabled; }).length;
      var slots = 0;
      nodes.forEach(function (n) { if (n.value.status !== 'down' && n.value.enabled) slots += n.value.slots; });
      $('#nodes-summary').text(nodes.length ? up + ' of ' + nodes.length + ' ready · ' +
                               answers[1].rows.length + ' of ' + slots + (slots === 1 ? ' slot' : ' slots') + ' busy' : '');
    });
  }

  dirt.start(load, {type: 'node,task'});
}(window.dirt, window.jQuery));
