/* Branches: each recently active branch, green or red, since when, which record broke it, and its badge.
 *
 * When records between the last passing one and the one that broke the
 * branch never ran, a button asks a dirt serve to bisect: it stores a bisect
 * document (as `dirt bisect` does, see dirt/bisect.py), which a dirt serve
 * drives; its progress and answer show here, live. */
(function (dirt, $) {
  'use strict';

  var WINDOW = 1000;               // records read to find the active branches
  var MAX_BRANCHES = 60;
  var rows = new dirt.KeyedRows(document.querySelector('#branches tbody'), buildRow);

  function recordLink(record) {
    var box = dirt.el('span', 'record-ref');
    box.appendChild(dirt.link(dirt.recordHref(record.id), record.id, 'mono'));
    if (record.brief && record.brief.author) box.appendChild(dirt.el('span', 'muted', ' by ' + record.brief.author));
    return box;
  }

  function buildRow(state) {
    var tr = dirt.el('tr');
    tr.setAttribute('data-branch', state.branch);
    var name = dirt.el('td');
    name.appendChild(dirt.link(dirt.overviewHref({branch: state.branch}), state.branch, 'mono strong'));
    tr.appendChild(name);

    var cell = dirt.el('td', 'col-branch-state');
    var verdict = state.decided ? state.decided.verdict : 'none';
    var word = verdict === 'passed' ? 'passing' : (verdict === 'failed' ? 'failing' : 'nothing finished yet');
    var head = dirt.el('div', 'branch-state state-' + verdict, word);
    head.setAttribute('data-verdict', verdict);
    cell.appendChild(head);
    if (state.since) {
      var since = dirt.el('div', 'sub', state.open ? 'for more than ' + state.read + ' records, since ' : 'since ');
      since.appendChild(dirt.time(state.since.created));
      since.appendChild(document.createTextNode(' ('));
      since.appendChild(dirt.link(dirt.recordHref(state.since.id), state.since.id, 'mono'));
      since.appendChild(document.createTextNode(')'));
      cell.appendChild(since);
    }
    if (state.brokeBy) {
      var broke = dirt.el('div', 'sub broke', 'broken by ');
      broke.appendChild(recordLink(state.brokeBy));
      broke.appendChild(document.createTextNode('; last passed: '));
      broke.appendChild(dirt.link(dirt.recordHref(state.lastGood.id), state.lastGood.id, 'mono'));
      cell.appendChild(broke);
    }
    if (state.brokeBy || (state.bisects || []).length) cell.appendChild(bisectBox(state));
    tr.appendChild(cell);

    var latest = dirt.el('td');
    if (state.latest) {
      latest.appendChild(dirt.verdictPill(state.latest.verdict));
      latest.appendChild(document.createTextNode(' '));
      latest.appendChild(recordLink(state.latest));
      var when = dirt.el('div', 'sub');
      when.appendChild(dirt.time(state.latest.created));
      if (state.latest.brief.description) when.appendChild(document.createTextNode(' · ' + state.latest.brief.description));
      latest.appendChild(when);
    }
    tr.appendChild(latest);

    var badge = dirt.el('td', 'badge-box');
    var url = new URL(dirt.badgeUrl(state.branch), window.location.href).href;
    if (!state.hasBadge) {
      badge.appendChild(dirt.el('span', 'muted', 'no badge yet: dirt serve writes it when a record of this branch finishes'));
      tr.appendChild(badge);
      return tr;
    }
    var img = dirt.el('img', 'badge-img');
    img.alt = state.branch + ' badge';
    img.src = url;
    badge.appendChild(img);
    var more = dirt.el('details');
    more.appendChild(dirt.el('summary', null, 'Embed'));
    var page = new URL(dirt.overviewHref({branch: state.branch}), window.location.href).href;
    var input = dirt.el('input');
    input.readOnly = true;
    input.value = '[![' + state.branch + '](' + url + ')](' + page + ')';
    input.title = 'Markdown for a README';
    more.appendChild(input);
    more.appendChild(dirt.el('div', 'sub', 'One task on this branch: ' +
                             new URL(dirt.badgeUrl(state.branch, 'TASK'), window.location.href).href));
    badge.appendChild(more);
    tr.appendChild(badge);
    return tr;
  }

  // -- bisecting --------------------------------------------------------------------------

  function bisectPrefix(good, bad) { return 'bisect:' + good + '..' + bad + ':'; }

  /* The branch's newest bisections (the bisects view). */
  function bisectsOf(state) {
    return dirt.view('bisects', {descending: true, startkey: [state.branch, {}], endkey: [state.branch], limit: 3})
      .then(function (answer) {
        return answer.rows.map(function (r) { return $.extend({id: r.id}, r.value); });
      });
  }

  function bisectLine(b) {
    var line = dirt.el('div', 'sub bisect-state');
    line.setAttribute('data-state', b.state);
    line.setAttribute('data-task', b.task);
    line.appendChild(dirt.el('span', null, 'bisect of '));
    line.appendChild(dirt.link(dirt.taskHref(String(b.task)), String(b.task), 'mono'));
    line.appendChild(document.createTextNode(' from ' + b.good + ' to ' + b.bad));
    if (b.state === 'new') {
      line.appendChild(document.createTextNode(': asked; a dirt serve starts it'));
    } else if (b.state === 'running') {
      line.appendChild(document.createTextNode(': testing '));
      if (b.current) line.appendChild(dirt.link(dirt.recordHref(b.current), b.current, 'mono'));
      line.appendChild(document.createTextNode(' (' + b.decided + ' of ' + b.records + ' records decided)'));
    } else if (b.state === 'done') {
      line.appendChild(document.createTextNode(b.candidates.length === 1 ? ': first failing record ' :
                                               ': first failing record is one of '));
      b.candidates.forEach(function (id, i) {
        if (i) line.appendChild(document.createTextNode(', '));
        line.appendChild(dirt.link(dirt.recordHref(id), id, 'mono strong'));
      });
    } else {
      line.appendChild(document.createTextNode(' stopped: ' + b.reason));
    }
    return line;
  }

  function bisectBox(state) {
    var box = dirt.el('div', 'bisect');
    (state.bisects || []).forEach(function (b) { box.appendChild(bisectLine(b)); });
    var asked = (state.bisects || []).some(function (b) {
      return state.brokeBy && b.bad === state.brokeBy.id && b.good === state.lastGood.id &&
        (b.state === 'new' || b.state === 'running');
    });
    if (state.brokeBy && state.untested > 0 && !asked) {
      box.setAttribute('data-good', state.lastGood.id);
      box.setAttribute('data-bad', state.brokeBy.id);
      box.setAttribute('data-branch', state.branch);
      var button = dirt.el('button', 'bisect-start', 'Find the first failing record');
      button.type = 'button';
      button.title = state.untested + (state.untested === 1 ? ' record' : ' records') + ' between ' +
        state.lastGood.id + ' and ' + state.brokeBy.id + ' did not run: a dirt serve runs the failing task on ' +
        'them, halving each time (dirt bisect)';
      box.appendChild(button);
    }
    return box;
  }

  /* The button: choose one of the bad record's failing task names, then ask. */
  $('#branches').on('click', 'button.bisect-start', function () {
    var box = $(this).closest('.bisect'), good = box.attr('data-good'), bad = box.attr('data-bad');
    var button = this;
    button.disabled = true;
    dirt.view('tasks', {reduce: false, startkey: [bad, 'error'], endkey: [bad, 'failed', {}]}).then(function (answer) {
      var names = [];
      answer.rows.forEach(function (row) {
        var n = row.value && row.value.name;
        if (typeof n === 'string' && names.indexOf(n) < 0) names.push(n);
      });
      if (!names.length) throw new Error('No task failed on ' + bad + ': nothing to bisect.');
      var form = dirt.el('div', 'bisect-form');
      var select = dirt.el('select', 'bisect-task');
      names.sort().forEach(function (n) { var o = dirt.el('option', null, n); o.value = n; select.appendChild(o); });
      var go = dirt.el('button', 'bisect-go', 'Bisect');
      go.type = 'button';
      form.appendChild(dirt.el('span', null, 'Task: '));
      form.appendChild(select);
      form.appendChild(go);
      $(button).replaceWith(form);
    }).catch(function (error) {
      button.disabled = false;
      dirt.notice(error.message);
    });
  });

  $('#branches').on('click', 'button.bisect-go', function () {
    var box = $(this).closest('.bisect'), good = box.attr('data-good'), bad = box.attr('data-bad');
    var task = box.find('select.bisect-task').val(), go = this;
    var doc = {_id: bisectPrefix(good, bad) + task, type: 'bisect', task: task, good: good, bad: bad,
               branch: box.attr('data-branch'), created: Date.now() / 1000, state: 'new'};
    go.disabled = true;
    dirt.request({url: dirt.docUrl(doc._id), type: 'PUT', contentType: 'application/json', data: JSON.stringify(doc)})
      .catch(function (error) {
        if (error.status !== 409) throw error;           // asked before: its progress shows
      }).then(function () {
        dirt.notice('Bisect of ' + task + ' asked: a dirt serve runs it on the records between ' + good + ' and ' +
                    bad + '; it shows here as it goes.', 'info');
        refresh();
      }, function (error) {
        go.disabled = false;
        dirt.notice(error.message);
      });
  });

  function load() {
    $('#window').text(WINDOW.toLocaleString());
    return dirt.view('records', {descending: true, limit: WINDOW}).then(function (answer) {
      var branches = [];
      answer.rows.forEach(function (row) {
        var b = row.value && row.value.branch;
        if (b && branches.indexOf(b) < 0 && branches.length < MAX_BRANCHES) branches.push(b);
      });
      // which branches have a badge document (asked by _all_docs: a missing one is no 404)
      var badges = dirt.request({url: dirt.db + '_all_docs', type: 'POST', contentType: 'application/json',
                                 data: JSON.stringify({keys: branches.map(function (b) { return 'badge:' + b; })})});
      return Promise.all([badges].concat(branches.map(dirt.ci.branchState))).then(function (answers) {
        var have = {};
        (answers[0].rows || []).forEach(function (row) { if (!row.error && !(row.value || {}).deleted) have[row.key] = true; });
        var states = answers.slice(1);
        states.forEach(function (s) { s.hasBadge = !!have['badge:' + s.branch]; });
        return Promise.all(states.map(bisectsOf)).then(function (bisects) {
          states.forEach(function (s, i) { s.bisects = bisects[i]; });
          return states;
        });
      }).then(function (states) {
        rows.update(states, function (s) { return s.branch; });
        var red = states.filter(function (s) { return s.decided && s.decided.verdict === 'failed'; }).length;
        $('#branches-summary').text(states.length ? states.length + (states.length === 1 ? ' branch' : ' branches') +
                                    ', ' + red + ' failing' : '');
        $('#empty').prop('hidden', states.length > 0);
        $('#branches').prop('hidden', !states.length);
      });
    });
  }

  var refresh = dirt.start(load, {type: 'record,task,bisect'});
}(window.dirt, window.jQuery));
