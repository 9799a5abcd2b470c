/* Record: one record and its tasks (record.html?id=RECORD_ID).
 *
 * The tasks come from the tasks view (one query, however many tasks); a task's
 * full results, attempts and files are read from its document when its
 * details are opened.
 */
(function (dirt, $) {
  'use strict';

  var id = dirt.param('id');
  var table = document.getElementById('tasks');
  var tbody = table.querySelector('tbody');
  var open = {};                 // task id -> true while its details are shown
  var rows = new dirt.KeyedRows(tbody, buildRow);
  var byName = new Intl.Collator(undefined, {numeric: true});   // build.2 before build.10

  // -- the record ------------------------------------------------------------------------

  function showRecord(doc) {
    $('#record-id').text(id);
    document.title = id + ' · ' + document.title.split(' · ').pop();
    if (!doc) {
      $('#record-description').text('No record document with this id (its tasks are shown, if any).')
        .addClass('muted');
      return;
    }
    $('#record-description').text(typeof doc.description === 'string' ? doc.description : '')
      .removeClass('muted');
    var fields = document.getElementById('record-fields');
    $(fields).empty();
    addField(fields, 'created', dirt.time(doc.created, 'not given'));
    Object.keys(doc).sort().forEach(function (key) {
      if (key.charAt(0) === '_' || key === 'type' || key === 'description' || key === 'created') return;
      var value = doc[key];
      addField(fields, key, dirt.el('span', null, typeof value === 'string' ? value : JSON.stringify(value)));
    });
  }

  function addField(dl, name, valueNode) {
    dl.appendChild(dirt.el('dt', null, name));
    var dd = dirt.el('dd');
    dd.appendChild(valueNode);
    dl.appendChild(dd);
  }

  // -- the tasks table -------------------------------------------------------------------

  function duration(state, task) {
    if (state === 'running' && dirt.isTime(task.started)) return dirt.elapsed(task.started);
    if (dirt.isTime(task.started) && dirt.isTime(task.completed)) {
      return dirt.el('span', null, dirt.formatDuration(task.completed - task.started));
    }
    return dirt.el('span', 'muted', '');
  }

  function fileLinks(taskId, task) {
    var box = dirt.el('div', 'files');
    var types = {}, linked = {};
    (task.files || []).forEach(function (f) { types[f[0]] = f[1]; });
    (task.links || []).forEach(function (link) {
      if (!link || typeof link.id !== 'string' || !(link.id in types)) return;
      linked[link.id] = true;
      box.appendChild(dirt.link(dirt.fileHref(taskId, link.id, types[link.id]),
                                String(link.name || link.id), 'file named'));
    });
    (task.files || []).forEach(function (f) {
      if (linked[f[0]]) return;
      box.appendChild(dirt.link(dirt.fileHref(taskId, f[0], f[1]), f[0], 'file'));
    });
    return box;
  }

  function buildRow(item) {
    var task = item.task;
    var tr = dirt.el('tr', 'task is-' + item.state);
    tr.setAttribute('data-id', item.id);

    var name = dirt.el('td', 'task-name');
    name.appendChild(dirt.link(dirt.taskHref(String(task.name)), String(task.name), 'mono'));
    name.appendChild(dirt.el('div', 'sub mono', item.id));
    tr.appendChild(name);

    var status = dirt.el('td', 'col-state');
    status.appendChild(dirt.pill(item.state));
    if (task.attempts > 1) status.appendChild(dirt.el('span', 'tries', 'try ' + task.attempts));
    tr.appendChild(status);

    tr.appendChild(dirt.el('td', 'mono', task.node || ''));
    var started = dirt.el('td', 'col-time');
    started.appendChild(dirt.time(task.started));
    tr.appendChild(started);
    var took = dirt.el('td', 'col-num');
    took.appendChild(duration(item.state, task));
    tr.appendChild(took);

    var results = dirt.el('td', 'results');
    if (task.reason) results.appendChild(dirt.el('div', 'reason', task.reason));
    (task.brief || []).forEach(function (pair) {
      var line = dirt.el('div', 'brief mono');
      line.appendChild(dirt.el('span', 'key', pair[0] + ': '));
      line.appendChild(document.createTextNode(pair[1]));
      results.appendChild(line);
    });
    tr.appendChild(results);

    var files = dirt.el('td', 'col-files');
    files.appendChild(fileLinks(item.id, task));
    tr.appendChild(files);

    var more = dirt.el('td', 'col-more');
    var button = dirt.el('button', 'details-toggle', open[item.id] ? 'Hide' : 'Details');
    button.type = 'button';
    button.setAttribute('aria-expanded', open[item.id] ? 'true' : 'false');
    more.appendChild(button);
    tr.appendChild(more);

    if (!open[item.id]) return tr;
    return [tr, buildDetails(item.id)];
  }

  // -- a task's details ------------------------------------------------------------------

  function valueNode(value) {
    if (typeof value === 'string') return dirt.el('pre', 'value text', value);
    if (value === null || typeof value !== 'object') return dirt.el('code', 'value', JSON.stringify(value));
    return dirt.el('pre', 'value json', JSON.stringify(value, null, 2));
  }

  function kvTable(object, skip) {
    var t = dirt.el('table', 'kv');
    Object.keys(object).forEach(function (key) {
      if (skip && skip.indexOf(key) >= 0) return;
      var tr = dirt.el('tr');
      tr.appendChild(dirt.el('th', 'mono', key));
      var td = dirt.el('td');
      td.appendChild(valueNode(object[key]));
      tr.appendChild(td);
      t.appendChild(tr);
    });
    return t;
  }

  function section(title, content) {
    var box = dirt.el('div', 'detail-section');
    box.appendChild(dirt.el('h3', null, title));
    box.appendChild(content);
    return box;
  }

  function attemptsTable(attempts) {
    var t = dirt.el('table', 'grid attempts');
    var head = dirt.el('tr'), thead = dirt.el('thead'), tbody = dirt.el('tbody');
    ['#', 'node', 'started', 'ended', 'outcome', 'reason'].forEach(function (h) { head.appendChild(dirt.el('th', null, h)); });
    thead.appendChild(head);
    t.appendChild(thead);
    attempts.forEach(function (a, i) {
      if (!a || typeof a !== 'object') return;
      var tr = dirt.el('tr');
      tr.appendChild(dirt.el('td', 'mono', a.attempt || i + 1));
      tr.appendChild(dirt.el('td', 'mono', a.node || ''));
      tr.appendChild(dirt.el('td', null, dirt.formatTime(a.started)));
      tr.appendChild(dirt.el('td', null, dirt.formatTime(a.ended)));
      tr.appendChild(dirt.el('td', null, a.outcome || ''));
      tr.appendChild(dirt.el('td', null, a.reason || ''));
      tbody.appendChild(tr);
    });
    t.appendChild(tbody);
    return t;
  }

  function showDetails(cell, doc) {
    $(cell).empty();
    var results = doc.results && typeof doc.results === 'object' ? doc.results : null;
    if (doc.reason) cell.appendChild(section('Reason', dirt.el('p', 'reason', doc.reason)));
    if (results && !Array.isArray(results)) {
      cell.appendChild(section('Results', kvTable(results, ['attach_links'])));
    } else if (results !== null && results !== undefined) {
      cell.appendChild(section('Results', valueNode(results)));
    } else {
      cell.appendChild(section('Results', dirt.el('p', 'muted', 'No results yet.')));
    }
    var given = {};
    ['kwargs', 'requires', 'platform', 'timeout', 'max_attempts', 'priority'].forEach(function (key) {
      if (doc[key] !== undefined) given[key] = doc[key];
    });
    if (Object.keys(given).length) cell.appendChild(section('Task document', kvTable(given)));
    if (Array.isArray(doc.attempts) && doc.attempts.length) {
      cell.appendChild(section('Attempts', attemptsTable(doc.attempts)));
    }
    var names = Object.keys(doc._attachments || {});
    if (names.length) {
      var list = dirt.el('ul', 'file-list');
      names.forEach(function (name) {
        var att = doc._attachments[name];
        var li = dirt.el('li');
        li.appendChild(dirt.link(dirt.fileHref(doc._id, name, att.content_type), name, 'mono'));
        li.appendChild(dirt.el('span', 'muted', ' ' + (att.content_type || '') + ', ' +
                               (att.length || 0).toLocaleString() + ' bytes'));
        list.appendChild(li);
      });
      cell.appendChild(section('Files', list));
    }
    var raw = dirt.el('p', 'raw');
    raw.appendChild(dirt.link(dirt.docUrl(doc._id), 'The whole task document (JSON)'));
    cell.appendChild(raw);
  }

  function buildDetails(taskId) {
    var tr = dirt.el('tr', 'details');
    tr.setAttribute('data-for', taskId);
    var cell = dirt.el('td', null, 'Loading…');
    cell.colSpan = 8;
    tr.appendChild(cell);
    dirt.doc(taskId).then(function (doc) { showDetails(cell, doc); }, function (error) {
      cell.textContent = error.message;
    });
    return tr;
  }

  $(tbody).on('click', 'button.details-toggle', function () {
    var taskId = $(this).closest('tr').attr('data-id');
    open[taskId] = !open[taskId];
    var entry = rows.rows[taskId];
    if (entry) entry.sig = null;          // rebuild this row, with or without details
    render();
  });

  // -- filters by state ------------------------------------------------------------------

  var current = null, filter = 'all';

  function showFilters(counts) {
    var box = document.getElementById('filters');
    $(box).empty();
    var total = dirt.total(counts);
    function chip(state, n) {
      var b = dirt.el('button', 'chip' + (state === filter ? ' on' : '') + (state === 'all' ? '' : ' state-' + state));
      b.type = 'button';
      b.setAttribute('data-filter', state);
      b.appendChild(dirt.el('b', null, n.toLocaleString()));
      b.appendChild(document.createTextNode(' ' + (state === 'all' ? 'all' : state)));
      box.appendChild(b);
    }
    chip('all', total);
    dirt.STATES.forEach(function (state) { if (counts[state]) chip(state, counts[state]); });
    $('#record-bar').empty().append(dirt.bar(counts));
  }

  $('#filters').on('click', 'button.chip', function () {
    filter = this.getAttribute('data-filter');
    table.setAttribute('data-filter', filter);
    $('#filters .chip').removeClass('on');
    $(this).addClass('on');
  });

  // -- loading ---------------------------------------------------------------------------

  function render() {
    if (!current) return;
    rows.update(current, function (item) { return item.id; });
  }

  function load() {
    if (!id) return Promise.reject(new Error('Which record? Open this page as record.html?id=RECORD_ID.'));
    var recordDoc = dirt.doc(id).catch(function (error) {
      if (error.status === 404) return null;
      throw error;
    });
    var tasks = dirt.view('tasks', {reduce: false, startkey: [id], endkey: [id, {}]});
    return Promise.all([recordDoc, tasks]).then(function (answers) {
      showRecord(answers[0]);
      var counts = {};
      current = answers[1].rows.map(function (row) {
        counts[row.key[1]] = (counts[row.key[1]] || 0) + 1;
        return {id: row.id, state: row.key[1], task: row.value};
      });
      current.sort(function (a, b) {
        return byName.compare(String(a.task.name), String(b.task.name)) || byName.compare(a.id, b.id);
      });
      showFilters(counts);
      render();
      $('#empty').prop('hidden', current.length > 0);
      $(table).prop('hidden', !current.length);
    });
  }

  dirt.start(load, {type: 'record,task', record_id: id || ''});
}(window.dirt, window.jQuery));
