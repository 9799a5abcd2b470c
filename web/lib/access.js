// Who may make a write, by what it changes: validate_doc_update calls
// dirtCheckAccess first (after `// !code lib/roles.js` and this file), before
// it checks the document's shape. A refusal names the role that is missing.
//
//   records                  submitters add and change them
//   a new task               submitters, without any field dirt serve writes
//   a task that waits        submitters may change the fields people write
//   cancelling               operators: waiting or running -> cancelled, with
//                            cancelled_by (their own name), cancelled_at,
//                            completed and reason, nothing else
//   rerunning                operators: a finished task -> waiting, the run
//                            that ended kept whole as the last entry of
//                            `runs`, with rerun_by (their own name), rerun_at
//   anything else on a task  (state, results, leases, attempts, files): the server
//   nodes, server heartbeats, notifications, badges, log chunks: the server
//   deleting records and tasks: the server (or an admin)
//   other documents          submitters (a project's own documents)
//   design documents         the database's admins (CouchDB checks this itself too)
// Admins, and the server account except for design documents, may write anything.

// Fields of a task that dirt writes (people write the others).
var TASK_OWN_FIELDS = ['state', 'lease', 'attempts', 'attempt', 'node', 'started', 'completed', 'results',
                       'reason', 'traceback', 'attach_links', '_attachments', 'runs', 'run', 'rerun_by',
                       'rerun_at', 'cancelled_by', 'cancelled_at'];
var CANCEL_FIELDS = ['state', 'cancelled_by', 'cancelled_at', 'completed', 'reason'];
var RERUN_FIELDS = ['state', 'run', 'runs', 'rerun_by', 'rerun_at', 'node', 'started', 'completed', 'reason',
                    'results', 'traceback', 'attach_links', 'attempt', 'lease', 'cancelled_by', 'cancelled_at'];
var SERVER_TYPES = ['node', 'server', 'notification', 'badge', 'log'];

/* The top-level fields whose values differ between two revisions (attachments by name and digest). */
function dirtChangedFields(newDoc, oldDoc) {
  var out = [], seen = {};
  function files(doc) {
    var list = [], atts = doc._attachments || {};
    for (var name in atts) list.push([name, atts[name].digest || null, atts[name].length || null]);
    return JSON.stringify(list.sort());
  }
  function look(key) {
    if (seen[key]) return;
    seen[key] = true;
    if (key === '_attachments') {
      if (files(newDoc) !== files(oldDoc)) out.push(key);
    } else if (key.charAt(0) !== '_' && JSON.stringify(newDoc[key]) !== JSON.stringify(oldDoc[key])) {
      out.push(key);
    }
  }
  for (var a in newDoc) look(a);
  for (var b in oldDoc) look(b);
  return out;
}

function dirtCheckAccess(newDoc, oldDoc, userCtx, secObj) {
  var who = dirtAccess(userCtx, secObj);
  if (who.admin) return;
  var id = String(newDoc._id || '');
  var old = oldDoc && !oldDoc._deleted ? oldDoc : null;
  var type = newDoc._deleted ? (old ? old.type : undefined) : newDoc.type;
  var what = (type === 'record' || type === 'task' ? type : 'document') + ' ' + id;

  function forbid(message) { throw({forbidden: what + ': ' + message}); }
  function holder() {
    if (who.name === null) return 'you are not signed in';
    return who.name + ' has ' + (who.roles.length ? 'the roles ' + who.roles.join(', ') : 'no roles');
  }
  function need(doing, duty) {
    forbid(doing + ' needs the role "' + who.roleNames[duty] + '" (' + holder() + ')');
  }
  function within(fields, allowed) {
    for (var i = 0; i < fields.length; i++) if (allowed.indexOf(fields[i]) < 0) return false;
    return true;
  }
  function own(fields) {   // in the order of TASK_OWN_FIELDS, whatever the document's order
    return TASK_OWN_FIELDS.filter(function (f) { return fields.indexOf(f) >= 0; });
  }

  if (id.indexOf('_design/') === 0) forbid('design documents are written by the database\'s admins');
  if (who.server) return;
  if (newDoc._deleted) need('deleting a ' + (type || 'document'), 'server');
  if (old && old.type !== newDoc.type) need('changing a document\'s type', 'server');
  if (type === 'record') {
    if (!who.submitter) need(old ? 'changing a record' : 'adding a record', 'submitter');
    return;
  }
  if (type !== 'task') {
    var kind = SERVER_TYPES.indexOf(type) >= 0 ? type : null;
    ['node:', 'server:', 'notification:', 'badge:'].forEach(function (prefix) {
      if (id.indexOf(prefix) === 0) kind = prefix.slice(0, -1);
    });
    if (kind) need('writing ' + kind + ' documents', 'server');
    if (!who.submitter) need('writing documents', 'submitter');
    return;
  }

  if (!old) {
    if (!who.submitter) need('adding a task', 'submitter');
    var set = TASK_OWN_FIELDS.filter(function (f) {
      return newDoc[f] !== undefined && newDoc[f] !== null && !(f === 'state' && newDoc.state === 'waiting');
    });
    if (set.length) need('a new task with ' + set.join(', ') + ' (fields dirt serve writes)', 'server');
    return;
  }
  var changed = dirtChangedFields(newDoc, old);
  var before = taskState(old), after = taskState(newDoc);
  if (after === 'cancelled' && (before === 'waiting' || before === 'running') && within(changed, CANCEL_FIELDS)) {
    if (!who.operator) need('cancelling a task', 'operator');
    if (newDoc.cancelled_by !== who.name) {
      forbid('cancelled_by must be your own user name, ' + JSON.stringify(who.name));
    }
    return;
  }
  if (isFinalState(before) && newDoc.state === 'waiting' && within(changed, RERUN_FIELDS)) {
    if (!who.operator) need('rerunning a task', 'operator');
    if (newDoc.rerun_by !== who.name) forbid('rerun_by must be your own user name, ' + JSON.stringify(who.name));
    var earlier = Array.isArray(old.runs) ? old.runs : [];
    var runs = newDoc.runs, run = typeof old.run === 'number' ? old.run : 1;
    var last = Array.isArray(runs) ? runs[runs.length - 1] : null;
    var kept = Array.isArray(runs) && runs.length === earlier.length + 1 &&
      JSON.stringify(runs.slice(0, earlier.length)) === JSON.stringify(earlier) &&
      last !== null && typeof last === 'object' && last.run === run && last.state === before &&
      JSON.stringify(last.results) === JSON.stringify(old.results) && newDoc.run === run + 1;
    if (!kept) {
      forbid('a rerun keeps every earlier run: runs must be the earlier runs plus the one that ended ' +
             '(run ' + run + ', ' + before + ', with its results), and run must be ' + (run + 1));
    }
    return;
  }
  var owned = own(changed);
  if (!owned.length && before === 'waiting' && after === 'waiting') {
    if (!who.submitter) need('changing a task', 'submitter');
    return;
  }
  if (!owned.length && !who.submitter && !who.operator) need('changing a task', 'submitter');
  if (!owned.length) forbid('only a waiting task can be changed (this one is ' + before + ')');
  need('writing ' + owned.join(', ') + ' (what dirt serve writes: a task\'s outcome)', 'server');
}
