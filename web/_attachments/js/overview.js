/* Overview: records newest first, with their task counts, a page at a time.
 *
 * Paging is by key, never by skip, so any page costs the same with millions of
 * records: ?after=KEY shows the page of records older than KEY, ?before=KEY
 * the page newer than KEY (KEY is a row key of the records view, as JSON).
 */
(function (dirt, $) {
  'use strict';

  var PAGE = 25;
  var after = parseKey(dirt.param('after'));
  var before = parseKey(dirt.param('before'));
  var tbody = document.querySelector('#records tbody');
  var rows = new dirt.KeyedRows(tbody, buildRow);

  function parseKey(text) {
    if (!text) return null;
    try {
      var key = JSON.parse(text);
      return Array.isArray(key) ? key : null;
    } catch (e) {
      return null;
    }
  }

  /* One page of the records view: {rows, hasNewer, hasOlder, total}. The
   * cursor row itself is dropped (not skipped), so a deleted cursor record
   * costs nothing. */
  function fetchPage() {
    var cursor = before || after;
    var params = {limit: PAGE + 2};
    if (cursor) params.startkey = cursor;
    if (!before) params.descending = true;
    return dirt.view('records', params).then(function (answer) {
      var found = answer.rows;
      // The cursor row is recognised by its id: pouchdb-server returns the
      // numbers in view keys slightly rounded, so whole keys may not match.
      if (cursor && found.length && found[0].id === cursor[cursor.length - 1]) found = found.slice(1);
      var more = found.length > PAGE;
      found = found.slice(0, PAGE);
      if (before && !more) {
        // this is the newest page after all: show it as such
        before = null;
        window.history.replaceState(null, '', dirt.page('index.html'));
        return fetchPage();
      }
      if (before) {
        return {rows: found.reverse(), hasNewer: true, hasOlder: true, total: answer.total_rows};
      }
      return {rows: found, hasNewer: !!after, hasOlder: more, total: answer.total_rows};
    });
  }

  function buildRow(item) {
    var tr = dirt.el('tr');
    tr.setAttribute('data-id', item.id);
    var idCell = dirt.el('td', 'col-id mono');
    idCell.appendChild(dirt.link(dirt.recordHref(item.id), item.id));
    tr.appendChild(idCell);
    var description = dirt.el('td', 'description', item.description || '');
    if (item.description) description.title = item.description;
    tr.appendChild(description);
    var created = dirt.el('td', 'col-time');
    created.appendChild(dirt.time(item.created));
    tr.appendChild(created);
    var counts = dirt.el('td', 'col-bar');
    counts.appendChild(dirt.bar(item.counts));
    tr.appendChild(counts);
    return tr;
  }

  function showPager(page) {
    var first = page.rows[0], last = page.rows[page.rows.length - 1];
    $('#newest').prop('hidden', !page.hasNewer);
    $('#newer').prop('hidden', !(page.hasNewer && first))
      .attr('href', first ? dirt.page('index.html', {before: JSON.stringify(first.key)}) : null);
    $('#older').prop('hidden', !(page.hasOlder && last))
      .attr('href', last ? dirt.page('index.html', {after: JSON.stringify(last.key)}) : null);
    $('#empty').prop('hidden', page.rows.length > 0 || page.hasNewer);
    $('#records').prop('hidden', !page.rows.length);
    $('#stat-records').text(page.total.toLocaleString());
    $('#range').text(page.rows.length ? 'showing ' + page.rows.length + ' of ' + page.total.toLocaleString() : '');
  }

  /* Running and waiting totals and node health, for the strip on top. */
  function loadSummary() {
    return Promise.all([
      dirt.view('queue', {group_level: 1}),
      dirt.view('nodes', {})
    ]).then(function (answers) {
      var queue = {};
      answers[0].rows.forEach(function (row) { queue[row.key[0]] = row.value; });
      $('#stat-running').text((queue.running || 0).toLocaleString());
      $('#stat-waiting').text((queue.waiting || 0).toLocaleString());
      var up = 0, down = 0;
      answers[1].rows.forEach(function (row) {
        if (row.value.status === 'down' || !row.value.enabled) down += 1; else up += 1;
      });
      var text = up + ' up';
      if (down) text += ' · ' + down + ' down or disabled';
      $('#stat-nodes').text(answers[1].rows.length ? text : 'none').toggleClass('warn', down > 0);
    });
  }

  function load() {
    var summary = loadSummary();
    var records = fetchPage().then(function (page) {
      var ids = page.rows.map(function (row) { return row.id; });
      return dirt.taskCounts(ids).then(function (counts) {
        rows.update(page.rows.map(function (row) {
          return {id: row.id, key: row.key, created: row.key[0], description: row.value, counts: counts[row.id]};
        }), function (item) { return item.id; });
        showPager(page);
      });
    });
    return Promise.all([records, summary]);
  }

  $('#goto').on('submit', function (event) {
    var id = $.trim($('#goto-id').val());
    event.preventDefault();
    if (id) window.location.href = dirt.recordHref(id);
  });

  dirt.start(load, {type: 'record,task,node'});
}(window.dirt, window.jQuery));
