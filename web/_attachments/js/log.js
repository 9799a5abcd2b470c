/* Log: the output of one attempt of a task (log.html?task=ID, the latest
 * attempt; &attempt=N for another), or a text file a task attached
 * (log.html?task=ID&file=NAME).
 *
 * While the attempt runs, its output is read from the chunk documents dirt
 * streams (log:ID:N:SEQ, every second or two while there is new output) and
 * new lines appear as they come; once it ended, from the file attached to
 * the task (log-N.txt, with the arrival times in log-N.times.json). A gap in
 * the chunks, or the cut mark in the file, is shown as "... N lines cut ...".
 * Lines can be linked (#L120), searched, timed; "First error" finds the
 * first line that looks like one.
 */
(function (dirt, $) {
  'use strict';

  var taskId = dirt.param('task');
  var fileName = dirt.param('file');
  var asked = parseInt(dirt.param('attempt'), 10);
  if (!(asked > 0)) asked = null;
  var TIMES = ['off', 'elapsed', 'clock'];

  var view = new dirt.LogView(document.getElementById('log-view'), {onFollow: showFollow});
  var shown = {key: null};     // what the view shows: a file (by digest) or an attempt's chunks
  var live = false;            // the attempt is running: new lines will come
  var placed = false;          // the first model has been placed (at a linked line, or the bottom)
  var origin = null;           // when the attempt started (times "since the start")
  var timesMode = TIMES.indexOf(dirt.param('times')) > 0 ? dirt.param('times') : 'off';

  function problem(message) {
    $('#log-head, #log-card').prop('hidden', true);
    $('#log-problem').prop('hidden', false).text(message);
  }

  function attemptsOf(doc) {
    var list = Array.isArray(doc.attempts) ? doc.attempts : [];
    return list.map(function (a, i) {
      if (!a || typeof a !== 'object') return null;
      return {number: typeof a.attempt === 'number' ? a.attempt : i + 1, entry: a};
    }).filter(Boolean);
  }

  function latestAttempt(doc, attempts) {
    var last = attempts.length ? attempts[attempts.length - 1].number : 0;
    return typeof doc.attempt === 'number' && doc.attempt > last ? doc.attempt : last;
  }

  function kb(bytes) {
    if (typeof bytes !== 'number') return '';
    if (bytes < 1024) return bytes + ' bytes';
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + ' kB';
    return (bytes / 1024 / 1024).toFixed(1) + ' MiB';
  }

  // -- the head: task, attempt, traceback, provenance ------------------------------------

  function showHead(doc, attempts, number, entry) {
    $('#log-head').prop('hidden', false);
    var recordId = typeof doc.record_id === 'string' ? doc.record_id : '';
    $('#log-record').text(recordId).attr('href', dirt.recordHref(recordId));
    $('#log-task').text(String(doc.name)).attr('href', dirt.recordHref(recordId) + '#task-' + encodeURIComponent(taskId));
    var state = window.taskState(doc);
    $('#log-state').empty().append(dirt.pill(state));
    document.title = String(doc.name) + ' log · ' + document.title.split(' · ').pop();

    var meta = $('#log-meta').empty();
    function part(node) { if (meta.children().length) meta.append(dirt.el('span', 'sep', '·')); meta.append(node); }
    part(dirt.el('span', 'mono', taskId));
    if (fileName) {
      part(dirt.el('span', null, 'file ' + fileName));
    } else if (entry) {
      part(dirt.el('span', null, 'attempt ' + number + ' of ' + Math.max(attempts.length, number)));
      if (entry.node) part(dirt.el('span', 'mono', entry.node));
      if (dirt.isTime(entry.started)) {
        var started = dirt.el('span', null, 'started ');
        started.appendChild(dirt.time(entry.started));
        part(started);
      }
      if (dirt.isTime(entry.started) && dirt.isTime(entry.ended)) {
        part(dirt.el('span', null, 'took ' + dirt.formatDuration(entry.ended - entry.started)));
      } else if (dirt.isTime(entry.started) && !entry.outcome) {
        var running = dirt.el('span', null, 'running for ');
        running.appendChild(dirt.elapsed(entry.started));
        part(running);
      }
      if (entry.outcome) part(dirt.el('span', 'outcome', entry.outcome));
    }
    var traceback = !fileName && number === latestAttempt(doc, attempts) && typeof doc.traceback === 'string' &&
      doc.traceback ? doc.traceback : null;
    var reason = entry && typeof entry.reason === 'string' ? entry.reason : null;
    // the reason once: a traceback ends with it, so then the traceback says it
    $('#log-reason').remove();
    if (reason && !traceback) meta.after(reasonLine(reason));

    var nav = $('#log-attempts').empty();
    if (attempts.length > 1 || (fileName && attempts.length)) {
      attempts.forEach(function (a) {
        var link = dirt.link(dirt.page('log.html', {task: taskId, attempt: a.number}),
                             '#' + a.number + ' ' + (a.entry.outcome || (a.number === latestAttempt(doc, attempts) &&
                               state === 'running' ? 'running' : '')), 'attempt');
        if (!fileName && a.number === number) link.classList.add('here');
        if (a.entry.node) link.title = 'on ' + a.entry.node;
        nav.append(link);
      });
    }

    var tb = $('#log-traceback').empty();
    if (traceback) tb.append(dirt.el('h3', null, 'Traceback')).append(dirt.traceback(traceback));

    var prov = $('#log-provenance').empty();
    var p = entry && entry.provenance && typeof entry.provenance === 'object' ? entry.provenance : null;
    if (p && !fileName) {
      var box = dirt.el('details', 'provenance');
      var summary = dirt.el('summary', null, 'What ran: module ' + (typeof p.sha256 === 'string' ? p.sha256.slice(0, 12) : '?') +
                            (p.python ? ', Python ' + p.python : '') + (p.dirt ? ', dirt ' + p.dirt : ''));
      box.appendChild(summary);
      box.appendChild(dirt.provenance.table([entry], null));
      prov.append(box);
    }
  }

  function reasonLine(reason) {
    var line = dirt.el('p', 'reason', reason);
    line.id = 'log-reason';
    return line;
  }

  // -- the log itself ----------------------------------------------------------------------

  function present(model, how) {
    $('#log-card').prop('hidden', false);
    live = how.live;
    origin = how.origin;
    if (timesMode !== 'off' || view.times !== 'off') view.setTimes(timesMode, timeOrigin(model));
    view.setModel(model);
    if (!placed) {
      placed = true;
      var linked = /^#L(\d+)$/.exec(window.location.hash);
      if (linked) view.goTo(model.rowOfLine(Number(linked[1])));
      else if (live) view.follow(true);
    }
    var empty = $('#log-empty');
    if (model.length) empty.prop('hidden', true);
    else empty.prop('hidden', false).text(how.empty || 'This log is empty.');
    $('#log-view').prop('hidden', !model.length);

    var total = model.lines + model.cutLines;   // the attempt's output, shown or cut
    var status = [total.toLocaleString() + (total === 1 ? ' line' : ' lines')];
    if (model.cutLines) status.push(model.cutLines.toLocaleString() + ' cut');
    if (how.bytes) status.push(kb(how.bytes));
    if (live) status.push('streaming while it runs');
    else if (how.note) status.push(how.note);
    $('#log-status').text(status.join(' · '));
    var raw = $('#log-raw');
    if (how.raw) raw.prop('hidden', false).attr('href', dirt.fileUrl(taskId, how.raw)).text('Raw file (' + how.raw + ')');
    else raw.prop('hidden', true).removeAttr('href');
    $('#log-follow').prop('hidden', !live);
    showFollow(view.following);
    updateSearchCount();
    window.setTimeout(updateFirstError, 0);
    document.body.setAttribute('data-log', (how.kind || '') + ':' + model.length);
  }

  function timeOrigin(model) {
    if (dirt.isTime(origin)) return origin;
    for (var i = 0; i < model.length; i++) if (typeof model.time[i] === 'number') return model.time[i];
    return null;
  }

  function showFile(doc, name, info, timesName) {
    var atts = doc._attachments || {};
    var att = atts[name];
    if (!att) {
      var names = Object.keys(atts);
      problem('The task ' + taskId + ' has no file named ' + name + '. ' +
              (names.length ? 'Its files: ' + names.join(', ') + '.' : 'It has no files.'));
      return Promise.resolve();
    }
    var key = 'file:' + name + ':' + (att.digest || att.revpos || '') + ':' + att.length;
    if (shown.key === key) return Promise.resolve();
    var text = dirt.request({url: dirt.fileUrl(taskId, name), dataType: 'text'});
    var times = timesName && atts[timesName] ?
      dirt.get(dirt.fileUrl(taskId, timesName)).catch(function () { return null; }) : Promise.resolve(null);
    return Promise.all([text, times]).then(function (answers) {
      var model = dirt.LogModel.fromText(answers[0], info, answers[1], dirt.isTime(origin) ? origin : null);
      shown = {key: key};
      present(model, {kind: 'file', live: false, raw: name, bytes: att.length, origin: origin,
                      note: info && info.cut_short ? 'cut short: ' + info.cut_short : null});
    });
  }

  function chunkOrder(c) { return [c.tail ? 1 : 0, c.seq]; }

  function after(a, b) {   // chunk a comes after chunk b
    var x = chunkOrder(a), y = chunkOrder(b);
    return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
  }

  /* The attempt's chunk documents: read the ids, fetch only new ones; a
   * deleted tail chunk (the cap at work) means building the rows again. */
  function showChunks(doc, number, entry) {
    var prefix = 'log:' + taskId + ':' + number + ':';
    var running = window.taskState(doc) === 'running' && !entry.outcome;
    return dirt.get(dirt.db + '_all_docs', {startkey: prefix, endkey: prefix + '\ufff0'}).then(function (answer) {
      var revs = {};
      (answer.rows || []).forEach(function (row) {
        if (/^\d+$/.test(row.id.slice(prefix.length)) && row.value) revs[row.id] = row.value.rev;
      });
      var same = shown.key === 'chunks:' + number;
      var known = same ? shown.chunks : {};
      var gone = Object.keys(known).filter(function (id) { return revs[id] !== known[id]._rev; });
      var wanted = Object.keys(revs).filter(function (id) { return !known[id] || known[id]._rev !== revs[id]; });
      return dirt.docs(wanted).then(function (found) {
        var chunks = {}, fresh = [];
        Object.keys(known).forEach(function (id) { if (gone.indexOf(id) < 0) chunks[id] = known[id]; });
        wanted.forEach(function (id) {
          var c = found[id];
          if (!c || c.type !== 'log' || c.task_id !== taskId || Number(c.attempt) !== number) return;
          chunks[id] = c;
          fresh.push(c);
        });
        fresh = dirt.LogModel.sortChunks(fresh);
        var model;
        var appendable = same && !gone.length && (!shown.last || !fresh.length || after(fresh[0], shown.last));
        if (appendable && shown.model) {
          model = shown.model;
          fresh.forEach(function (c) { model.addChunk(c); });
        } else {
          model = dirt.LogModel.fromChunks(Object.keys(chunks).map(function (id) { return chunks[id]; }));
        }
        var all = dirt.LogModel.sortChunks(Object.keys(chunks).map(function (id) { return chunks[id]; }));
        shown = {key: 'chunks:' + number, chunks: chunks, model: model, last: all[all.length - 1] || null};
        var ended = !!entry.outcome;
        present(model, {
          kind: 'chunks', live: running, origin: entry.started,
          empty: running ? 'No output yet: lines appear here as the task prints them.' :
            ended ? 'No output was kept for this attempt (it printed nothing, or it ran under a dirt that did ' +
                    'not keep output).' : 'No output yet.',
          note: ended && model.length ? 'the attempt ended; dirt has not attached its log to the task yet' : null
        });
      });
    });
  }

  function load() {
    if (!taskId) {
      problem('Which task? This page shows a task\'s log: open it as log.html?task=TASK_ID, or follow ' +
              'a log link on a record\'s page.');
      return Promise.resolve();
    }
    return dirt.docs([taskId]).then(function (found) {
      var doc = found[taskId];
      if (!doc) {
        problem('There is no task ' + taskId + ' in this database (it was deleted, or the link is wrong).');
        return;
      }
      $('#log-problem').prop('hidden', true);
      var attempts = attemptsOf(doc);
      var number = fileName ? null : asked || latestAttempt(doc, attempts);
      var found1 = attempts.filter(function (a) { return a.number === number; })[0];
      var entry = found1 ? found1.entry : null;
      if (!entry && number && typeof doc.attempt === 'number' && doc.attempt === number) {
        entry = {attempt: number, node: doc.node, started: doc.started};   // claimed, its entry not written yet
      }
      origin = entry && dirt.isTime(entry.started) ? entry.started : null;
      showHead(doc, attempts, number, entry);
      if (fileName) return showFile(doc, fileName, null, null);
      if (!number) {
        nothing(window.isFinalState(window.taskState(doc)) ?
          'This task\'s document records no attempt (it ran under a dirt that did not keep task output), ' +
          'so it has no log.' : 'This task has not run yet: its log appears here when it starts.');
        return;
      }
      if (!entry) {
        nothing('This task has no attempt ' + number + ' (it has ' + attempts.length + ').');
        return;
      }
      var log = entry.log && typeof entry.log === 'object' ? entry.log : null;
      var files = doc._attachments || {};
      if (log && typeof log.name === 'string' && files[log.name]) {
        return showFile(doc, log.name, log, log.name.replace(/\.txt$/, '') + '.times.json');
      }
      var named = 'log-' + number + '.txt';
      if (entry.outcome && files[named]) return showFile(doc, named, null, 'log-' + number + '.times.json');
      return showChunks(doc, number, entry);
    });
  }

  function nothing(message) {
    $('#log-card').prop('hidden', false);
    $('#log-view').prop('hidden', true);
    $('#log-empty').prop('hidden', false).text(message);
    $('#log-status').text('');
    $('#log-raw').prop('hidden', true);
    shown = {key: null};
  }

  // -- tools: search, first error, times, follow ----------------------------------------------

  var searchTimer = null;

  function updateSearchCount() {
    var q = $('#log-search').val();
    var count = $('#log-search-count');
    if (!q) { count.text(''); return; }
    var n = view.matches.length;
    if (!n) { count.text('no line has this'); return; }
    count.text((view.match >= 0 ? (view.match + 1).toLocaleString() + ' of ' : '') + n.toLocaleString() +
               (n === 1 ? ' line' : ' lines'));
  }

  function runSearch() {
    window.clearTimeout(searchTimer);
    if (!view.model) return;
    var n = view.search($('#log-search').val());
    if (n) view.step(1);
    updateSearchCount();
  }

  $('#log-search').on('input', function () {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(runSearch, 150);
  }).on('keydown', function (event) {
    if (event.key === 'Enter') {
      event.preventDefault();
      if (view.query !== $(this).val()) runSearch(); else view.step(event.shiftKey ? -1 : 1);
      updateSearchCount();
    } else if (event.key === 'Escape') {
      $(this).val('');
      runSearch();
    }
  });
  $('#log-next').on('click', function () { view.step(1); updateSearchCount(); });
  $('#log-prev').on('click', function () { view.step(-1); updateSearchCount(); });

  $(document).on('keydown', function (event) {
    if (event.key === '/' && !/^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName)) {
      event.preventDefault();
      $('#log-search').trigger('focus');
    }
  });

  function updateFirstError() {
    var button = $('#log-first-error');
    var row = view.model ? view.model.nextError(0) : -1;
    button.prop('disabled', row < 0)
      .attr('title', row < 0 ? 'No line of this log looks like an error' :
            'Scroll to line ' + view.model.num[row] + ', the first that looks like an error');
  }

  $('#log-first-error').on('click', function () {
    var row = view.model ? view.model.nextError(0) : -1;
    if (row >= 0) view.goTo(row);
  });

  $('#log-times').val(timesMode).on('change', function () {
    timesMode = $(this).val();
    if (view.model) view.setTimes(timesMode, timeOrigin(view.model));
    var params = dirt.params();
    params.times = timesMode === 'off' ? '' : timesMode;
    dirt.setParams(params, true);
  });

  function showFollow(following) {
    $('#log-follow').toggleClass('on', !!following).attr('aria-pressed', following ? 'true' : 'false')
      .text(following ? 'Following' : 'Follow');
  }

  $('#log-follow').on('click', function () { view.follow(!view.following); });

  window.addEventListener('hashchange', function () {
    var linked = /^#L(\d+)$/.exec(window.location.hash);
    if (linked && view.model) view.goTo(view.model.rowOfLine(Number(linked[1])));
  });

  dirt.start(load, {type: 'task,log', task_id: taskId || ''});
}(window.dirt, window.jQuery));
