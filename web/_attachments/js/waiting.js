/* Waiting: tasks not yet running, grouped by the reason dirt gave. */
(function (dirt, $) {
  'use strict';

  var SHOW = 50;                     // tasks listed per reason at first, and more per click
  var groups = document.getElementById('groups');
  var shown = {};                    // reason -> how many tasks to list

  function reasonText(reason) {
    return reason || 'Queued: waiting for a free slot on a matching node, or for dirt serve to pick it up';
  }

  function buildGroup(reason, count, rows) {
    var box = dirt.el('section', 'group');
    box.setAttribute('data-reason', reason);
    var head = dirt.el('div', 'group-head');
    head.appendChild(dirt.el('span', 'count-badge', count.toLocaleString()));
    head.appendChild(dirt.el('span', 'reason' + (reason ? '' : ' muted'), reasonText(reason)));
    box.appendChild(head);
    var table = dirt.el('table', 'grid');
    var thead = dirt.el('thead'), hr = dirt.el('tr');
    ['Task', 'Record', 'Created', 'Attempts'].forEach(function (h, i) {
      hr.appendChild(dirt.el('th', i === 2 ? 'col-time' : (i === 3 ? 'col-num' : null), h));
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    var tbody = dirt.el('tbody');
    rows.forEach(function (row) {
      var v = row.value, tr = dirt.el('tr');
      tr.setAttribute('data-id', row.id);
      var task = dirt.el('td');
      if (typeof v.name === 'string') task.appendChild(dirt.link(dirt.taskHref(v.name), v.name, 'mono'));
      task.appendChild(dirt.el('div', 'sub mono', row.id));
      tr.appendChild(task);
      var record = dirt.el('td', 'mono');
      if (typeof v.record_id === 'string') record.appendChild(dirt.link(dirt.recordHref(v.record_id), v.record_id));
      tr.appendChild(record);
      var created = dirt.el('td', 'col-time');
      created.appendChild(dirt.time(v.created));
      tr.appendChild(created);
      tr.appendChild(dirt.el('td', 'col-num', v.attempts || ''));
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    box.appendChild(table);
    if (count > rows.length) {
      var note = dirt.el('p', 'muted more-note', 'and ' + (count - rows.length).toLocaleString() +
                         ' more with this reason (oldest shown first) ');
      var button = dirt.el('button', 'show-more', 'Show ' + Math.min(SHOW, count - rows.length) + ' more');
      button.type = 'button';
      button.setAttribute('data-reason', reason);
      note.appendChild(button);
      box.appendChild(note);
    }
    return box;
  }

  function load() {
    return dirt.view('queue', {group_level: 2, startkey: ['waiting'], endkey: ['waiting', {}]}).then(function (answer) {
      var reasons = answer.rows.map(function (row) { return {reason: row.key[1], count: row.value}; });
      // the reasons with a message first, the most common first
      reasons.sort(function (a, b) { return (!a.reason - !b.reason) || (b.count - a.count); });
      return Promise.all(reasons.map(function (r) {
        return dirt.view('queue', {reduce: false, startkey: ['waiting', r.reason], endkey: ['waiting', r.reason, {}],
                                   limit: shown[r.reason] || SHOW});
      })).then(function (lists) {
        var fragment = document.createDocumentFragment(), total = 0;
        reasons.forEach(function (r, i) {
          total += r.count;
          fragment.appendChild(buildGroup(r.reason, r.count, lists[i].rows));
        });
        $(groups).empty().append(fragment);
        $('#empty').prop('hidden', reasons.length > 0);
        $('#waiting-summary').text(total ? total.toLocaleString() + ' waiting, ' + reasons.length +
                                   (reasons.length === 1 ? ' reason' : ' reasons') : '');
      });
    });
  }

  $(groups).on('click', 'button.show-more', function () {
    var reason = this.getAttribute('data-reason');
    shown[reason] = (shown[reason] || SHOW) + SHOW;
    this.disabled = true;
    refresh();
  });

  var refresh = dirt.start(load, {type: 'task'});
}(window.dirt, window.jQuery));
