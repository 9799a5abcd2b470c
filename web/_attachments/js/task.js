/* Task history and trends: one task name across records (task.html?name=NAME).
 *
 * The charts show the last N runs (?runs=N) or the runs of a date range
 * (?from=YYYY-MM-DD&to=YYYY-MM-DD), of one variant (?variant=...) or all:
 * duration over a real time axis (a run's start, or its creation while it
 * waits), each variant its own marker shape, and the pass rate over time.
 * Runs of this name that passed and failed where they should not differ are
 * listed as flaky (#flaky). The table lists the newest runs, 50 at a time.
 * Without a name: every task name of the newest runs, with its pass rate.
 */
(function (dirt, $) {
  'use strict';

  var PAGE = 50;                     // runs listed at a time
  var RUN_CHOICES = [50, 200, 1000, 5000];
  var MAX_RANGE = 5000;              // runs read for a date range
  var MAX_RECORDS = 1000;            // records read for descriptions and flaky evidence
  var RECENT = 2000;                 // runs the list of task names is made from
  var name = dirt.param('name');
  var loaded = PAGE;                 // how many runs to list (grows with "Load older")
  var runsBody = document.querySelector('#runs tbody');
  var runs = new dirt.KeyedRows(runsBody, buildRun);
  var briefs = {};                   // record id -> brief (records rarely change)
  var chart = dirt.chart;
  var opts;

  function readUrl() {
    var p = dirt.params();
    var n = parseInt(p.runs, 10);
    opts = {runs: RUN_CHOICES.indexOf(n) >= 0 ? n : 200, from: dateOf(p.from), to: dateOf(p.to),
            variant: p.variant === undefined ? null : p.variant};
    $('#opt-runs').val(String(opts.runs));
    $('#opt-from').val(p.from && opts.from ? p.from : '');
    $('#opt-to').val(p.to && opts.to ? p.to : '');
  }

  function dateOf(text) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text || '')) return null;
    var d = new Date(text + 'T00:00:00');
    return isNaN(d.getTime()) ? null : d.getTime() / 1000;
  }

  function whenOf(v, key) { return dirt.isTime(v.started) ? v.started : key[1]; }

  // -- every task name -------------------------------------------------------------------

  function loadNames() {
    $('#names-card').prop('hidden', false);
    if (dirt.param('all')) return loadAllNames();
    return dirt.ci.recentRuns(RECENT).then(function (recent) {
      var by = {};
      recent.runs.forEach(function (r) {
        var s = by[r.name] || (by[r.name] = {name: r.name, runs: 0, passed: 0, last: null, durations: []});
        s.runs++;
        if (r.state === 'passed') s.passed++;
        if (!s.last) s.last = r;
        if (typeof r.duration === 'number') s.durations.push(r.duration);
      });
      var flaky = dirt.ci.flakyNames(dirt.ci.flakiness(recent.runs, recent.records));
      var list = Object.keys(by).sort().map(function (k) { return by[k]; });
      var tbody = document.querySelector('#names tbody');
      var fragment = document.createDocumentFragment();
      list.forEach(function (s) {
        var tr = dirt.el('tr');
        tr.setAttribute('data-name', s.name);
        var cell = dirt.el('td');
        cell.appendChild(dirt.link(dirt.taskHref(s.name), s.name, 'mono'));
        if (flaky[s.name]) cell.appendChild(dirt.flakyTag(dirt.taskHref(s.name) + '#flaky'));
        tr.appendChild(cell);
        tr.appendChild(dirt.el('td', 'col-num', s.runs.toLocaleString()));
        tr.appendChild(dirt.el('td', 'col-num', Math.round(100 * s.passed / s.runs) + '%'));
        s.durations.sort(function (a, b) { return a - b; });
        tr.appendChild(dirt.el('td', 'col-num', s.durations.length ?
          dirt.formatDuration(s.durations[Math.floor(s.durations.length / 2)]) : ''));
        var last = dirt.el('td', 'col-state');
        last.appendChild(dirt.pill(s.last.state));
        tr.appendChild(last);
        fragment.appendChild(tr);
      });
      $(tbody).empty().append(fragment);
      $('#names-note').text(recent.runs.length ? 'the task names of the newest ' + recent.runs.length.toLocaleString() +
                            ' finished runs, with their pass rate there' : '');
      $('#names-empty').prop('hidden', list.length > 0);
      $('#all-names').prop('hidden', false);
    });
  }

  /* Every task name ever, with how often it ran: a reduce over every task
   * (slow on pouchdb-server with many tasks, which computes it each time). */
  function loadAllNames() {
    return dirt.view('history', {group_level: 1}).then(function (answer) {
      var fragment = document.createDocumentFragment();
      answer.rows.forEach(function (row) {
        var tr = dirt.el('tr');
        tr.setAttribute('data-name', row.key[0]);
        var cell = dirt.el('td');
        cell.appendChild(dirt.link(dirt.taskHref(row.key[0]), row.key[0], 'mono'));
        tr.appendChild(cell);
        tr.appendChild(dirt.el('td', 'col-num', row.value.toLocaleString()));
        tr.appendChild(dirt.el('td', 'col-num', ''));
        tr.appendChild(dirt.el('td', 'col-num', ''));
        tr.appendChild(dirt.el('td', 'col-state', ''));
        fragment.appendChild(tr);
      });
      $('#names tbody').empty().append(fragment);
      $('#names-note').text('every task name, with how often it ran');
      $('#names-empty').prop('hidden', answer.rows.length > 0);
    });
  }

  // -- one task's runs -------------------------------------------------------------------

  function buildRun(item) {
    var run = item.value;
    var tr = dirt.el('tr', 'is-' + run.state);
    tr.setAttribute('data-id', item.id);
    var record = dirt.el('td', 'col-id mono');
    if (typeof run.record_id === 'string') record.appendChild(dirt.link(dirt.recordHref(run.record_id), run.record_id));
    tr.appendChild(record);
    var brief = briefs[run.record_id] || {};
    var desc = dirt.el('td', 'description');
    desc.appendChild(dirt.el('div', 'text', brief.description || ''));
    desc.title = brief.description || '';
    var tags = dirt.el('div', 'tags');
    if (brief.branch) tags.appendChild(dirt.link(dirt.overviewHref({branch: brief.branch}), brief.branch, 'tag branch'));
    if (run.variant) tags.appendChild(dirt.el('span', 'tag variant', run.variant));
    if (tags.childNodes.length) desc.appendChild(tags);
    tr.appendChild(desc);
    var status = dirt.el('td', 'col-state');
    status.appendChild(dirt.pill(run.state));
    if (run.run > 1) {
      tr.setAttribute('data-run', String(run.run));
      status.appendChild(dirt.el('div', 'sub rerun', 'run ' + run.run + (run.rerun_by ? ', rerun by ' + run.rerun_by : '')));
    }
    if (run.tests) status.appendChild(dirt.el('div', 'sub', run.tests[1] ? run.tests[1] + ' of ' + run.tests[0] + ' tests failing'
                                              : run.tests[0] + ' tests'));
    tr.appendChild(status);
    tr.appendChild(dirt.el('td', 'mono', run.node || ''));
    var started = dirt.el('td', 'col-time');
    started.appendChild(dirt.time(run.started));
    tr.appendChild(started);
    var took = dirt.el('td', 'col-num');
    if (run.state === 'running' && dirt.isTime(run.started)) took.appendChild(dirt.elapsed(run.started));
    else took.textContent = dirt.formatDuration(run.duration);
    tr.appendChild(took);
    tr.appendChild(dirt.el('td', 'reason', run.reason || ''));
    return tr;
  }

  /* Each variant's marker shape, by how often it ran (most first). */
  function variantShapes(items) {
    var counts = {};
    items.forEach(function (item) { var v = item.value.variant || ''; counts[v] = (counts[v] || 0) + 1; });
    var names = Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : 1); });
    var shapes = {};
    names.forEach(function (v, i) { shapes[v] = chart.SHAPES[Math.min(i, chart.SHAPES.length - 1)]; });
    return {shapes: shapes, names: names, counts: counts};
  }

  /* Duration over time, each run a marker (colour: outcome, shape: variant). */
  function drawDurations(items, shapes) {
    var box = document.getElementById('chart');
    $(box).empty();
    if (!items.length) {
      box.appendChild(dirt.el('p', 'muted', 'No runs in this selection.'));
      return;
    }
    var now = Date.now() / 1000;
    var points = items.map(function (item) {
      var v = item.value, d = null;
      if (v.state === 'running' && dirt.isTime(v.started)) d = now - v.started;
      else if (typeof v.duration === 'number' && v.duration >= 0) d = v.duration;
      return {item: item, t: whenOf(v, item.key), d: d};
    });
    var timed = points.filter(function (p) { return p.d !== null; });
    var width = Math.max(300, box.clientWidth || 960), height = 200, left = 64, right = width - 12, top = 12;
    var bottom = height - 34, waitLane = height - 28;
    var ts = points.map(function (p) { return p.t; });
    var scale = chart.timeScale(Math.min.apply(null, ts), Math.max.apply(null, ts), left + 6, right - 6);
    var svg = chart.node('svg', {viewBox: '0 0 ' + width + ' ' + height, width: width, height: height, role: 'img',
                                 class: 'history-chart durations'});
    svg.appendChild(chart.node('title', {}, 'Duration of each run over time'));
    if (!timed.length) {
      svg.appendChild(chart.node('text', {x: (left + right) / 2, y: (top + bottom) / 2, class: 'axis', 'text-anchor': 'middle'},
                                 'No run has finished yet: no durations to draw'));
    }
    var max = Math.max.apply(null, timed.map(function (p) { return p.d; }).concat([0]));
    var yTicks = timed.length ? chart.durationTicks(max || 0.001) : [];
    var yMax = yTicks.length ? yTicks[yTicks.length - 1] : 1;
    function y(d) { return bottom - (bottom - top) * d / yMax; }
    yTicks.forEach(function (v) {
      svg.appendChild(chart.node('line', {x1: left, x2: right, y1: y(v), y2: y(v), class: 'gridline'}));
      svg.appendChild(chart.node('text', {x: left - 6, y: y(v) + 4, class: 'axis y-tick', 'text-anchor': 'end'},
                                 v ? dirt.formatDuration(v) : '0'));
    });
    scale.ticks.forEach(function (tick) {
      svg.appendChild(chart.node('line', {x1: tick.x, x2: tick.x, y1: bottom, y2: bottom + 4, class: 'tick'}));
      svg.appendChild(chart.node('text', {x: tick.x, y: height - 6, class: 'axis x-tick', 'text-anchor': 'middle'}, tick.label));
    });
    points.forEach(function (p) {
      var v = p.item.value;
      var link = chart.node('a', {class: 'bar-link', href: typeof v.record_id === 'string' ? dirt.recordHref(v.record_id) : null});
      var cy = p.d === null ? waitLane : y(p.d);
      var mark = chart.marker(shapes[v.variant || ''] || 'circle', scale.x(p.t), cy, p.d === null ? 3 : 4,
                              {class: 'run state-' + v.state + (p.d === null ? ' no-duration' : ''),
                               'data-t': p.t});
      mark.appendChild(chart.node('title', {}, (v.record_id || '?') + ': ' + v.state +
        (p.d !== null ? ', ' + dirt.formatDuration(p.d) : '') + (v.node ? ' on ' + v.node : '') +
        (v.variant ? ' · ' + v.variant : '') + ' · ' + dirt.formatTime(p.t)));
      link.appendChild(mark);
      svg.appendChild(link);
    });
    box.appendChild(svg);
  }

  /* Pass rate over time: the runs in equal stretches of time, each a bar of
   * passed (green) over failed (red), as a share of the runs that finished. */
  function drawPassRate(items) {
    var box = document.getElementById('pass-rate');
    $(box).empty();
    var done = items.filter(function (i) { return /^(passed|failed|error)$/.test(i.value.state); });
    if (!done.length) { box.appendChild(dirt.el('p', 'muted', 'No finished runs: no pass rate yet.')); return; }
    var width = Math.max(300, box.clientWidth || 960), height = 110, left = 64, right = width - 12, top = 8, bottom = height - 26;
    var ts = done.map(function (i) { return whenOf(i.value, i.key); });
    var t0 = Math.min.apply(null, ts), t1 = Math.max.apply(null, ts);
    var scale = chart.timeScale(t0, t1, left + 6, right - 6);
    var bins = Math.max(1, Math.min(30, Math.ceil(done.length / 4)));
    var span = Math.max(t1 - t0, 1), stats = [];
    for (var b = 0; b < bins; b++) stats.push({passed: 0, failed: 0});
    done.forEach(function (item, i) {
      var k = Math.min(bins - 1, Math.floor((ts[i] - t0) / span * bins));
      if (item.value.state === 'passed') stats[k].passed++; else stats[k].failed++;
    });
    var svg = chart.node('svg', {viewBox: '0 0 ' + width + ' ' + height, width: width, height: height, role: 'img',
                                 class: 'history-chart pass-rate'});
    svg.appendChild(chart.node('title', {}, 'Share of runs that passed, over time'));
    [1, 0.5, 0].forEach(function (f) {
      var yy = bottom - (bottom - top) * f;
      svg.appendChild(chart.node('line', {x1: left, x2: right, y1: yy, y2: yy, class: 'gridline'}));
      svg.appendChild(chart.node('text', {x: left - 6, y: yy + 4, class: 'axis', 'text-anchor': 'end'}, Math.round(f * 100) + '%'));
    });
    var binW = (scale.x(t1) - scale.x(t0)) / bins;
    stats.forEach(function (s, k) {
      var n = s.passed + s.failed;
      if (!n) return;
      var x = (bins === 1 ? scale.x(t0) - 8 : scale.x(t0) + k * binW) + 1, w = Math.max(3, (bins === 1 ? 16 : binW) - 2);
      var h = bottom - top, ph = h * s.passed / n;
      var g = chart.node('g', {class: 'rate-bin'});
      g.appendChild(chart.node('rect', {x: x, y: top, width: w, height: h - ph, class: 'run state-failed'}));
      g.appendChild(chart.node('rect', {x: x, y: top + h - ph, width: w, height: ph, class: 'run state-passed'}));
      var from = t0 + span * k / bins, to = t0 + span * (k + 1) / bins;
      g.appendChild(chart.node('title', {}, Math.round(100 * s.passed / n) + '% of ' + n + ' runs passed, ' +
                               dirt.formatTime(from) + ' to ' + dirt.formatTime(to)));
      svg.appendChild(g);
    });
    scale.ticks.forEach(function (tick) {
      svg.appendChild(chart.node('text', {x: tick.x, y: height - 6, class: 'axis x-tick', 'text-anchor': 'middle'}, tick.label));
    });
    box.appendChild(svg);
  }

  function showVariants(v) {
    var box = $('#variants').empty();
    if (v.names.length < 2 && opts.variant === null) return;
    function chip(value, label, count, shape) {
      var params = $.extend(dirt.params(), {variant: value});
      if (value === null) delete params.variant;
      var a = dirt.link(dirt.page('task.html', params), '', 'chip' + (opts.variant === value ? ' on' : ''));
      if (shape) a.appendChild(chart.icon(shape));
      a.appendChild(document.createTextNode(' ' + label + (count ? ' (' + count + ')' : '')));
      a.setAttribute('data-variant', value === null ? '*' : value);
      box.append(a);
    }
    chip(null, 'all variants', 0, null);
    v.names.forEach(function (name) { chip(name, name || '(no platform or kwargs)', v.counts[name], v.shapes[name]); });
  }

  function summarize(items, all, limited) {
    var counts = {}, durations = [];
    items.forEach(function (item) {
      counts[item.value.state] = (counts[item.value.state] || 0) + 1;
      if (typeof item.value.duration === 'number' && item.value.state !== 'running') durations.push(item.value.duration);
    });
    durations.sort(function (a, b) { return a - b; });
    var what;
    if (opts.from || opts.to) what = (limited ? 'the newest ' : '') + items.length.toLocaleString() + ' runs of the dates chosen';
    else what = items.length === 1 ? 'the last run' : 'the last ' + items.length.toLocaleString() + ' runs';
    if (opts.variant !== null) what += ' of ' + (opts.variant || 'no platform or kwargs') + ' (of ' + all + ' read)';
    var words = ['Charts: ' + what];
    dirt.STATES.forEach(function (s) { if (counts[s]) words.push(counts[s] + ' ' + s); });
    var finished = (counts.passed || 0) + (counts.failed || 0) + (counts.error || 0);
    if (finished) words.push(Math.round(100 * (counts.passed || 0) / finished) + '% passed');
    if (durations.length) {
      words.push('median ' + dirt.formatDuration(durations[Math.floor(durations.length / 2)]) +
                 ', longest ' + dirt.formatDuration(durations[durations.length - 1]));
    }
    $('#task-summary').text(words.join(' · '));
    $('#chart-legend').empty().append(dirt.bar(counts));
  }

  /* Runs of this name that passed and failed where they should not differ. */
  function showFlaky(items) {
    var runsList = items.map(function (item) {
      return {id: item.id, name: name, variant: item.value.variant, state: item.value.state,
              record_id: item.value.record_id, when: item.key[1]};
    });
    var found = dirt.ci.flakiness(runsList, briefs);
    var box = $('#flaky').empty().prop('hidden', !found.length);
    $('#task-flaky').empty();
    if (!found.length) return;
    $('#task-flaky').append(dirt.flakyTag('#flaky'));
    box.append(dirt.el('h2', null, 'Flaky: passed and failed where it should have done the same'));
    found.forEach(function (f) {
      var head = dirt.el('p', null, (f.variant ? f.variant + ': ' : '') + f.failed + ' of ' + f.runs + ' runs failed');
      box.append(head);
      var list = dirt.el('ul', 'evidence');
      f.evidence.forEach(function (e) {
        var li = dirt.el('li');
        li.setAttribute('data-kind', e.kind);
        if (e.kind === 'record') {
          li.appendChild(document.createTextNode('on record '));
          li.appendChild(dirt.link(dirt.recordHref(e.record_id), e.record_id, 'mono'));
        } else if (e.kind === 'sha') {
          li.appendChild(document.createTextNode('on commit ' + dirt.shortSha(e.sha) + ', in records '));
          var ids = [];
          e.runs.forEach(function (r) { if (ids.indexOf(r.record_id) < 0) ids.push(r.record_id); });
          ids.forEach(function (rid, i) {
            if (i) li.appendChild(document.createTextNode(', '));
            li.appendChild(dirt.link(dirt.recordHref(rid), rid, 'mono'));
          });
        } else {
          li.appendChild(document.createTextNode('flipped ' + e.flips + ' times in ' + e.runs.length + ' runs on '));
          li.appendChild(dirt.link(dirt.overviewHref({branch: e.branch, task: name}), e.branch, 'tag branch'));
        }
        li.appendChild(document.createTextNode(': '));
        var dots = dirt.el('span', 'run-dots');
        e.runs.slice(-40).forEach(function (r) {
          var dot = dirt.el('span', 'state-' + r.state);
          dot.title = r.record_id + ': ' + r.state;
          dots.appendChild(dot);
        });
        li.appendChild(dots);
        list.appendChild(li);
      });
      box.append(list);
    });
  }

  function query() {
    if (opts.from || opts.to) {
      var end = opts.to ? opts.to + 86400 : {};
      return {reduce: false, descending: true, startkey: [name, end], endkey: [name, opts.from || 0], limit: MAX_RANGE + 1};
    }
    return {reduce: false, descending: true, startkey: [name, {}], endkey: [name], limit: Math.max(loaded, opts.runs) + 1};
  }

  function loadHistory() {
    document.title = name + ' · ' + document.title.split(' · ').pop();
    $('#history, #runs-card').prop('hidden', false);
    $('#task-name').text(name);
    var params = query();
    return dirt.view('history', params).then(function (answer) {
      var limit = params.limit - 1;
      var read = answer.rows.slice(0, limit);
      var more = answer.rows.length > limit;
      var v = variantShapes(read);
      var selected = opts.variant === null ? read : read.filter(function (r) { return (r.value.variant || '') === opts.variant; });
      var charted = opts.from || opts.to ? selected : selected.slice(0, opts.runs);
      var listed = selected.slice(0, loaded);
      $('#more').prop('hidden', !(listed.length < selected.length || more));
      var missing = [], seen = {};
      charted.concat(listed).forEach(function (item) {
        var rid = item.value.record_id;
        if (typeof rid === 'string' && !(rid in briefs) && !seen[rid] && missing.length < MAX_RECORDS) {
          seen[rid] = true;
          missing.push(rid);
        }
      });
      return dirt.recordBriefs(missing).then(function (found) {
        missing.forEach(function (rid) { briefs[rid] = found[rid] || {}; });
        runs.update(listed, function (item) { return item.id + '#' + (item.value.run || 1); });
        $('#runs-note').text(listed.length ? 'the newest ' + listed.length.toLocaleString() + ' of them' : '');
        drawDurations(charted, v.shapes);
        drawPassRate(charted);
        showVariants(v);
        summarize(charted, read.length, more);
        showFlaky(charted);
      });
    });
  }

  $('#more').on('click', function () {
    loaded += PAGE;
    refresh();
  });

  $('#chart-options').on('submit change', function (event) {
    event.preventDefault();
    var p = dirt.params();
    p.runs = $('#opt-runs').val();
    p.from = $('#opt-from').val();
    p.to = $('#opt-to').val();
    if (p.runs === '200') delete p.runs;
    dirt.setParams(p);
    readUrl();
    refresh();
  });

  window.addEventListener('popstate', function () { readUrl(); refresh(); });

  readUrl();
  var refresh = name ? dirt.start(loadHistory, {type: 'task', name: name}) : dirt.start(loadNames, {type: 'task'});
}(window.dirt, window.jQuery));
