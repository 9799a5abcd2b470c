// The task-state rule, in one place. egret inlines this file wherever a
// function says `// !code lib/state.js` (the views, validate_doc_update), and
// dirt serve builds its own views from it. dirt's Python reads tasks by the
// same rule (dirt/documents.py, task_state); a test checks that they agree.
//
// A task's `state` says where it is. Documents written by the 2012 dirt have
// none: one with a `completed` time is finished (passed if its results say
// success: true, else failed); any other is waiting.
var TASK_STATES = ['waiting', 'running', 'passed', 'failed', 'error', 'cancelled', 'skipped'];
var FINAL_STATES = ['passed', 'failed', 'error', 'cancelled', 'skipped'];

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

// A record's verdict, from how many of its tasks are in each state: the
// first entry whose states any task is in. A new task state joins one list.
// "failed" wins while other tasks still run: the record cannot pass any more.
// A skipped task (one it runs after did not pass) did not run: like a
// cancelled one, it says nothing of its own about the record, so it comes last.
var VERDICTS = [
  ['failed', ['failed', 'error']],
  ['running', ['running']],
  ['waiting', ['waiting']],
  ['passed', ['passed']],
  ['cancelled', ['cancelled']],
  ['skipped', ['skipped']]
];

function recordVerdict(counts) {
  for (var i = 0; i < VERDICTS.length; i++) {
    var states = VERDICTS[i][1];
    for (var j = 0; j < states.length; j++) if (counts && counts[states[j]] > 0) return VERDICTS[i][0];
  }
  return 'none';
}
