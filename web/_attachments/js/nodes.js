/* Nodes: each node's platform, health and slots in use, and what runs now. */
(function (dirt, $) {
  'use strict';

  var nodeRows = new dirt.KeyedRows(document.querySelector('#nodes tbody'), buildNode);
  var runningRows = new dirt.KeyedRows(document.querySelector('#running tbody'), buildRunning);
  var serverRows = new dirt.KeyedRows(document.querySelector('#servers tbody'), buildServer);
  var alive = dirt.serverAlive;

  function buildServer(item) {
    var s = item;
    var live = alive(s);
    var tr = dirt.el('tr', live || s.status === 'stopped' ? '' : 'is-down');
    tr.setAttribute('data-server', s.server_id || s.id);
    var name = dirt.el('td');
    name.appendChild(dirt.el('div', 'mono strong', s.server_id || s.id));
    name.appendChild(dirt.el('div', 'sub', 'pid ' + (s.pid === null ? '?' : s.pid) + ' on ' + (s.host || '?') +
                                           (s.version ? ' · dirt ' + s.version : '')));
    tr.appendChild(name);
    var state = dirt.el('td', 'node-status');
    var stopped = !live && s.status === 'stopped';     // stopped cleanly: nothing wrong
    state.appendChild(dirt.el('span', live ? 'pill node-up' : (stopped ? 'pill node-unknown' : 'pill node-down'),
                              live ? 'alive' : (stopped ? 'stopped' : 'dead')));
    tr.appendChild(state);
    tr.appendChild(dirt.el('td', 'col-num', s.running));
    var held = Object.keys(s.nodes || {}).sort();
    tr.appendChild(dirt.el('td', 'mono', live ? held.join(', ') : ''));
    var beat = dirt.el('td', 'col-time');
    beat.appendChild(dirt.time(s.beat, 'never'));
    tr.appendChild(beat);
    return tr;
  }

  function buildNode(item) {
    var n = item.value;
    var held = item.held;   // {status, reason, server, beat} from a live server's heartbeat, or null
    var down = held ? held.status === 'down' : false;
    var tr = dirt.el('tr', down ? 'is-down' : (!n.enabled ? 'is-disabled' : ''));
    tr.setAttribute('data-node', item.key);

    var name = dirt.el('td');
    name.appendChild(dirt.el('div', 'mono strong', item.key));
    if (n.fqdn && n.fqdn !== item.key) name.appendChild(dirt.el('div', 'sub mono', n.fqdn));
    tr.appendChild(name);

    // A node is up only while a live server holds it and says so.
    var status = dirt.el('td', 'node-status');
    if (!held) {
      status.appendChild(dirt.el('span', 'pill node-unknown', 'no live server'));
    } else if (held.status === 'up') {
      status.appendChild(dirt.el('span', 'pill node-up', 'up'));
    } else if (held.status === 'down') {
      status.appendChild(dirt.el('span', 'pill node-down', 'down'));
    } else {
      status.appendChild(dirt.el('span', 'pill node-unknown', 'connecting'));
    }
    if (!n.enabled) status.appendChild(dirt.el('span', 'pill node-disabled', 'disabled'));
    var reason = held ? held.reason : null;
    if (!held && n.status === 'down' && n.down_reason) {
      // what the last server to hold it found, kept on the node's document
      status.appendChild(dirt.el('div', 'reason muted', 'last seen down: ' + n.down_reason));
    }
    if (down && reason) {
      var why = dirt.el('div', 'reason', reason);
      if (dirt.isTime(n.down_since)) why.appendChild(dirt.el('span', 'muted', ' (since ' + dirt.ago(n.down_since) + ')'));
      status.appendChild(why);
    }
    if (held) status.appendChild(dirt.el('div', 'sub mono', 'held by ' + held.server));
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
    // Last seen: the heartbeat of the live server that holds it, else when a server last reached it.
    var seen = dirt.el('td', 'col-time');
    seen.appendChild(dirt.time(held && held.status === 'up' ? held.beat : n.last_seen, 'never'));
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
      dirt.view('queue', {reduce: false, startkey: ['running'], endkey: ['running', {}]}),
      dirt.servers()
    ]).then(function (answers) {
      var perNode = {};
      answers[1].rows.forEach(function (row) { perNode[row.key[1]] = (perNode[row.key[1]] || 0) + 1; });
      var servers = answers[2];
      var holders = dirt.nodeHolders(servers);
      var nodes = answers[0].rows.map(function (row) {
        return {key: row.key, value: row.value, running: perNode[row.key] || 0, held: holders[row.key] || null};
      });
      serverRows.update(servers, function (s) { return s.id; });
      $('#servers-empty').prop('hidden', servers.length > 0);
      $('#servers').prop('hidden', !servers.length);
      var live = servers.filter(alive).length;
      $('#servers-summary').text(servers.length ? live + ' alive' : '');
      nodeRows.update(nodes, function (item) { return item.key; });
      runningRows.update(answers[1].rows, function (row) { return row.id; });
      $('#empty').prop('hidden', nodes.length > 0);
      $('#nodes').prop('hidden', !nodes.length);
      $('#running-empty').prop('hidden', answers[1].rows.length > 0);
      $('#running').prop('hidden', !answers[1].rows.length);
      var ready = function (n) { return n.held && n.held.status === 'up' && n.value.enabled; };
      var up = nodes.filter(ready).length;
      var slots = 0;
      nodes.forEach(function (n) { if (ready(n)) slots += n.value.slots; });
      $('#nodes-summary').text(nodes.length ? up + ' of ' + nodes.length + ' ready · ' +
                               answers[1].rows.length + ' of ' + slots + (slots === 1 ? ' slot' : ' slots') + ' busy' : '');
    });
  }

  dirt.start(load, {type: 'node,task,server'});
}(window.dirt, window.jQuery));
