/* Flaky tasks: the flakiest task names of the newest runs, with the evidence (flaky.html?runs=N). */
(function (dirt, $) {
  'use strict';

  var CHOICES = [500, 2000, 5000];
  var n;
  var rows = new dirt.KeyedRows(document.querySelector('#flaky tbody'), buildRow);

  function readUrl() {
    n = parseInt(dirt.param('runs'), 10);
    if (CHOICES.indexOf(n) < 0) n = 2000;
    $('#opt-runs').val(String(n));
  }

  function evidenceItem(e, name) {
    var li = dirt.el('li');
    li.setAttribute('data-kind', e.kind);
    if (e.kind === 'record') {
      li.appendChild(document.createTextNode('passed and failed on record '));
      li.appendChild(dirt.link(dirt.recordHref(e.record_id), e.record_id, 'mono'));
    } else if (e.kind === 'sha') {
      li.appendChild(document.createTextNode('passed and failed on commit ' + dirt.shortSha(e.sha) + ': '));
      var seen = {};
      e.runs.forEach(function (r) {
        if (seen[r.record_id]) return;
        seen[r.record_id] = true;
        li.appendChild(dirt.link(dirt.recordHref(r.record_id), r.record_id, 'mono'));
        li.appendChild(dirt.el('span', 'muted', ' ' + r.state + ' '));
      });
    } else {
      li.appendChild(document.createTextNode('flipped ' + e.flips + ' times in ' + e.runs.length + ' runs on '));
      li.appendChild(dirt.link(dirt.overviewHref({branch: e.branch, task: name}), e.branch, 'tag branch'));
    }
    var dots = dirt.el('span', 'run-dots');
    e.runs.slice(-40).forEach(function (r) {
      var dot = dirt.el('span', 'state-' + r.state);
      dot.title = r.record_id + ': ' + r.state;
      dots.appendChild(dot);
    });
    li.appendChild(dots);
    return li;
  }

  function buildRow(f) {
    var tr = dirt.el('tr');
    tr.setAttribute('data-name', f.name);
    var name = dirt.el('td');
    name.appendChild(dirt.link(dirt.taskHref(f.name, f.variant ? {variant: f.variant} : {}) + '#flaky', f.name, 'mono'));
    if (f.variant) name.appendChild(dirt.el('div', 'sub', f.variant));
    tr.appendChild(name);
    tr.appendChild(dirt.el('td', 'col-num', f.runs.toLocaleString()));
    tr.appendChild(dirt.el('td', 'col-num', f.failed.toLocaleString()));
    var cell = dirt.el('td');
    var kinds = {record: 0, sha: 0, branch: 0};
    f.evidence.forEach(function (e) { kinds[e.kind]++; });
    var words = [];
    if (kinds.record) words.push(kinds.record + (kinds.record === 1 ? ' record' : ' records') + ' with both outcomes');
    if (kinds.sha) words.push(kinds.sha + (kinds.sha === 1 ? ' commit' : ' commits') + ' with both');
    if (kinds.branch) words.push('flips on ' + kinds.branch + (kinds.branch === 1 ? ' branch' : ' branches'));
    var details = dirt.el('details');
    details.appendChild(dirt.el('summary', null, words.join(', ')));
    var list = dirt.el('ul', 'evidence');
    f.evidence.forEach(function (e) { list.appendChild(evidenceItem(e, f.name)); });
    details.appendChild(list);
    cell.appendChild(details);
    tr.appendChild(cell);
    return tr;
  }

  function load() {
    return dirt.ci.recentRuns(n).then(function (recent) {
      var found = dirt.ci.flakiness(recent.runs, recent.records);
      rows.update(found, function (f) { return f.name + '\u0000' + f.variant; });
      $('#empty').prop('hidden', found.length > 0);
      $('#flaky').prop('hidden', !found.length);
      var words = found.length + (found.length === 1 ? ' flaky task' : ' flaky tasks');
      if (recent.runs.length) words += ' in ' + recent.runs.length.toLocaleString() + ' runs since ' + dirt.formatTime(recent.from);
      $('#flaky-summary').text(words);
    });
  }

  $('#opt-runs').on('change', function () {
    dirt.setParams({runs: this.value === '2000' ? '' : this.value});
    readUrl();
    refresh();
  });
  window.addEventListener('popstate', function () { readUrl(); refresh(); });

  readUrl();
  var refresh = dirt.start(load, {type: 'task'});
}(window.dirt, window.jQuery));
