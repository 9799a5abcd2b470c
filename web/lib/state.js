// The task-state rule, in one place. egret inlines this file wherever a
// function says `// !code lib/state.js` (the views, validate_doc_update), and
// dirt serve builds its own views from it. dirt's Python reads tasks by the
// same rule (dirt/documents.py, task_state); a test checks that they agree.
//
// A task's `state` says where it is. Documents written by the 2012 dirt have
// none: one with a `completed` time is finished (passed if its results say
// success: true, else failed); any other is waiting.
var TASK_STATES = ['waiting', 'running', 'passed', 'failed', 'error', 'cancelled'];
var FINAL_STATES = ['passed', 'failed', 'error', 'cancelled'];

function taskState(doc) {
  var state = doc.state;
  if (typeof state === 'string' && TASK_STATES.indexOf(state) >= 0) return state;
  if (typeof doc.completed === 'number' && doc.completed > 0) {
    var results = doc.results;
    var ok = results !== null && typeof results === 'object' && results.success === true;
    return ok ? 'passed' : 'failed';
  }
  return 'waiting';
}

function isFinalState(state) {
  return FINAL_STATES.indexOf(state) >= 0;
}
