/* dirt's web app: what every page shares.
 *
 * Pages talk to CouchDB's own HTTP API only (views, documents, attachments,
 * _changes), relative to where they are served from:
 *   DB/_design/NAME/page.html  ->  views at _view/..., the database at ../../
 *
 * Safety: everything read from the database goes on the page as text
 * (textContent, or jQuery's .text()), never as HTML, and every URL is built
 * from encodeURIComponent'd parts. Nothing stored in CouchDB becomes markup.
 */
(function (window, $) {
  'use strict';

  var body = document.body;
  var root = body.getAttribute('data-root') || './';
  $('#blocked').remove();   // scripts run: the warning about blocked scripts is not needed

  // The order states are shown in; states from lib/state.js (js/state.js,
  // loaded before this file) that are not listed here are shown after these.
  var SHOWN_FIRST = ['passed', 'failed', 'error', 'running', 'waiting', 'cancelled', 'skipped'];
  var known = window.TASK_STATES || SHOWN_FIRST;

  var dirt = window.dirt = {
    ddoc: body.getAttribute('data-ddoc'),
    root: root,                 // this page -> the design document (its views and pages)
    db: root + '../../',        // this page -> the database
    STATES: SHOWN_FIRST.filter(function (s) { return known.indexOf(s) >= 0; })
      .concat(known.filter(function (s) { return SHOWN_FIRST.indexOf(s) < 0; })),
    VERDICTS: (window.VERDICTS || []).map(function (v) { return v[0]; }).concat(['none'])
  };

  /* A record's verdict from its task counts by state (lib/state.js). */
  dirt.verdict = function (counts) { return window.recordVerdict(counts || {}); };
  dirt.isDecided = function (verdict) { return verdict === 'passed' || verdict === 'failed'; };

  // -- URLs ------------------------------------------------------------------------------

  dirt.param = function (name) {
    return new URLSearchParams(window.location.search).get(name);
  };

  dirt.docUrl = function (id) {
    return dirt.db + encodeURIComponent(id);
  };

  /* An attachment's URL; a name may hold '/', so each segment is encoded. */
  dirt.fileUrl = function (id, name) {
    return dirt.docUrl(id) + '/' + String(name).split('/').map(encodeURIComponent).join('/');
  };

  /* Content types a browser would run script from, if served from this origin. */
  var ACTIVE = /^(text\/html|application\/xhtml|image\/svg|text\/xml|application\/xml|text\/xsl|application\/javascript|text\/javascript)/i;

  /* Files a task attaches as text that are pages to look at (dirt stores
   * HTML and SVG as text/plain), and text that is a log. */
  var RENDERED = /\.(html?|xhtml|svg)$/i;
  var TEXT_LOG = /(^|\/)log-\d+\.txt$|\.log$/i;
  dirt.isTextLog = function (name) { return TEXT_LOG.test(String(name)); };

  /* Where a link to an attachment goes: a log to the log viewer; a file that
   * could run script in the app's origin, or an HTML report stored as text,
   * to a viewer that shows it in a sandboxed frame (no scripts, no access to
   * the app); anything else straight to the file. */
  dirt.fileHref = function (id, name, contentType) {
    var match = /^log-(\d+)\.txt$/.exec(String(name));
    if (match) return dirt.page('log.html', {task: id, attempt: match[1]});
    if (TEXT_LOG.test(String(name)) && !ACTIVE.test(contentType || '')) return dirt.page('log.html', {task: id, file: name});
    if (ACTIVE.test(contentType || '') || RENDERED.test(String(name))) {
      return dirt.page('file.html', {doc: id, name: name});
    }
    return dirt.fileUrl(id, name);
  };

  dirt.page = function (page, params) {
    var parts = [];
    $.each(params || {}, function (name, value) {
      parts.push(encodeURIComponent(name) + '=' + encodeURIComponent(value));
    });
    return dirt.root + page + (parts.length ? '?' + parts.join('&') : '');
  };

  dirt.recordHref = function (id) { return dirt.page('record.html', {id: id}); };
  dirt.taskHref = function (name, more) { return dirt.page('task.html', $.extend({name: name}, more)); };
  dirt.testHref = function (task, test) { return dirt.page('test.html', {task: task, test: test}); };
  /* The overview with these filters (branch, author, state, task). */
  dirt.overviewHref = function (filters) { return dirt.page('index.html', filters); };

  /* The page's query parameters as an object. */
  dirt.params = function () {
    var out = {};
    new URLSearchParams(window.location.search).forEach(function (value, key) { out[key] = value; });
    return out;
  };

  /* Put ``params`` in the address bar (a new history entry unless ``replace``),
   * dropping empty ones; pages re-read their state on popstate (Back). */
  dirt.setParams = function (params, replace) {
    var clean = {};
    $.each(params, function (k, v) { if (v !== undefined && v !== null && v !== '') clean[k] = v; });
    var url = dirt.page(body.getAttribute('data-page') || '', clean);
    var here = dirt.root + (body.getAttribute('data-page') || '') + window.location.search;
    if (url === here) return;
    if (replace) window.history.replaceState(null, '', url); else window.history.pushState(null, '', url);
  };

  /* A badge's URL: an attachment of the document badge:BRANCH (dirt/badges.py writes them). */
  dirt.badgeUrl = function (branch, task) {
    var name = task ? 'task/' + task + '.svg' : 'status.svg';
    // the colon kept as it is, so the URL reads as documented (badge:main/status.svg)
    return dirt.fileUrl('badge:' + branch, name).replace(/%3A/g, ':');
  };

  dirt.shortSha = function (sha) { return typeof sha === 'string' ? sha.slice(0, 10) : ''; };

  // -- HTTP ------------------------------------------------------------------------------

  function HttpError(xhr, status) {
    this.status = xhr ? xhr.status : 0;
    this.textStatus = status;
    var reason = '';
    try {
      var answer = JSON.parse(xhr.responseText);
      reason = [answer.error, answer.reason].filter(Boolean).join(': ');
    } catch (e) { /* not JSON */ }
    this.reason = reason;
    if (this.status === 0) {
      this.message = 'The database server does not answer (' + (status || 'no connection') + ').';
    } else if (this.status === 401 || this.status === 403) {
      this.message = 'Not allowed to read this database: sign in as one of its readers (' +
        (reason || this.status) + ').';
    } else if (this.status === 404) {
      this.message = 'Not found: ' + (reason || 'the database or design document is missing') + '.';
    } else {
      this.message = 'The server answered ' + this.status + (reason ? ': ' + reason : '') + '.';
    }
  }
  HttpError.prototype = Object.create(Error.prototype);
  dirt.HttpError = HttpError;

  var JSON_PARAMS = {key: 1, keys: 1, startkey: 1, endkey: 1, start_key: 1, end_key: 1};

  function queryString(params) {
    var parts = [];
    $.each(params || {}, function (name, value) {
      if (value === undefined) return;
      var text = JSON_PARAMS[name] ? JSON.stringify(value) : String(value);
      parts.push(encodeURIComponent(name) + '=' + encodeURIComponent(text));
    });
    return parts.length ? '?' + parts.join('&') : '';
  }

  var inFlight = 0, onSettled = [];

  function ended() {
    inFlight -= 1;
    if (inFlight === 0) onSettled.splice(0).forEach(function (fn) { fn(); });
  }

  /* A native Promise of the JSON answer; rejects with an HttpError. */
  dirt.request = function (settings) {
    return new Promise(function (resolve, reject) {
      inFlight += 1;
      $.ajax($.extend({dataType: 'json'}, settings))
        .always(ended)
        .done(function (data) { resolve(data); })
        .fail(function (xhr, status) { reject(new HttpError(xhr, status)); });
    });
  };

  /* A Promise that resolves once no request of the page is under way (or after
   * ``ms``, 5 s by default, if requests keep coming). */
  dirt.settled = function (ms) {
    if (inFlight === 0) return Promise.resolve();
    return new Promise(function (resolve) {
      onSettled.push(resolve);
      window.setTimeout(resolve, ms || 5000);
    });
  };

  dirt.get = function (url, params, settings) {
    return dirt.request($.extend({url: url + queryString(params)}, settings));
  };

  dirt.doc = function (id) {
    return dirt.get(dirt.docUrl(id));
  };

  /* Query a view of this design document. With params.keys, POSTs them. */
  dirt.view = function (name, params) {
    params = $.extend({}, params);
    var url = dirt.root + '_view/' + encodeURIComponent(name);
    if (params.keys) {
      var keys = params.keys;
      delete params.keys;
      return dirt.request({url: url + queryString(params), type: 'POST',
                           contentType: 'application/json', data: JSON.stringify({keys: keys})});
    }
    return dirt.get(url, params);
  };

  // -- keyset paging over views --------------------------------------------------------

  /* pouchdb-server gives the numbers in view keys back rounded in their last
   * digit, now up, now down, so a key read back can sort just beside its own
   * row: reading on from it could skip that row, or other rows of the same
   * time. Pages go on from a little past such a key instead (pageStart: past
   * any such rounding, far below a millisecond), and cursorIndex finds where
   * the rows not yet shown begin. */
  function lastNumber(key) {
    for (var i = key.length - 1; i >= 0; i--) if (typeof key[i] === 'number') return i;
    return -1;
  }

  function sameKey(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  /* A start key just before the cursor row's ``key`` in the direction of the read. */
  dirt.pageStart = function (key, descending) {
    var i = lastNumber(key);
    if (i < 0) return key;
    var k = key.slice(0, i + 1), eps = Math.max(Math.abs(k[i]) * 1e-13, 1e-300);
    k[i] += descending ? eps : -eps;
    return descending ? k.concat([{}]) : k;
  };

  /* In rows read from pageStart(key): {at, found}, the index of the cursor row
   * (its id and key), or if it is gone, of the first row past it. */
  dirt.cursorIndex = function (rows, key, id, descending) {
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].id === id && sameKey(rows[i].key, key)) return {at: i, found: true};
    }
    var n = lastNumber(key), at = 0;
    while (n >= 0 && at < rows.length && (descending ? rows[at].key[n] > key[n] : rows[at].key[n] < key[n])) at++;
    return {at: at, found: false};
  };

  /* Documents by id (missing ones left out), as {id: doc}. */
  dirt.docs = function (ids) {
    if (!ids.length) return Promise.resolve({});
    return dirt.request({url: dirt.db + '_all_docs?include_docs=true', type: 'POST',
                         contentType: 'application/json', data: JSON.stringify({keys: ids})})
      .then(function (answer) {
        var found = {};
        (answer.rows || []).forEach(function (row) { if (row.doc) found[row.id] = row.doc; });
        return found;
      });
  };

  /* Each record's summary, from the summary view (one keyed request per 200
   * records): {record_id: {states: {passed: n, ...}, first, last, slowest,
   * verdict}}; a record without tasks has verdict "none". */
  dirt.summaries = function (recordIds) {
    var out = {}, chunks = [];
    recordIds.forEach(function (id) { out[id] = {states: {}, first: null, last: null, slowest: null, verdict: 'none'}; });
    for (var i = 0; i < recordIds.length; i += 200) chunks.push(recordIds.slice(i, i + 200));
    return Promise.all(chunks.map(function (keys) {
      return dirt.view('summary', {keys: keys, group: true});
    })).then(function (answers) {
      answers.forEach(function (answer) {
        (answer.rows || []).forEach(function (row) {
          if (!row.value || !out[row.key]) return;
          out[row.key] = $.extend(row.value, {verdict: dirt.verdict(row.value.states)});
        });
      });
      return out;
    });
  };

  /* Task counts per state for each record: {record_id: {passed: n, ...}}. */
  dirt.taskCounts = function (recordIds) {
    return dirt.summaries(recordIds).then(function (summaries) {
      var counts = {};
      recordIds.forEach(function (id) { counts[id] = summaries[id].states; });
      return counts;
    });
  };

  /* Record documents' list fields (description, branch, author, sha) by id. */
  dirt.recordBriefs = function (ids) {
    return dirt.docs(ids).then(function (docs) {
      var out = {};
      Object.keys(docs).forEach(function (id) {
        var d = docs[id];
        if (d.type !== 'record') return;
        function text(v) { return typeof v === 'string' && v ? v : null; }
        var sha = text(d.sha) || text(d.commit);
        out[id] = {description: text(d.description), branch: text(d.branch), author: text(d.author),
                   sha: sha ? sha.toLowerCase() : null, created: typeof d.created === 'number' ? d.created : null};
      });
      return out;
    });
  };

  // -- building the page -----------------------------------------------------------------

  /* An element with a class and text content (never HTML). */
  /* -- servers and the nodes they hold ------------------------------------------------------ */

  /* A dirt server is alive while its heartbeat is recent: three beats, and a little slack. */
  dirt.serverAlive = function (server) {
    return server.status !== 'stopped' && dirt.isTime(server.beat) &&
      Date.now() / 1000 - server.beat < 3 * (server.interval || 20) + 5;
  };

  /* Recent heartbeats (rows of the `servers` view, newest first), their beat time in .beat. */
  dirt.servers = function (withinSeconds) {
    return dirt.view('servers', {descending: true, endkey: Date.now() / 1000 - (withinSeconds || 86400)})
      .then(function (answer) {
        return answer.rows.map(function (row) { return $.extend({id: row.id, beat: row.key}, row.value); });
      });
  };

  /* node name -> {status, reason, server, beat}: how the live server holding it sees it.
     A node is up only while a live server holds it and says so. */
  dirt.nodeHolders = function (servers) {
    var holders = {};
    servers.forEach(function (s) {
      if (!dirt.serverAlive(s)) return;
      Object.keys(s.nodes || {}).forEach(function (name) {
        var info = s.nodes[name] || {};
        if (!holders[name] || info.status === 'up') {
          holders[name] = {status: info.status, reason: info.reason || null, server: s.server_id, beat: s.beat};
        }
      });
    });
    return holders;
  };

  dirt.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  /* A table of class ``className`` with a header row of ``headers`` and an empty body (``tBodies[0]``). */
  dirt.headedTable = function (className, headers) {
    var table = dirt.el('table', className), thead = dirt.el('thead'), head = dirt.el('tr');
    headers.forEach(function (h) { head.appendChild(dirt.el('th', null, h)); });
    thead.appendChild(head);
    table.appendChild(thead);
    table.appendChild(dirt.el('tbody'));
    return table;
  };

  dirt.link = function (href, text, className) {
    var a = dirt.el('a', className, text);
    a.setAttribute('href', href);
    return a;
  };

  dirt.pill = function (state) {
    return dirt.el('span', 'pill state-' + (dirt.STATES.indexOf(state) >= 0 ? state : 'unknown'), state);
  };

  /* A record's verdict as a pill: passed, failed, running, waiting, cancelled, or "no tasks". */
  dirt.verdictPill = function (verdict) {
    var pill = dirt.el('span', 'pill verdict state-' + (verdict === 'none' ? 'unknown' : verdict),
                       verdict === 'none' ? 'no tasks' : verdict);
    pill.setAttribute('data-verdict', verdict);
    return pill;
  };

  /* A "flaky" tag linking to the evidence. */
  dirt.flakyTag = function (href, title) {
    var tag = dirt.link(href, 'flaky', 'tag flaky');
    tag.title = title || 'passed and failed where it should have done the same: see why';
    return tag;
  };

  /* "3 min 2 s" from first start to last end, or "running for ..." while unfinished. */
  dirt.recordDuration = function (summary) {
    if (!summary || !dirt.isTime(summary.first)) return dirt.el('span', 'muted', '');
    var unfinished = (summary.states.running || 0) + (summary.states.waiting || 0) > 0;
    if (unfinished) {
      var box = dirt.el('span', 'elapsed-wrap', 'running for ');
      box.appendChild(dirt.elapsed(summary.first));
      return box;
    }
    if (!dirt.isTime(summary.last)) return dirt.el('span', 'muted', '');
    return dirt.el('span', 'took', dirt.formatDuration(summary.last - summary.first));
  };

  dirt.total = function (counts) {
    var n = 0;
    dirt.STATES.forEach(function (s) { n += counts[s] || 0; });
    return n;
  };

  /* A stacked bar of task states, and its legend. */
  dirt.bar = function (counts) {
    var total = dirt.total(counts);
    var wrap = dirt.el('div', 'bar-wrap');
    var bar = dirt.el('div', 'bar');
    var legend = dirt.el('div', 'legend');
    var words = [];
    dirt.STATES.forEach(function (state) {
      var n = counts[state] || 0;
      if (!n) return;
      var seg = dirt.el('span', 'seg state-' + state);
      seg.style.width = (100 * n / total) + '%';
      bar.appendChild(seg);
      var item = dirt.el('span', 'count state-' + state);
      item.appendChild(dirt.el('b', null, n.toLocaleString()));
      item.appendChild(document.createTextNode(' ' + state));
      legend.appendChild(item);
      words.push(n + ' ' + state);
    });
    if (!total) legend.appendChild(dirt.el('span', 'muted', 'no tasks'));
    bar.title = words.join(', ') || 'no tasks';
    wrap.appendChild(bar);
    wrap.appendChild(legend);
    return wrap;
  };

  dirt.notice = function (message, kind) {
    var box = $('#notice');
    if (!message) { box.prop('hidden', true).text(''); return; }
    box.attr('class', 'notice ' + (kind || 'error')).text(message).prop('hidden', false);
  };

  /* Marks the page as rendered (tests and the benchmark wait for this). */
  var renders = 0;
  dirt.rendered = function () {
    renders += 1;
    body.setAttribute('data-ready', String(renders));
    if (!body.hasAttribute('data-first-render-ms')) {
      body.setAttribute('data-first-render-ms', String(Math.round(window.performance.now())));
    }
  };

  // -- times -----------------------------------------------------------------------------

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  dirt.isTime = function (t) { return typeof t === 'number' && isFinite(t) && t > 0; };

  dirt.formatTime = function (t) {
    if (!dirt.isTime(t)) return '';
    var d = new Date(t * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  };

  dirt.formatDuration = function (seconds) {
    if (typeof seconds !== 'number' || !isFinite(seconds) || seconds < 0) return '';
    if (seconds < 1) return Math.round(seconds * 1000) + ' ms';
    if (seconds < 10) return seconds.toFixed(1) + ' s';
    if (seconds < 60) return Math.round(seconds) + ' s';
    var m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    if (m < 60) return m + ' min' + (s ? ' ' + s + ' s' : '');
    var h = Math.floor(m / 60);
    if (h < 48) return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
    return Math.floor(h / 24) + ' days';
  };

  dirt.ago = function (t) {
    if (!dirt.isTime(t)) return '';
    var s = Date.now() / 1000 - t;
    if (s < 0) s = 0;
    if (s < 45) return 'just now';
    if (s < 90 * 60) return Math.round(s / 60) + ' min ago';
    if (s < 36 * 3600) return Math.round(s / 3600) + ' h ago';
    if (s < 60 * 86400) return Math.round(s / 86400) + ' days ago';
    return dirt.formatTime(t).slice(0, 10);
  };

  /* A <time> saying "3 min ago", the exact time on hover; kept current by a ticker. */
  dirt.time = function (t, empty) {
    if (!dirt.isTime(t)) return dirt.el('span', 'muted', empty || '');
    var node = dirt.el('time', 'ago', dirt.ago(t));
    node.setAttribute('data-t', String(t));
    node.setAttribute('datetime', new Date(t * 1000).toISOString());
    node.title = dirt.formatTime(t);
    return node;
  };

  /* A running task's duration so far, kept current by the ticker. */
  dirt.elapsed = function (started) {
    var node = dirt.el('span', 'elapsed', dirt.formatDuration(Date.now() / 1000 - started));
    node.setAttribute('data-since', String(started));
    return node;
  };

  window.setInterval(function () {
    $('time[data-t]').each(function () { this.textContent = dirt.ago(Number(this.getAttribute('data-t'))); });
    $('[data-since]').each(function () {
      this.textContent = dirt.formatDuration(Date.now() / 1000 - Number(this.getAttribute('data-since')));
    });
  }, 5000);

  // -- live updates ----------------------------------------------------------------------

  var liveBadge = $('#live');

  function setLive(state, text) {
    liveBadge.attr('class', 'live ' + state).attr('data-state', state).text(text);
  }

  /* Runs ``load`` now and again when asked, never twice at once; requests that
   * come while it runs make one more run afterwards. */
  dirt.refresher = function (load) {
    var running = false, again = false;
    function run() {
      if (running) { again = true; return; }
      running = true;
      Promise.resolve().then(load).catch(function () {}).then(function () {
        running = false;
        if (again) { again = false; window.setTimeout(run, 200); }
      });
    }
    return run;
  };

  /* Follow the database's _changes and call ``onChange`` after changes that
   * pass the filter; when the server went away and is back, call it once to
   * catch up. The feed is polled (feed=normal, every POLL_MS while the page is
   * visible) rather than long-polled: every request ends at once, so leaving
   * a page never leaves a connection behind. (A browser keeps an abandoned
   * long-poll's connection open until the server ends the response, which
   * pouchdb-server does only when a change comes; six of those and the
   * browser sends nothing more to that server.) */
  var POLL_MS = 1500, HIDDEN_POLL_MS = 15000, MAX_BACKOFF_MS = 15000;

  dirt.follow = function (filterParams, onChange) {
    var since = null, backoff = 1000, wasDown = false, timer = null;

    function later(ms) {
      window.clearTimeout(timer);
      timer = window.setTimeout(poll, ms);
    }

    function interval() {
      return document.visibilityState === 'hidden' ? HIDDEN_POLL_MS : POLL_MS;
    }

    function poll() {
      if (since === null) { connect(); return; }
      var params = $.extend({since: since, filter: dirt.ddoc + '/live', limit: 200}, filterParams);
      dirt.get(dirt.db + '_changes', params, {timeout: 30000}).then(function (answer) {
        since = answer.last_seq;
        backoff = 1000;
        var results = answer.results || [];
        if (results.length) onChange(results);
        later(results.length >= params.limit ? 0 : interval());
      }, down);
    }

    function down(error) {
      wasDown = true;
      since = null;
      var wait = backoff;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      setLive('offline', 'offline, retrying in ' + Math.round(wait / 1000) + ' s');
      liveBadge.attr('title', error.message);
      later(wait);
    }

    function connect() {
      // Start from the database's current sequence. After an outage, reload
      // the page's data once: whatever changed meanwhile is then shown.
      dirt.get(dirt.db).then(function (info) {
        since = info.update_seq;
        setLive('on', 'live');
        liveBadge.attr('title', 'Updates appear as they happen');
        if (wasDown) { wasDown = false; onChange([]); }
        later(interval());
      }, down);
    }

    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && since !== null) later(0);
    });
    setLive('connecting', 'connecting');
    connect();
  };

  /* A page: ``load`` fetches and renders (returning a Promise); it runs now
   * and again whenever a change passing ``filter`` arrives. */
  dirt.start = function (load, filter) {
    var slow = window.setTimeout(function () {
      dirt.notice('Still loading. The first read of the views after a push makes the database build ' +
                  'them, which takes a while with many documents; this page fills in when they are ready.',
                  'info');
    }, 3000);
    var refresh = dirt.refresher(function () {
      return load().then(function () {
        window.clearTimeout(slow);
        dirt.notice(null);
        body.removeAttribute('data-error');
        dirt.rendered();
      }, function (error) {
        window.clearTimeout(slow);
        dirt.notice(error && error.message ? error.message : String(error));
        body.setAttribute('data-error', '1');
      });
    });
    refresh();
    dirt.follow(filter || {}, refresh);
    dirt.reload = refresh;        // js/session.js reloads the page's data after a sign-in or sign-out
    return refresh;
  };

  /* Keeps a table body's rows in the given order, rebuilding only rows whose
   * data changed: open details and scrolling survive live updates. */
  dirt.KeyedRows = function (tbody, build) {
    this.tbody = tbody;
    this.build = build;          // build(item) -> <tr> (or [<tr>, ...])
    this.rows = {};              // key -> {sig, nodes}
  };

  dirt.KeyedRows.prototype.update = function (items, keyOf) {
    var seen = {}, self = this, fragment = document.createDocumentFragment();
    items.forEach(function (item) {
      var key = keyOf(item), sig = JSON.stringify(item), entry = self.rows[key];
      seen[key] = true;
      if (!entry || entry.sig !== sig) {
        var built = self.build(item);
        var nodes = Array.isArray(built) ? built : [built];
        if (entry) entry.nodes.forEach(function (n) { if (n.parentNode) n.parentNode.removeChild(n); });
        entry = self.rows[key] = {sig: sig, nodes: nodes};
      }
      entry.nodes.forEach(function (n) { fragment.appendChild(n); });
    });
    Object.keys(this.rows).forEach(function (key) {
      if (!seen[key]) {
        self.rows[key].nodes.forEach(function (n) { if (n.parentNode) n.parentNode.removeChild(n); });
        delete self.rows[key];
      }
    });
    this.tbody.appendChild(fragment);
  };
}(window, window.jQuery));
