/* Record: one record and its tasks (record.html?id=RECORD_ID).
 *
 * The tasks come from the tasks view (one query, however many tasks); a task's
 * full results, attempts and files are read from its document when its
 * details are opened. Tasks are listed in the order they run in (a task
 * after the ones it runs after), and the tasks of one name that differ by
 * platform or kwargs (a matrix) are also laid out as a grid.
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
      addField(fields, key, fieldValue(key, doc[key]));
    });
  }

  /* A field's value as text; branch and author link to the overview filtered
   * by them, an http(s) changeset_url is a link. */
  function fieldValue(key, value) {
    if (typeof value !== 'string') return dirt.el('span', null, JSON.stringify(value));
    if ((key === 'branch' || key === 'author') && value) {
      var f = {};
      f[key] = value;
      return dirt.link(dirt.overviewHref(f), value, 'tag ' + key);
    }
    if (key === 'changeset_url' && /^https?:\/\//i.test(value)) {
      var a = dirt.link(value, value);
      a.rel = 'noopener noreferrer';
      return a;
    }
    return dirt.el('span', key === 'sha' || key === 'commit' ? 'mono' : null, value);
  }

  /* The verdict, total duration and slowest task, from the record's tasks. */
  function showVerdict(items) {
    var counts = {}, first = null, last = null, slowest = null;
    items.forEach(function (item) {
      var t = item.task;
      counts[item.state] = (counts[item.state] || 0) + 1;
      if (dirt.isTime(t.started) && (first === null || t.started < first)) first = t.started;
      if (dirt.isTime(t.completed) && (last === null || t.completed > last)) last = t.completed;
      if (dirt.isTime(t.started) && dirt.isTime(t.completed) && (!slowest || t.completed - t.started > slowest[0])) {
        slowest = [t.completed - t.started, t.name, item.id];
      }
    });
    var box = $('#record-verdict').empty();
    var verdict = dirt.verdict(counts);
    box.append(dirt.verdictPill(verdict));
    box.attr('data-verdict', verdict);
    var took = dirt.recordDuration({states: counts, first: first, last: last});
    if (took.textContent) {
      var span = dirt.el('span', 'duration', 'took ');
      if (took.className === 'elapsed-wrap') span = took; else span.appendChild(took);
      box.append(span);
    }
    if (slowest) {
      var slow = dirt.el('span', 'slowest', 'slowest: ');
      slow.appendChild(dirt.link('#task-' + encodeURIComponent(slowest[2]), String(slowest[1]), 'mono'));
      slow.appendChild(document.createTextNode(' ' + dirt.formatDuration(slowest[0])));
      box.append(slow);
    }
  }

  /* No record with this id: maybe it is the start of one, or of a sha. */
  function findRecords(text) {
    var q = text.toLowerCase();
    return Promise.all([
      dirt.view('records_by', {reduce: false, startkey: ['id', text], endkey: ['id', text + '\ufff0'], limit: 21}),
      dirt.view('records_by', {reduce: false, startkey: ['sha', q], endkey: ['sha', q + '\ufff0'], limit: 21})
    ]).then(function (answers) {
      var found = [], seen = {};
      answers.forEach(function (answer) {
        answer.rows.forEach(function (row) {
          if (!seen[row.id]) { seen[row.id] = true; found.push(row); }
        });
      });
      return found;
    });
  }

  function showMatches(rows) {
    var box = $('#matches').empty().prop('hidden', false);
    if (!rows.length) {
      box.append(dirt.el('p', 'muted', 'No record has this id, and no record\'s id or sha starts with it.'));
      return;
    }
    box.append(dirt.el('p', null, rows.length > 20 ? 'More than 20 records start with this; the first 20:' :
                       'No record has exactly this id. Records whose id or sha starts with it:'));
    var list = dirt.el('ul', 'matches');
    rows.slice(0, 20).forEach(function (row) {
      var li = dirt.el('li');
      li.appendChild(dirt.link(dirt.recordHref(row.id), row.id, 'mono'));
      var v = row.value || {};
      if (v.sha) li.appendChild(dirt.el('span', 'mono muted', ' ' + dirt.shortSha(v.sha)));
      if (v.branch) li.appendChild(dirt.el('span', 'tag branch', v.branch));
      li.appendChild(document.createTextNode(' ' + (v.description || '') + ' '));
      li.appendChild(dirt.time(v.created));
      list.appendChild(li);
    });
    box.append(list);
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

  var LOG_FILE = /^log-\d+\.(txt|times\.json)$/;   // an attempt's log as dirt attaches it

  function fileLinks(taskId, task) {
    var box = dirt.el('div', 'files');
    var types = {}, linked = {};
    (task.files || []).forEach(function (f) { types[f[0]] = f[1]; });
    // each attempt's log files: from the Log link and Details, not listed here
    (task.files || []).forEach(function (f) { if (LOG_FILE.test(f[0])) linked[f[0]] = true; });
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
    tr.id = 'task-' + encodeURIComponent(item.id);

    var name = dirt.el('td', 'task-name');
    name.appendChild(dirt.link(dirt.taskHref(String(task.name)), String(task.name), 'mono'));
    if (item.flaky) {
      name.appendChild(dirt.flakyTag(dirt.taskHref(String(task.name)) + '#flaky', item.flaky));
    }
    if (item.changed) name.appendChild(dirt.provenance.tag(item.changed));
    if (task.variant) name.appendChild(dirt.el('div', 'sub', task.variant));
    if (task.after && task.after.length) name.appendChild(dirt.el('div', 'sub after', 'after ' + task.after.join(', ')));
    name.appendChild(dirt.el('div', 'sub mono', item.id));
    tr.appendChild(name);

    var status = dirt.el('td', 'col-state');
    status.appendChild(dirt.pill(item.state));
    if (task.attempts > 1) status.appendChild(dirt.el('span', 'tries', 'try ' + task.attempts));
    if (task.run > 1) {
      status.appendChild(dirt.el('div', 'sub rerun', 'run ' + task.run + (task.rerun_by ? ', rerun by ' + task.rerun_by : '')));
    }
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
    if (task.tests) results.appendChild(testsBlock(String(task.name), task.tests));
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
    if (item.may) more.appendChild(dirt.taskButtons(item.id, item.state, dirt.access));
    var button = dirt.el('button', 'details-toggle', open[item.id] ? 'Hide' : 'Details');
    button.type = 'button';
    button.setAttribute('aria-expanded', open[item.id] ? 'true' : 'false');
    more.appendChild(button);
    // the task's output: its log page (live while it runs)
    if (task.attempts > 0) more.appendChild(dirt.link(dirt.page('log.html', {task: item.id}), 'Log', 'log-link'));
    tr.appendChild(more);

    if (!open[item.id]) return tr;
    return [tr, buildDetails(item.id)];
  }

  /* "120 tests: 117 passed, 2 failed, 1 skipped", and the failing ones with their message. */
  function testsBlock(taskName, t) {
    var box = dirt.el('div', 'tests');
    var line = dirt.el('div', 'tests-line');
    line.appendChild(dirt.el('b', null, t.total.toLocaleString() + (t.total === 1 ? ' test' : ' tests') + ': '));
    var parts = [[t.passed, 'passed', ''], [t.failed, 'failed', 'bad'], [t.errors, 'errors', 'bad'],
                 [t.skipped, 'skipped', '']];
    parts.filter(function (p) { return p[0]; }).forEach(function (p, i) {
      if (i) line.appendChild(document.createTextNode(', '));
      line.appendChild(dirt.el('span', p[2], p[0].toLocaleString() + ' ' + p[1]));
    });
    box.appendChild(line);
    if (t.failures && t.failures.length) {
      var list = dirt.el('ul', 'failing-tests');
      t.failures.forEach(function (f) {
        var li = dirt.el('li');
        li.appendChild(dirt.link(dirt.testHref(taskName, f[0]), f[0], 'mono test-name'));
        if (f[1]) li.appendChild(dirt.el('div', 'message', f[1]));
        list.appendChild(li);
      });
      box.appendChild(list);
      if (t.more) box.appendChild(dirt.el('div', 'muted', 'and ' + t.more + ' more failing (Details)'));
    }
    return box;
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

  /* An attempt's log: its file once it ended, the live page while it runs. */
  function attemptLogCell(taskId, a, index) {
    var td = dirt.el('td');
    var number = a.attempt || index;
    var href = dirt.page('log.html', {task: taskId, attempt: number});
    if (a.log && typeof a.log === 'object') {
      var lines = typeof a.log.lines === 'number' ? a.log.lines.toLocaleString() + ' lines' : 'log';
      td.appendChild(dirt.link(href, lines, 'log-link'));
      if (a.log.cut_lines) td.appendChild(dirt.el('span', 'muted', ', ' + a.log.cut_lines.toLocaleString() + ' cut'));
      if (a.log.cut_short) td.appendChild(dirt.el('div', 'muted', 'cut short: ' + a.log.cut_short));
    } else if (!a.outcome) {
      td.appendChild(dirt.link(href, 'live log', 'log-link'));
    }
    return td;
  }

  /* ``shownReason``: the task's reason, which its row says already. */
  function attemptsTable(taskId, attempts, shownReason) {
    var t = dirt.headedTable('grid attempts', ['#', 'node', 'started', 'ended', 'outcome', 'reason', 'log']);
    var tbody = t.tBodies[0];
    attempts.forEach(function (a, i) {
      if (!a || typeof a !== 'object') return;
      var tr = dirt.el('tr');
      tr.appendChild(dirt.el('td', 'mono', a.attempt || i + 1));
      tr.appendChild(dirt.el('td', 'mono', a.node || ''));
      tr.appendChild(dirt.el('td', null, dirt.formatTime(a.started)));
      tr.appendChild(dirt.el('td', null, dirt.formatTime(a.ended)));
      tr.appendChild(dirt.el('td', null, a.outcome || ''));
      if (a.reason && a.reason === shownReason) tr.appendChild(dirt.el('td', 'muted', 'as above'));
      else tr.appendChild(dirt.el('td', null, a.reason || ''));
      tr.appendChild(attemptLogCell(taskId, a, i + 1));
      tbody.appendChild(tr);
    });
    return t;
  }

  /* The runs a rerun replaced: how each ended, and who asked for it. */
  function runsTable(runs) {
    var t = dirt.headedTable('grid runs', ['run', 'state', 'node', 'started', 'ended', 'asked by', 'reason']);
    var tbody = t.tBodies[0];
    runs.forEach(function (r) {
      if (!r || typeof r !== 'object') return;
      var tr = dirt.el('tr', 'is-' + r.state);
      tr.appendChild(dirt.el('td', 'mono', r.run));
      var state = dirt.el('td');
      state.appendChild(dirt.pill(String(r.state)));
      tr.appendChild(state);
      tr.appendChild(dirt.el('td', 'mono', r.node || ''));
      tr.appendChild(dirt.el('td', null, dirt.formatTime(r.started)));
      tr.appendChild(dirt.el('td', null, dirt.formatTime(r.completed)));
      tr.appendChild(dirt.el('td', null, r.rerun_by ? r.rerun_by + ' ' + dirt.formatTime(r.rerun_at) : ''));
      var results = r.results && typeof r.results === 'object' ? r.results : {};
      tr.appendChild(dirt.el('td', null, r.reason || results.reason || ''));
      tbody.appendChild(tr);
    });
    return t;
  }

  function showDetails(cell, doc) {
    $(cell).empty();
    var results = doc.results && typeof doc.results === 'object' ? doc.results : null;
    // The task's row says its reason; here the traceback, if it raised, says where.
    var shownReason = doc.reason || (results && results.reason) || null;
    if (typeof doc.traceback === 'string' && doc.traceback) {
      cell.appendChild(section('Traceback', dirt.traceback(doc.traceback)));
    }
    var report = results && results.tests && typeof results.tests === 'object' && typeof results.tests.total === 'number' ?
      results.tests : null;
    if (report && Array.isArray(report.failures) && report.failures.length) {
      var failing = dirt.el('ul', 'failing-tests');
      report.failures.forEach(function (f) {
        if (!f || typeof f.test !== 'string') return;
        var li = dirt.el('li');
        li.appendChild(dirt.link(dirt.testHref(String(doc.name), f.test), f.test, 'mono'));
        li.appendChild(dirt.el('span', 'muted', ' ' + (f.kind || 'failure')));
        if (f.message) li.appendChild(dirt.el('div', 'message', f.message));
        if (f.detail) li.appendChild(dirt.el('pre', 'value text', f.detail));
        failing.appendChild(li);
      });
      cell.appendChild(section('Failing tests', failing));
    }
    if (results && !Array.isArray(results)) {
      var skip = ['attach_links'].concat(report ? ['tests'] : []).concat(results.reason === shownReason ? ['reason'] : []);
      cell.appendChild(section('Results', kvTable(results, skip)));
    } else if (results !== null && results !== undefined) {
      cell.appendChild(section('Results', valueNode(results)));
    } else {
      cell.appendChild(section('Results', dirt.el('p', 'muted', 'No results yet.')));
    }
    var given = {};
    ['kwargs', 'requires', 'platform', 'timeout', 'max_attempts', 'priority', 'after'].forEach(function (key) {
      if (doc[key] !== undefined) given[key] = doc[key];
    });
    if (Object.keys(given).length) cell.appendChild(section('Task document', kvTable(given)));
    if (Array.isArray(doc.runs) && doc.runs.length) {
      cell.appendChild(section('Earlier runs (a rerun keeps them)', runsTable(doc.runs)));
    }
    if (Array.isArray(doc.attempts) && doc.attempts.length) {
      cell.appendChild(section('Attempts', attemptsTable(doc._id, doc.attempts, shownReason)));
      var ran = dirt.provenance.section(doc, changed[doc._id] || null);
      if (ran) cell.appendChild(ran);
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

  var current = null, filter = dirt.param('state') || 'all', stateOf = {};

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

  function applyFilter() {
    table.setAttribute('data-filter', filter);
    $('#filters .chip').each(function () { $(this).toggleClass('on', this.getAttribute('data-filter') === filter); });
    $(tbody).children('tr').each(function () {
      var state = stateOf[this.getAttribute('data-id') || this.getAttribute('data-for')];
      this.hidden = filter !== 'all' && state !== undefined && state !== filter;
    });
  }

  $('#filters').on('click', 'button.chip', function () {
    filter = this.getAttribute('data-filter');
    dirt.setParams({id: id, state: filter === 'all' ? '' : filter});
    applyFilter();
  });

  window.addEventListener('popstate', function () {
    filter = dirt.param('state') || 'all';
    applyFilter();
  });

  // -- loading ---------------------------------------------------------------------------

  function render() {
    if (!current) return;
    rows.update(current, function (item) { return item.id; });
  }

  function load() {
    if (!id) return Promise.reject(new Error('Which record? Open this page as record.html?id=RECORD_ID.'));
    // by _all_docs: a missing record is an answer, not a 404 in the browser's console
    var recordDoc = dirt.docs([id]).then(function (found) { return found[id] || null; });
    var tasks = dirt.view('tasks', {reduce: false, startkey: [id], endkey: [id, {}]});
    return Promise.all([recordDoc, tasks]).then(function (answers) {
      var counts = {};
      if (!answers[0] && !answers[1].rows.length) {
        // not a record: perhaps the start of one's id or sha
        return findRecords(id).then(function (found) {
          if (found.length === 1) { window.location.replace(dirt.recordHref(found[0].id)); return; }
          showRecord(null);
          $('#record-description').text('');
          showMatches(found);
          $('.record-tasks').prop('hidden', true);
        });
      }
      $('#matches').prop('hidden', true);
      $('.record-tasks').prop('hidden', false);
      showRecord(answers[0]);
      current = answers[1].rows.map(function (row) {
        counts[row.key[1]] = (counts[row.key[1]] || 0) + 1;
        return {id: row.id, state: row.key[1], task: row.value, flaky: flaky[row.value.name] || null,
                may: dirt.access.operator};
      });
      stateOf = {};
      current.forEach(function (item) { stateOf[item.id] = item.state; item.changed = changed[item.id] || null; });
      markRerunFlakes(current);
      var stage = stages(current);
      current.sort(function (a, b) {
        return stage[a.id] - stage[b.id] || byName.compare(String(a.task.name), String(b.task.name)) ||
          byName.compare(a.id, b.id);
      });
      showMatrices(current);
      showFilters(counts);
      showVerdict(current);
      showRecordActions(counts);
      render();
      applyFilter();
      $('#empty').prop('hidden', current.length > 0);
      $(table).prop('hidden', !current.length);
      if (!flakyLoaded) loadFlaky();
      loadProvenance();
    });
  }

  // -- pipelines: the order tasks run in, and matrices -----------------------------------

  /* Each task's stage: 0 if it runs after nothing of this record, else one
   * more than the latest stage of what it runs after (a name there means
   * every task of that name, as dirt serve reads `after`). Cycles are cut. */
  function stages(items) {
    var byId = {}, ofName = {}, stage = {}, visiting = {};
    items.forEach(function (i) {
      byId[i.id] = i;
      (ofName[i.task.name] || (ofName[i.task.name] = [])).push(i.id);
    });
    function depth(id) {
      if (id in stage) return stage[id];
      if (visiting[id]) return 0;
      visiting[id] = true;
      var best = 0;
      (byId[id].task.after || []).forEach(function (ref) {
        (byId[ref] ? [ref] : (ofName[ref] || [])).forEach(function (dep) {
          if (dep !== id) best = Math.max(best, depth(dep) + 1);
        });
      });
      delete visiting[id];
      return (stage[id] = best);
    }
    items.forEach(function (i) { depth(i.id); });
    return stage;
  }

  /* Task names with two or more tasks that differ by platform or a kwarg:
   * [{name, axes: [the keys that differ, platform first], items}]. */
  function matrices(items) {
    var groups = {}, out = [];
    items.forEach(function (i) { (groups[i.task.name] || (groups[i.task.name] = [])).push(i); });
    Object.keys(groups).sort(byName.compare).forEach(function (name) {
      var list = groups[name], keys = {};
      if (list.length < 2) return;
      list.forEach(function (i) { Object.keys(i.task.axes || {}).forEach(function (k) { keys[k] = true; }); });
      var varying = Object.keys(keys).filter(function (k) {
        var seen = {};
        list.forEach(function (i) { seen[axisValue(i, k)] = true; });
        return Object.keys(seen).length > 1;
      }).sort(function (a, b) { return (b === 'platform') - (a === 'platform') || byName.compare(a, b); });
      if (varying.length) out.push({name: name, axes: varying, items: list});
    });
    return out;
  }

  function axisValue(item, key) {
    var v = (item.task.axes || {})[key];
    return v === undefined ? '–' : v;
  }

  function distinct(values) {
    return values.filter(function (v, i) { return values.indexOf(v) === i; }).sort(byName.compare);
  }

  /* One matrix as a table: rows by its first axis, a column per combination of
   * the others (one axis: a single row); each cell the states of its tasks,
   * linking to their rows below. */
  function buildMatrix(m) {
    var box = dirt.el('div', 'matrix');
    box.setAttribute('data-name', m.name);
    box.appendChild(dirt.el('h3', 'mono', m.name));
    var rowKey = m.axes.length > 1 ? m.axes[0] : null, colKeys = m.axes.length > 1 ? m.axes.slice(1) : m.axes;
    function colOf(item) {
      return colKeys.map(function (k) { return (rowKey ? k + '=' : '') + axisValue(item, k); }).join(' · ');
    }
    var cols = distinct(m.items.map(colOf));
    var rowsOf = rowKey ? distinct(m.items.map(function (i) { return axisValue(i, rowKey); })) : [colKeys[0]];
    var table = dirt.el('table', 'grid matrix-grid');
    var thead = dirt.el('thead'), head = dirt.el('tr');
    head.appendChild(dirt.el('th', 'corner', rowKey || ''));
    cols.forEach(function (c) { head.appendChild(dirt.el('th', 'mono', c)); });
    thead.appendChild(head);
    table.appendChild(thead);
    var tbody = dirt.el('tbody');
    rowsOf.forEach(function (rowValue) {
      var tr = dirt.el('tr');
      tr.appendChild(dirt.el('th', 'mono', rowValue));
      cols.forEach(function (c) {
        var td = dirt.el('td', 'cell');
        td.setAttribute('data-row', rowValue);
        td.setAttribute('data-col', c);
        m.items.filter(function (i) { return colOf(i) === c && (!rowKey || axisValue(i, rowKey) === rowValue); })
          .forEach(function (i) {
            var a = dirt.link('#task-' + encodeURIComponent(i.id), null, 'cell-link');
            a.title = (i.task.variant || i.id) + ': ' + i.state;
            a.setAttribute('data-id', i.id);
            a.appendChild(dirt.pill(i.state));
            td.appendChild(a);
          });
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    box.appendChild(table);
    return box;
  }

  /* What a rerun of ``ids`` takes with it, as `dirt rerun` does (dirt/pipeline.py,
   * rerun_set): for a skipped task, what it was skipped for (the tasks it runs
   * after that did not pass, through skipped ones); and every skipped task
   * that runs after them. */
  dirt.withDependencies = function (ids) {
    var items = current || [], byId = {}, ofName = {}, wanted = {};
    items.forEach(function (i) {
      byId[i.id] = i;
      (ofName[i.task.name] || (ofName[i.task.name] = [])).push(i.id);
    });
    function depsOf(id) {
      var out = [];
      ((byId[id] || {task: {}}).task.after || []).forEach(function (ref) {
        (byId[ref] ? [ref] : (ofName[ref] || [])).forEach(function (d) {
          if (d !== id && out.indexOf(d) < 0) out.push(d);
        });
      });
      return out;
    }
    function isFinal(id) { return byId[id] && isFinalState(byId[id].state); }
    ids.forEach(function (id) { wanted[id] = true; });
    ids.forEach(function (id) {
      var stack = byId[id] && byId[id].state === 'skipped' ? [id] : [];
      while (stack.length) {
        depsOf(stack.pop()).forEach(function (d) {
          if (wanted[d] || !isFinal(d) || byId[d].state === 'passed') return;
          wanted[d] = true;
          if (byId[d].state === 'skipped') stack.push(d);
        });
      }
    });
    var seen = {}, queue = Object.keys(wanted);
    while (queue.length) {
      var here = queue.pop();
      items.forEach(function (i) {
        if (seen[i.id] || depsOf(i.id).indexOf(here) < 0) return;
        seen[i.id] = true;
        queue.push(i.id);
        if (i.state === 'skipped') wanted[i.id] = true;
      });
    }
    return ids.concat(Object.keys(wanted).filter(function (id) { return ids.indexOf(id) < 0; }).sort());
  };

  function showMatrices(items) {
    var found = matrices(items), box = document.getElementById('matrix-grids');
    $(box).empty();
    found.forEach(function (m) { box.appendChild(buildMatrix(m)); });
    $('#matrices').prop('hidden', !found.length);
  }

  /* "Rerun failed", for those who may, when tasks of the record ended failed or error. */
  function showRecordActions(counts) {
    var box = $('#record-actions');
    var failed = (counts.failed || 0) + (counts.error || 0);
    var key = dirt.access.operator && failed ? String(failed) : '';
    if (box.attr('data-for') === key) return;     // unchanged: keep a question being asked
    box.attr('data-for', key).empty();
    if (!key) return;
    var label = 'Rerun failed (' + failed + ')';
    box.append(dirt.actionButton(label, 'Run the ' + failed + ' failed ' + (failed === 1 ? 'task' : 'tasks') +
                                 ' of ' + id + ' again?', 'act-rerun-failed', function () {
      var ids = (current || []).filter(function (item) {
        return item.state === 'failed' || item.state === 'error';
      }).map(function (item) { return item.id; });
      dirt.rerunTasks(ids);
    }));
  }

  // -- flaky tasks ------------------------------------------------------------------------

  var flaky = {}, flakyLoaded = false, RECENT = 2000;

  /* A task name that both passed and failed on this record (same variant) is flaky here. */
  function markRerunFlakes(items) {
    var by = {};
    items.forEach(function (item) {
      var key = item.task.name + '\u0000' + (item.task.variant || '');
      (by[key] || (by[key] = [])).push(item);
    });
    $.each(by, function (key, list) {
      var states = list.map(function (i) { return i.state; });
      if (states.indexOf('passed') >= 0 && (states.indexOf('failed') >= 0 || states.indexOf('error') >= 0)) {
        list.forEach(function (i) { i.flaky = 'passed and failed on this record'; });
      }
    });
  }

  // -- what ran: tasks whose module changed between runs on this record -------------------

  var changed = {}, changedSig = '{}';

  /* After a render: the record's provenance rows; a change in the marks renders again. */
  function loadProvenance() {
    dirt.view('provenance', {startkey: [id], endkey: [id, {}]}).then(function (answer) {
      var found = dirt.provenance.changes(answer.rows);
      var sig = JSON.stringify(found);
      if (sig === changedSig) return;
      changed = found;
      changedSig = sig;
      refresh();
    }, function () { /* the marks are extra; the page works without them */ });
  }

  /* After the first render: which of these task names were flaky in the newest runs. */
  function loadFlaky() {
    flakyLoaded = true;
    dirt.ci.recentRuns(RECENT).then(function (recent) {
      dirt.ci.flakiness(recent.runs, recent.records).forEach(function (f) {
        var kinds = f.evidence.map(function (e) { return e.kind; });
        flaky[f.name] = 'flaky in the newest ' + RECENT.toLocaleString() + ' runs: passed and failed on the same ' +
          kinds.filter(function (k, i) { return kinds.indexOf(k) === i; }).join(', ');
      });
      if (Object.keys(flaky).length) refresh();
    }, function () { /* the marks are extra; the page works without them */ });
  }

  var refresh = dirt.start(load, {type: 'record,task', record_id: id || ''});
  dirt.whenSession(function () { refresh(); });   // signed in or out: the buttons change
}(window.dirt, window.jQuery));
