/* Test history: one test of one task's JUnit reports across its runs
 * (test.html?task=TASK&test=TEST): where it started failing, where it last passed.
 *
 * The tests view holds the failures; the task's history says which runs had a
 * report at all. A run with a report in which the test is not among the
 * failures did not fail it (it passed, or was skipped or not run).
 */
(function (dirt, $) {
  'use strict';

  var RUNS = 500;
  var task = dirt.param('task'), test = dirt.param('test');
  var rows = new dirt.KeyedRows(document.querySelector('#test-runs tbody'), buildRow);

  function buildRow(item) {
    var tr = dirt.el('tr', 'is-' + item.status);
    tr.setAttribute('data-id', item.id);
    var record = dirt.el('td', 'col-id mono');
    record.appendChild(dirt.link(dirt.recordHref(item.record_id), item.record_id));
    tr.appendChild(record);
    var desc = dirt.el('td', 'description');
    desc.appendChild(dirt.el('div', 'text', item.brief.description || ''));
    var tags = dirt.el('div', 'tags');
    if (item.brief.branch) tags.appendChild(dirt.el('span', 'tag branch', item.brief.branch));
    if (item.variant) tags.appendChild(dirt.el('span', 'tag variant', item.variant));
    desc.appendChild(tags);
    tr.appendChild(desc);
    var status = dirt.el('td', 'col-state');
    status.appendChild(dirt.el('span', 'pill state-' + (item.status === 'failing' ? 'failed' : 'passed'),
                               item.status === 'failing' ? 'failed' : 'did not fail'));
    var when = dirt.el('div', 'sub');
    when.appendChild(dirt.time(item.when));
    status.appendChild(when);
    tr.appendChild(status);
    tr.appendChild(dirt.el('td', 'message', item.message || ''));
    return tr;
  }

  /* Per variant: the current run of failing (or not) and where it began. Pure. */
  function streaks(items) {
    var by = {}, order = [];
    items.forEach(function (item) {
      var v = item.variant || '';
      if (!by[v]) { by[v] = []; order.push(v); }
      by[v].push(item);
    });
    return order.map(function (v) {
      var list = by[v], first = list[0], i = 0;
      while (i < list.length && list[i].status === first.status) i++;
      return {variant: v, status: first.status, since: list[i - 1], before: list[i] || null, runs: list.length};
    });
  }

  function showStreaks(found) {
    var box = $('#streaks').empty();
    found.forEach(function (s) {
      var p = dirt.el('p', 'streak ' + s.status);
      p.setAttribute('data-status', s.status);
      if (s.variant) p.appendChild(dirt.el('span', 'tag variant', s.variant));
      p.appendChild(dirt.el('b', s.status === 'failing' ? 'bad' : 'good',
                            s.status === 'failing' ? ' Failing since ' : ' Not failing since '));
      p.appendChild(dirt.link(dirt.recordHref(s.since.record_id), s.since.record_id, 'mono first-record'));
      p.appendChild(document.createTextNode(' ('));
      p.appendChild(dirt.time(s.since.when));
      p.appendChild(document.createTextNode(')'));
      if (s.before) {
        p.appendChild(document.createTextNode(s.status === 'failing' ? '; last passed in ' : '; last failed in '));
        p.appendChild(dirt.link(dirt.recordHref(s.before.record_id), s.before.record_id, 'mono'));
      } else {
        p.appendChild(document.createTextNode(' (the oldest run read)'));
      }
      box.append(p);
    });
  }

  function load() {
    if (!task || !test) {
      return Promise.reject(new Error('Which test? Open this page as test.html?task=TASK&test=TEST, ' +
                                      'or follow a failing test from a record\'s page.'));
    }
    $('#test-name').text(test);
    $('#task-link').text(task).attr('href', dirt.taskHref(task));
    document.title = test + ' · ' + document.title.split(' · ').pop();
    return Promise.all([
      dirt.view('tests', {reduce: false, descending: true, startkey: [task, test, {}], endkey: [task, test], limit: RUNS}),
      dirt.view('history', {reduce: false, descending: true, startkey: [task, {}], endkey: [task], limit: RUNS})
    ]).then(function (answers) {
      var failures = {};
      answers[0].rows.forEach(function (row) { failures[row.id] = row.value; });
      var runs = answers[1].rows.filter(function (row) { return row.value.tests || failures[row.id]; });
      var ids = [], seen = {};
      runs.forEach(function (row) {
        var rid = row.value.record_id;
        if (typeof rid === 'string' && !seen[rid]) { seen[rid] = true; ids.push(rid); }
      });
      return dirt.recordBriefs(ids).then(function (briefs) {
        var items = runs.map(function (row) {
          var f = failures[row.id];
          return {id: row.id, record_id: row.value.record_id, when: row.key[1], variant: row.value.variant,
                  status: f ? 'failing' : 'passing', message: f ? f.message : '',
                  brief: briefs[row.value.record_id] || {}};
        });
        rows.update(items, function (item) { return item.id; });
        showStreaks(streaks(items));
        $('#test-runs').prop('hidden', !items.length);
        $('#empty').prop('hidden', items.length > 0).text('No run of ' + task + ' has a test report yet.');
      });
    });
  }

  dirt.start(load, {type: 'task', name: task || ''});
}(window.dirt, window.jQuery));
