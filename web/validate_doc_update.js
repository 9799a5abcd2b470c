function (newDoc, oldDoc, userCtx, secObj) {
  // Refuses malformed records and tasks, with a message saying what to fix.
  // A field that an update leaves as it was is not checked again, so dirt can
  // still record an error state on a task written before this rule existed.
  // !code lib/state.js
  if (newDoc._deleted || (newDoc._id || '').indexOf('_design/') === 0) return;
  var type = newDoc.type;
  if (type !== 'record' && type !== 'task') return;
  var what = type + ' ' + newDoc._id;

  function isNumber(v) { return typeof v === 'number' && isFinite(v); }
  function changed(field) {
    return !oldDoc || JSON.stringify(oldDoc[field]) !== JSON.stringify(newDoc[field]);
  }
  function refuse(message) { throw({forbidden: what + ': ' + message}); }
  function check(field, ok, message) {
    if (newDoc[field] !== undefined && changed(field) && !ok(newDoc[field])) refuse(field + ' ' + message);
  }
  function need(field, message) {
    if (newDoc[field] === undefined && changed(field)) refuse(field + ' is missing: ' + message);
  }

  check('created', isNumber, 'must be a number: seconds since 1970 (as from time.time())');

  if (type === 'record') {
    check('description', function (v) { return typeof v === 'string'; }, 'must be a string');
    ['branch', 'author', 'sha', 'commit'].forEach(function (field) {
      check(field, function (v) { return typeof v === 'string'; }, 'must be a string');
    });
    return;
  }

  need('record_id', 'a task belongs to one record; give its _id');
  check('record_id', function (v) { return typeof v === 'string' && v.length > 0; },
        'must be the _id (a non-empty string) of the task\'s record');
  need('name', 'name the task module to run, e.g. "examples.simple"');
  check('name', function (v) { return typeof v === 'string' && v.length > 0; },
        'must be a task module name (a non-empty string), e.g. "examples.simple"');
  check('platform', function (v) { return typeof v === 'string'; }, 'must be a string, e.g. "linux"');
  check('kwargs', function (v) { return v !== null && typeof v === 'object' && !Array.isArray(v); },
        'must be an object mapping argument names to values');
  check('requires', function (v) {
    if (!Array.isArray(v)) return false;
    for (var i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
    return true;
  }, 'must be a list of strings, e.g. ["architecture is x86_64", "G4INSTALL in environ"]');
  check('timeout', function (v) { return isNumber(v) && v > 0; }, 'must be a positive number of seconds');
  check('max_attempts', function (v) { return isNumber(v) && v >= 1 && v % 1 === 0; },
        'must be a whole number, at least 1');
  check('priority', isNumber, 'must be a number (higher runs first)');
  check('state', function (v) { return TASK_STATES.indexOf(v) >= 0; },
        'must be one of ' + TASK_STATES.join(', '));
}
