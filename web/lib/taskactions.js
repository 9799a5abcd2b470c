// Cancelling and rerunning a task, as the web app's buttons do it: the same
// documents dirt's own commands write (dirt/transitions.py: cancelled, rerun;
// a test runs both over the same tasks and compares), which lib/access.js
// lets operators write. Pure functions of a task document; the pages load
// this file as js/taskactions.js. Needs lib/state.js.

var RUN_FIELDS = ['node', 'started', 'completed', 'reason', 'results', 'traceback', 'attach_links', 'attempt',
                  'lease', 'cancelled_by', 'cancelled_at', 'rerun_by', 'rerun_at'];

function dirtCopy(value) { return JSON.parse(JSON.stringify(value)); }

/* Why the task cannot be cancelled now, or null. */
function dirtWhyNotCancel(doc) {
  var state = taskState(doc);
  return isFinalState(state) ? 'it already ended ' + state : null;
}

/* Why the task cannot be rerun now, or null. */
function dirtWhyNotRerun(doc) {
  var state = taskState(doc);
  if (isFinalState(state)) return null;
  if (typeof doc.rerun_by === 'string') return 'it is already being rerun (asked by ' + doc.rerun_by + ')';
  return state === 'running' ? 'it is running: cancel it first, or let it finish' : 'it is waiting to run';
}

/* The task, cancelled by ``by`` at ``now`` (seconds). */
function dirtCancelled(doc, by, now) {
  var next = dirtCopy(doc);
  next.state = 'cancelled';
  next.cancelled_by = by;
  next.cancelled_at = now;
  next.completed = now;
  next.reason = 'cancelled by ' + by;
  return next;
}

/* The task, to run again at ``by``'s request: the run that ended moves to ``runs``. */
function dirtRerun(doc, by, now) {
  var next = dirtCopy(doc);
  var run = typeof doc.run === 'number' ? doc.run : 1;
  var earlier = {run: run, state: taskState(doc)};
  RUN_FIELDS.forEach(function (key) {
    if (key === 'lease' || key === 'attempt' || key === 'attach_links') return;
    if (key in doc) earlier[key] = dirtCopy(doc[key]);
  });
  var before = (Array.isArray(doc.runs) ? doc.runs : []).filter(function (r) { return r && typeof r === 'object'; });
  var made = {};
  before.forEach(function (r) { (r.files || []).forEach(function (name) { made[name] = true; }); });
  var files = Object.keys(doc._attachments || {}).filter(function (name) { return !made[name]; }).sort();
  if (files.length) earlier.files = files;
  next.runs = dirtCopy(before).concat([earlier]);
  RUN_FIELDS.forEach(function (key) { delete next[key]; });
  next.state = 'waiting';
  next.run = run + 1;
  next.rerun_by = by;
  next.rerun_at = now;
  return next;
}
