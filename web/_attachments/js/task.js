/* Task history: one task name across records, newest first, with a chart of
 * outcome and duration (task.html?name=NAME). Without a name: every task name.
 */
(function (dirt, $) {
  'use strict';

  var PAGE = 50;                     // runs listed at a time
  var CHART = 200;                   // runs drawn in the chart
  var name = dirt.param('name');
  var loaded = PAGE;                 // how many runs to show (grows with "Load older")
  var runsBody = document.querySelector('#runs tbody');
  var runs = new dirt.KeyedRows(runsBody, buildRun);
  var descriptions = {};             // record id -> description (records rarely change)

  // -- every task name -------------------------------------------------------------------

  function loadNames() {
    $('#names-card').prop('hidden', false);
    return dirt.view('history', {group_level: 1}).then(function (answer) {
      var tbody = document.querySelector('#names tbody');
      var fragment = document.createDocumentFragment();
      answer.rows.forEach(function (row) {
        var tr = dirt.el('tr');
        var cell = dirt.el('td');
        cell.appendChild(dirt.link(dirt.taskHref(row.key[0]), row.key[0], 'mono'));
        tr.appendChild(cell);
        tr.appendChild(dirt.el('td', 'col-num', row.value.toLocaleString()));
        fragment.appendChild(tr);
      });
      $(tbody).empty().append(fragment);
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
    var description = descriptions[run.record_id] || '';
    var desc = dirt.el('td', 'description', description);
    desc.title = description;
    tr.appendChild(desc);
    var status = dirt.el('td', 'col-state');
    status.appendChild(dirt.pill(run.state));
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

  var SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    $.each(attrs || {}, function (k, v) { node.setAttribute(k, String(v)); });
    return node;
  }

  /* Bars oldest to newest: height is the duration, colour the outcome. */
  function drawChart(items) {
    var box = document.getElementById('chart');
    $(box).empty();
    var shown = items.slice().reverse();
    if (!shown.length) {
      box.appendChild(dirt.el('p', 'muted', 'No runs yet.'));
      return;
    }
    var now = Date.now() / 1000;
    var durations = shown.map(function (item) {
      var v = item.value;
      if (v.state === 'running' && dirt.isTime(v.started)) return now - v.started;
      return typeof v.duration === 'number' && v.duration >= 0 ? v.duration : null;
    });
    var max = Math.max.apply(null, durations.filter(function (d) { return d !== null; }).concat([0.001]));
    var width = Math.max(320, box.clientWidth || 960), height = 180, left = 80, bottom = 22, top = 10;
    var plotW = width - left - 8, plotH = height - top - bottom;
    var step = plotW / Math.max(shown.length, 20);
    var barW = Math.max(2, Math.min(24, step * 0.75));
    var chart = svg('svg', {viewBox: '0 0 ' + width + ' ' + height, width: width, height: height,
                            role: 'img', class: 'history-chart'});
    // axis: max and half of max
    [1, 0.5, 0].forEach(function (f) {
      var y = top + plotH * (1 - f);
      chart.appendChild(svg('line', {x1: left, x2: width - 4, y1: y, y2: y, class: 'gridline'}));
      var label = svg('text', {x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end'});
      label.textContent = f ? dirt.formatDuration(max * f) : '0';
      chart.appendChild(label);
    });
    shown.forEach(function (item, i) {
      var v = item.value, d = durations[i];
      var h = d === null ? 3 : Math.max(3, plotH * d / max);
      var x = left + i * step + (step - barW) / 2;
      var link = svg('a', {class: 'bar-link'});
      if (typeof v.record_id === 'string') link.setAttribute('href', dirt.recordHref(v.record_id));
      var rect = svg('rect', {x: x, y: top + plotH - h, width: barW, height: h, rx: 1.5,
                              class: 'run state-' + v.state});
      var title = svg('title');
      title.textContent = (v.record_id || '?') + ': ' + v.state +
        (d !== null ? ', ' + dirt.formatDuration(d) : '') + (v.node ? ' on ' + v.node : '');
      rect.appendChild(title);
      link.appendChild(rect);
      chart.appendChild(link);
    });
    var axis = svg('text', {x: left, y: height - 6, class: 'axis'});
    axis.textContent = 'oldest shown';
    chart.appendChild(axis);
    var axis2 = svg('text', {x: width - 4, y: height - 6, class: 'axis', 'text-anchor': 'end'});
    axis2.textContent = 'newest';
    chart.appendChild(axis2);
    box.appendChild(chart);
  }

  function summarize(items) {
    var counts = {}, durations = [];
    items.forEach(function (item) {
      counts[item.value.state] = (counts[item.value.state] || 0) + 1;
      if (typeof item.value.duration === 'number' && item.value.state !== 'running') durations.push(item.value.duration);
    });
    durations.sort(function (a, b) { return a - b; });
    var words = [(items.length === 1 ? 'the last run' : 'the last ' + items.length.toLocaleString() + ' runs')];
    dirt.STATES.forEach(function (s) { if (counts[s]) words.push(counts[s] + ' ' + s); });
    if (durations.length) {
      words.push('median ' + dirt.formatDuration(durations[Math.floor(durations.length / 2)]) +
                 ', longest ' + dirt.formatDuration(durations[durations.length - 1]));
    }
    $('#task-summary').text(words.join(' · '));
    $('#chart-legend').empty().append(dirt.bar(counts));
  }

  function loadHistory() {
    document.title = name + ' · ' + document.title.split(' · ').pop();
    $('#history, #runs-card').prop('hidden', false);
    $('#task-name').text(name);
    var limit = Math.max(loaded, CHART);
    return dirt.view('history', {reduce: false, descending: true, startkey: [name, {}], endkey: [name],
                                 limit: limit + 1}).then(function (answer) {
      var rows = answer.rows.slice(0, limit);
      var items = rows.slice(0, loaded);
      $('#more').prop('hidden', answer.rows.length <= loaded);
      var missing = [];
      items.forEach(function (item) {
        var rid = item.value.record_id;
        if (typeof rid === 'string' && !(rid in descriptions) && missing.indexOf(rid) < 0) missing.push(rid);
      });
      return dirt.docs(missing).then(function (docs) {
        missing.forEach(function (rid) {
          var doc = docs[rid];
          descriptions[rid] = doc && typeof doc.description === 'string' ? doc.description : '';
        });
        runs.update(items, function (item) { return item.id; });
        drawChart(rows);
        summarize(rows);
      });
    });
  }

  $('#more').on('click', function () {
    loaded += PAGE;
    refresh();
  });

  var refresh = name ? dirt.start(loadHistory, {type: 'task', name: name}) : dirt.start(loadNames, {type: 'task'});
}(window.dirt, window.jQuery));
