/* Overview: records newest first, with their verdict and task counts, a page
 * at a time; filtered by branch, author, state and task name, all in the URL.
 *
 * Paging is by key, never by skip, so any page costs the same with millions of
 * records: ?after=KEY shows the page of records older than KEY, ?before=KEY
 * the page newer than KEY (KEY is a row key of the records view, as JSON).
 * A filtered list is read from the view that narrows it most (records_by for
 * a branch or author, history for a task name, outcomes for failed, running or
 * waiting tasks) and checked against the other filters as it is read;
 * ?from=[KEY, ID] continues it at that row.
 */
(function (dirt, $) {
  'use strict';

  var PAGE = 25;
  var BATCH = 200;                 // rows read per request while filtering
  var MAX_BATCHES = 10;            // then the page shows what it found, and "Older" goes on
  var FILTERS = ['branch', 'author', 'state', 'task'];
  // "a task is failed (failed or error), running, waiting": the states of
  // those verdicts in lib/state.js; passed: every task passed (the verdict)
  var STATE_FILTERS = {passed: null};
  window.VERDICTS.forEach(function (v) {
    if (v[0] === 'failed' || v[0] === 'running' || v[0] === 'waiting') STATE_FILTERS[v[0]] = v[1];
  });

  var tbody = document.querySelector('#records tbody');
  var rows = new dirt.KeyedRows(tbody, buildRow);
  var query;                       // what the URL asks for

  function parseJson(text) {
    if (!text) return null;
    try {
      var value = JSON.parse(text);
      return Array.isArray(value) ? value : null;
    } catch (e) {
      return null;
    }
  }

  function readUrl() {
    var p = dirt.params();
    query = {after: parseJson(p.after), before: parseJson(p.before), from: parseJson(p.from), filters: {}};
    FILTERS.forEach(function (f) { if (p[f]) query.filters[f] = p[f]; });
    if (query.filters.state && !(query.filters.state in STATE_FILTERS)) delete query.filters.state;
    showFilterForm();
  }

  function filtered() { return Object.keys(query.filters).length > 0; }

  // -- unfiltered: the records view ------------------------------------------------------

  /* One page of the records view: {rows, hasNewer, hasOlder, total}. The
   * cursor row itself is dropped (not skipped), so a deleted cursor record
   * costs nothing. */
  function fetchPage() {
    var before = query.before, after = query.after;
    var cursor = before || after;
    var params = {limit: PAGE + 2};
    if (cursor) params.startkey = dirt.pageStart(cursor, !before);
    if (!before) params.descending = true;
    return dirt.view('records', params).then(function (answer) {
      var found = answer.rows;
      if (cursor) {                       // the rows past the cursor row (the last one shown)
        var c = dirt.cursorIndex(found, cursor, cursor[cursor.length - 1], !before);
        found = found.slice(c.found ? c.at + 1 : c.at);
      }
      var more = found.length > PAGE;
      found = found.slice(0, PAGE);
      if (before && !more) {
        // this is the newest page after all: show it as such
        query.before = null;
        window.history.replaceState(null, '', dirt.page('index.html'));
        return fetchPage();
      }
      var items = (before ? found.reverse() : found).map(function (row) {
        return {id: row.id, key: row.key, created: row.key[0], brief: row.value || {}};
      });
      return {items: items, hasNewer: !!(before || after), hasOlder: before ? true : more, total: answer.total_rows};
    });
  }

  // -- filtered: read the narrowest view, check the rest -----------------------------------

  /* Where the candidates come from: a view range read newest first, and what
   * each row says (its record, maybe its record's brief, whether it matches). */
  function chooseSource(f) {
    var stateStates = f.state ? STATE_FILTERS[f.state] : undefined;
    function inState(state) { return stateStates.indexOf(state) >= 0; }
    if (f.task) {
      // with a task name, the state is that task's: "records where test.unit failed"
      return {view: 'history', start: [f.task, {}], end: [f.task],
              row: function (row) {
                var state = row.value.state;
                var ok = !row.value.earlier &&       // a run a rerun replaced is not the task's state
                  (!f.state || (stateStates ? inState(state) : state === 'passed'));
                return {record_id: row.value.record_id, ok: ok};
              },
              handles: {task: true, state: true}};
    }
    if (stateStates && !(f.branch || f.author) || (f.state === 'running' || f.state === 'waiting')) {
      if (stateStates) {
        var verdictOf = f.state;  // the outcomes view files failed and error tasks under "failed"
        return {view: 'outcomes', start: [verdictOf, {}], end: [verdictOf],
                row: function (row) { return {record_id: row.value[1], ok: inState(row.value[2]) && !row.value[5]}; },
                handles: {state: true}};
      }
    }
    var facet = f.branch ? 'branch' : (f.author ? 'author' : null);
    if (facet) {
      return {view: 'records_by', start: [facet, f[facet], {}], end: [facet, f[facet]],
              row: function (row) { return {record_id: row.id, ok: true, brief: row.value}; },
              handles: facet === 'branch' ? {branch: true} : {author: true}};
    }
    return {view: 'records', start: undefined, end: undefined,
            row: function (row) { return {record_id: row.id, ok: true, brief: $.extend({created: row.key[0]}, row.value)}; },
            handles: {}};
  }


  /* Up to PAGE matching records from ``from`` on: {items, next (a from cursor), scanned}. */
  function scan(f, from) {
    var source = chooseSource(f);
    var items = [], seen = {}, scanned = 0, batches = 0;
    var cursor = from ? {key: from[0], id: from[1]} : null;

    function batch() {
      var params = {reduce: false, descending: true, limit: BATCH + 1,
                    startkey: cursor ? dirt.pageStart(cursor.key, true) : source.start, endkey: source.end};
      if (source.view === 'records' && !cursor) delete params.startkey;
      return dirt.view(source.view, params).then(function (answer) {
        var list = answer.rows;
        if (cursor) list = list.slice(dirt.cursorIndex(list, cursor.key, cursor.id, true).at);
        var end = list.length <= BATCH;
        var nextRow = end ? null : list[BATCH];
        list = list.slice(0, BATCH);
        var parsed = list.map(function (row) { return $.extend({row: row}, source.row(row)); });
        var fresh = [];
        parsed.forEach(function (p) {
          if (p.ok && p.record_id && !seen[p.record_id] && fresh.indexOf(p.record_id) < 0) fresh.push(p.record_id);
        });
        return check(fresh, f, source, parsed).then(function (verdicts) {
          for (var k = 0; k < parsed.length; k++) {
            var p = parsed[k], rid = p.record_id;
            if (!p.ok || !rid || seen[rid]) continue;
            if (items.length >= PAGE) {
              return {items: items, next: [p.row.key, p.row.id], scanned: scanned};
            }
            seen[rid] = true;
            scanned += 1;
            if (verdicts[rid]) items.push(verdicts[rid]);
          }
          batches += 1;
          if (end) return {items: items, next: null, scanned: scanned};
          cursor = {key: nextRow.key, id: nextRow.id};
          if (batches >= MAX_BATCHES) return {items: items, next: [cursor.key, cursor.id], scanned: scanned};
          return batch();
        });
      });
    }
    return batch();
  }

  /* Which candidate records pass the filters the source did not apply:
   * {record_id: item} for those that do. */
  function check(ids, f, source, parsed) {
    if (!ids.length) return Promise.resolve({});
    var briefs = {};
    parsed.forEach(function (p) { if (p.brief) briefs[p.record_id] = p.brief; });
    var needBriefs = ids.some(function (id) { return !briefs[id]; });
    var got = needBriefs ? dirt.recordBriefs(ids) : Promise.resolve(briefs);
    return got.then(function (found) {
      var out = {};
      var survivors = ids.filter(function (id) {
        var b = found[id] || briefs[id];
        if (!b) {                                          // tasks whose record document is missing
          if (f.branch || f.author) return false;
          b = {created: null};
        }
        if (f.branch && !source.handles.branch && b.branch !== f.branch) return false;
        if (f.author && !source.handles.author && b.author !== f.author) return false;
        out[id] = {id: id, key: null, brief: b, created: b.created};
        return true;
      });
      var stateStates = f.state ? STATE_FILTERS[f.state] : undefined;
      if (!f.state || source.handles.state) return out;
      return dirt.summaries(survivors).then(function (summaries) {
        survivors.forEach(function (id) {
          var s = summaries[id];
          var ok = stateStates ? stateStates.some(function (st) { return s.states[st] > 0; }) : s.verdict === 'passed';
          if (!ok) delete out[id];
          else out[id].summary = s;
        });
        return out;
      });
    });
  }

  // -- a row -----------------------------------------------------------------------------

  function filterLink(name, value, className) {
    var f = $.extend({}, query.filters);
    f[name] = value;
    var a = dirt.link(dirt.overviewHref(f), value, 'tag ' + className);
    a.title = 'Only records with ' + name + ' ' + value;
    return a;
  }

  function buildRow(item) {
    var brief = item.brief || {}, summary = item.summary;
    var tr = dirt.el('tr');
    tr.setAttribute('data-id', item.id);
    var idCell = dirt.el('td', 'col-id mono');
    idCell.appendChild(dirt.link(dirt.recordHref(item.id), item.id));
    if (brief.sha && brief.sha.indexOf(item.id) !== 0) idCell.appendChild(dirt.el('div', 'sub mono', dirt.shortSha(brief.sha)));
    tr.appendChild(idCell);
    var description = dirt.el('td', 'description');
    description.appendChild(dirt.el('div', 'text', brief.description || ''));
    if (brief.description) description.title = brief.description;
    var tags = dirt.el('div', 'tags');
    if (brief.branch) tags.appendChild(filterLink('branch', brief.branch, 'branch'));
    if (brief.author) tags.appendChild(filterLink('author', brief.author, 'author'));
    if (tags.childNodes.length) description.appendChild(tags);
    tr.appendChild(description);
    var created = dirt.el('td', 'col-time');
    created.appendChild(dirt.time(item.created));
    tr.appendChild(created);
    var verdict = dirt.el('td', 'col-verdict');
    verdict.appendChild(dirt.verdictPill(summary.verdict));
    var times = dirt.el('div', 'sub');
    times.appendChild(dirt.recordDuration(summary));
    verdict.appendChild(times);
    if (summary.slowest && summary.slowest[1]) {
      var slow = dirt.el('div', 'sub slowest', 'slowest: ');
      slow.appendChild(dirt.el('span', 'mono', summary.slowest[1]));
      slow.appendChild(document.createTextNode(' ' + dirt.formatDuration(summary.slowest[0])));
      verdict.appendChild(slow);
    }
    tr.appendChild(verdict);
    var counts = dirt.el('td', 'col-bar');
    counts.appendChild(dirt.bar(summary.states));
    tr.appendChild(counts);
    return tr;
  }

  // -- the page --------------------------------------------------------------------------

  function showPager(page) {
    var first = page.items[0], last = page.items[page.items.length - 1];
    var f = query.filters;
    $('#newest').prop('hidden', !page.hasNewer).attr('href', dirt.overviewHref(f));
    $('#newer').prop('hidden', !(page.hasNewer && first && !filtered()))
      .attr('href', first ? dirt.page('index.html', {before: JSON.stringify(first.key)}) : null);
    var older = null;
    if (filtered() && page.next) older = dirt.overviewHref($.extend({from: JSON.stringify(page.next)}, f));
    if (!filtered() && page.hasOlder && last) older = dirt.page('index.html', {after: JSON.stringify(last.key)});
    $('#older').prop('hidden', !older).attr('href', older);
    $('#empty').prop('hidden', page.items.length > 0 || page.hasNewer);
    $('#empty').text(filtered() ? 'No records match these filters' + (page.next ? ' among those read so far.' : '.')
                     : 'No records yet. Store one (with its tasks) in the database, and it appears here.');
    $('#records').prop('hidden', !page.items.length);
    if (page.total !== undefined) $('#stat-records').text(page.total.toLocaleString());
    if (filtered()) {
      $('#range').text(page.items.length + (page.items.length === 1 ? ' match' : ' matches') +
                       (page.next ? ' (read ' + page.scanned.toLocaleString() + ' records so far)' : ''));
    } else {
      $('#range').text(page.items.length ? 'showing ' + page.items.length + ' of ' + page.total.toLocaleString() : '');
    }
  }

  function showFilterForm() {
    FILTERS.forEach(function (f) { $('#filter-' + f).val(query.filters[f] || ''); });
    var chips = $('#active-filters').empty();
    FILTERS.forEach(function (name) {
      var value = query.filters[name];
      if (!value) return;
      var rest = $.extend({}, query.filters);
      delete rest[name];
      var chip = dirt.link(dirt.overviewHref(rest), '', 'chip on removable');
      chip.appendChild(document.createTextNode(name + ': ' + value + ' '));
      chip.appendChild(dirt.el('span', 'x', '×'));
      chip.title = 'Remove this filter';
      chips.append(chip);
    });
  }

  /* Running and waiting totals and node health, for the strip on top. */
  function loadSummary() {
    return Promise.all([
      dirt.view('queue', {group_level: 1}),
      dirt.view('nodes', {}),
      dirt.servers()
    ]).then(function (answers) {
      var queue = {};
      answers[0].rows.forEach(function (row) { queue[row.key[0]] = row.value; });
      $('#stat-running').text((queue.running || 0).toLocaleString());
      $('#stat-waiting').text((queue.waiting || 0).toLocaleString());
      // A node is up only while a live dirt server holds it.
      var holders = dirt.nodeHolders(answers[2]);
      var up = 0, down = 0;
      answers[1].rows.forEach(function (row) {
        var held = holders[row.key];
        if (held && held.status === 'up' && row.value.enabled) up += 1; else down += 1;
      });
      var text = up + ' up';
      if (down) text += ' · ' + down + (answers[2].some(dirt.serverAlive) ? ' down or disabled' : ' not held (no dirt serve runs)');
      $('#stat-nodes').text(answers[1].rows.length ? text : 'none').toggleClass('warn', down > 0);
    });
  }

  /* Is the main branch (main, master or trunk, the first that has records) green? */
  var MAIN_BRANCHES = ['main', 'master', 'trunk'];
  function loadMain() {
    return Promise.all(MAIN_BRANCHES.map(function (b) {
      return dirt.view('records_by', {reduce: false, startkey: ['branch', b], endkey: ['branch', b, {}], limit: 1});
    })).then(function (answers) {
      var i = 0;
      while (i < answers.length && !answers[i].rows.length) i++;
      if (i === answers.length) { $('#main-branch').prop('hidden', true); return null; }
      return dirt.ci.branchState(MAIN_BRANCHES[i]).then(showMain);
    });
  }

  function showMain(state) {
    var box = $('#main-branch').prop('hidden', false);
    var verdict = state.decided ? state.decided.verdict : 'none';
    box.attr('data-verdict', verdict);
    $('#main-name').text(state.branch).attr('href', dirt.overviewHref({branch: state.branch}));
    var value = $('#main-state').empty().attr('class', 'value state-' + verdict);
    value.text(verdict === 'passed' ? 'passing' : (verdict === 'failed' ? 'failing' : 'no finished record'));
    var detail = $('#main-detail').empty();
    if (state.since) {
      detail.append(document.createTextNode((state.open ? 'for more than ' + state.read + ' records, since ' : 'since ')));
      detail.append(dirt.time(state.since.created));
    }
    if (state.brokeBy) {
      detail.append(document.createTextNode(' · broken by '));
      detail.append(dirt.link(dirt.recordHref(state.brokeBy.id), state.brokeBy.id, 'mono'));
      if (state.brokeBy.brief.author) detail.append(document.createTextNode(' (' + state.brokeBy.brief.author + ')'));
    }
  }

  function load() {
    var work = [loadSummary(), loadMain()];
    if (filtered()) {
      work.push(dirt.view('records', {limit: 0}).then(function (answer) {
        $('#stat-records').text(answer.total_rows.toLocaleString());
      }));
    }
    var list = filtered() ? scan(query.filters, query.from).then(function (found) {
      return {items: found.items, next: found.next, scanned: found.scanned, hasNewer: !!query.from};
    }) : fetchPage();
    work.push(list.then(function (page) {
      var ids = page.items.map(function (item) { return item.id; });
      var missing = page.items.filter(function (item) { return !item.summary; }).map(function (item) { return item.id; });
      return dirt.summaries(missing).then(function (summaries) {
        rows.update(page.items.map(function (item) {
          return {id: item.id, key: item.key, created: item.created, brief: item.brief,
                  summary: item.summary || summaries[item.id]};
        }), function (item) { return item.id; });
        showPager(page);
        return ids;
      });
    }));
    return Promise.all(work);
  }

  // -- forms -----------------------------------------------------------------------------

  $('#filters').on('submit', function (event) {
    event.preventDefault();
    var f = {};
    FILTERS.forEach(function (name) {
      var value = $.trim($('#filter-' + name).val() || '');
      if (value) f[name] = value;
    });
    dirt.setParams(f);
    readUrl();
    refresh();
  });
  $('#filter-state').on('change', function () { $('#filters').trigger('submit'); });

  $('#goto').on('submit', function (event) {
    var id = $.trim($('#goto-id').val());
    event.preventDefault();
    if (id) window.location.href = dirt.recordHref(id);
  });

  window.addEventListener('popstate', function () { readUrl(); refresh(); });

  readUrl();
  var refresh = dirt.start(load, {type: 'record,task,node,server'});

  // recent branches, as suggestions for the branch box
  dirt.view('records', {descending: true, limit: 200}).then(function (answer) {
    var seen = {}, list = $('#branch-list');
    answer.rows.forEach(function (row) {
      var b = row.value && row.value.branch;
      if (b && !seen[b]) { seen[b] = true; list.append($('<option>').attr('value', b)); }
    });
  }, function () {});
}(window.dirt, window.jQuery));
