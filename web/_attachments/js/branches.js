/* Branches: each recently active branch, green or red, since when, which record broke it, and its badge. */
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
        rows.update(states, function (s) { return s.branch; });
        var red = states.filter(function (s) { return s.decided && s.decided.verdict === 'failed'; }).length;
        $('#branches-summary').text(states.length ? states.length + (states.length === 1 ? ' branch' : ' branches') +
                                    ', ' + red + ' failing' : '');
        $('#empty').prop('hidden', states.length > 0);
        $('#branches').prop('hidden', !states.length);
      });
    });
  }

  dirt.start(load, {type: 'record,task'});
}(window.dirt, window.jQuery));
