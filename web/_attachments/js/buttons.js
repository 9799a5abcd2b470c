/* Buttons that act on tasks: cancel, rerun, and a record's "rerun failed".
 *
 * Shown only to people who may use them (dirt.access, js/session.js); each
 * asks to be confirmed in place (no dialog), writes the same document that
 * `dirt cancel` and `dirt rerun` write (js/taskactions.js), and says what it
 * did. CouchDB checks the write (validate_doc_update): a refusal is shown
 * with its reason. The page then updates live, as for any change.
 */
(function (dirt, $) {
  'use strict';

  var done = $('#done');

  /* Say what an action did (kind "info") or why it failed ("error"); stays until the next one. */
  dirt.done = function (message, kind) {
    done.attr('class', 'notice ' + (kind || 'info')).text(message).prop('hidden', !message);
  };

  function now() { return Date.now() / 1000; }

  /* Read, change and write one task; a conflict (dirt serve wrote meanwhile) reads it again. */
  function change(id, why, next, tries) {
    return dirt.doc(id).then(function (doc) {
      var problem = why(doc);
      if (problem) throw new Error(id + ': ' + problem);
      return dirt.request({url: dirt.docUrl(id), type: 'PUT', contentType: 'application/json',
                           data: JSON.stringify(next(doc, dirt.actor(), now()))}).then(function () { return doc; });
    }).catch(function (error) {
      if (error.status === 409 && (tries || 0) < 3) return change(id, why, next, (tries || 0) + 1);
      throw error;
    });
  }

  function said(error) {
    if (error instanceof dirt.HttpError && error.reason) return 'Not done: ' + error.reason;
    return 'Not done: ' + (error && error.message ? error.message : String(error));
  }

  dirt.cancelTask = function (id) {
    return change(id, dirtWhyNotCancel, dirtCancelled).then(function (doc) {
      var was = taskState(doc);
      dirt.done('Cancelled ' + id + (was === 'running' ? ' (it was running on ' + (doc.node || 'a node') +
                                     ': dirt serve stops it).' : ' (it was waiting: it will not start).'));
    }, function (error) { dirt.done(said(error), 'error'); });
  };

  dirt.rerunTasks = function (ids) {
    // A page that knows the record's pipeline adds what goes with them (record.js: dirt.withDependencies).
    if (dirt.withDependencies) ids = dirt.withDependencies(ids);
    var results = ids.map(function (id) {
      return change(id, dirtWhyNotRerun, dirtRerun).then(function () { return null; }, function (e) { return e; });
    });
    return Promise.all(results).then(function (errors) {
      var failed = errors.filter(Boolean);
      if (failed.length) { dirt.done(failed.map(said).join(' '), 'error'); return; }
      dirt.done((ids.length === 1 ? 'Rerunning ' + ids[0] : 'Rerunning ' + ids.length + ' tasks: ' + ids.join(', ')) +
                ' (the earlier runs are kept).');
    });
  };

  /* A button that asks "sure?" in place, then runs ``act``. */
  dirt.actionButton = function (label, question, className, act) {
    var wrap = dirt.el('span', 'act ' + className);
    function plain() {
      $(wrap).empty().removeClass('confirming');
      var button = dirt.el('button', 'act-button', label);
      button.type = 'button';
      $(button).on('click', ask);
      wrap.appendChild(button);
    }
    function ask() {
      $(wrap).empty().addClass('confirming');
      wrap.appendChild(dirt.el('span', 'question', question + ' '));
      var yes = dirt.el('button', 'act-yes', 'Yes');
      var no = dirt.el('button', 'act-no', 'No');
      yes.type = no.type = 'button';
      $(no).on('click', plain);
      $(yes).on('click', function () {
        yes.disabled = no.disabled = true;
        act();
      });
      wrap.appendChild(yes);
      wrap.appendChild(no);
    }
    plain();
    return wrap;
  };

  /* The buttons for one task in ``state``, for someone with ``access``: cancel or rerun. */
  dirt.taskButtons = function (id, state, access) {
    var box = dirt.el('span', 'task-actions');
    if (!access || !access.operator) return box;
    if (state === 'waiting' || state === 'running') {
      box.appendChild(dirt.actionButton('Cancel', 'Cancel this task?', 'act-cancel',
                                        function () { dirt.cancelTask(id); }));
    } else if (isFinalState(state)) {
      box.appendChild(dirt.actionButton('Rerun', 'Run it again?', 'act-rerun',
                                        function () { dirt.rerunTasks([id]); }));
    }
    return box;
  };
}(window.dirt, window.jQuery));
