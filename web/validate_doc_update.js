function (newDoc, oldDoc, userCtx, secObj) {
  // Refuses writes by people whose roles do not allow them (lib/access.js,
  // lib/roles.js), then malformed records and tasks, with a message saying what to fix.
  // The rules for a task's own fields are the ones dirt serve reads documents
  // by (dirt/taskdoc.py); a test runs both over random documents. A null
  // optional field means the same as an absent one. A field that an update
  // leaves as it was is not checked again, so dirt can still record an error
  // state on a task written before this rule existed.
  // !code lib/state.js
  // !code lib/roles.js
  // !code lib/access.js
  dirtCheckAccess(newDoc, oldDoc, userCtx, secObj);   // who may write this (lib/access.js)
  if (newDoc._deleted || (newDoc._id || '').indexOf('_design/') === 0) return;
  var type = newDoc.type;
  if (type !== 'record' && type !== 'task' && type !== 'bisect') return;
  var what = type + ' ' + newDoc._id;

  function isNumber(v) { return typeof v === 'number' && isFinite(v); }
  function isString(v) { return typeof v === 'string'; }
  function changed(field) {
    return !oldDoc || JSON.stringify(oldDoc[field]) !== JSON.stringify(newDoc[field]);
  }
  function refuse(message) { throw({forbidden: what + ': ' + message}); }
  function check(field, ok, message) {
    var value = newDoc[field];
    if (value !== undefined && value !== null && changed(field) && !ok(value)) refuse(field + ' ' + message);
  }
  function need(field, message) {
    if ((newDoc[field] === undefined || newDoc[field] === null) && changed(field)) {
      refuse(field + ' is missing: ' + message);
    }
  }
  // One rule of `requires`: "KEY is VALUE", "KEY not VALUE", "VALUE in KEY", "VALUE not_in KEY".
  function isRequirement(text) {
    var words = text.split(/[ \t\n\r\f\v]+/).filter(function (w) { return w.length > 0; });
    if (words.length < 3) return false;
    return words[1] === 'is' || words[1] === 'not' ||
           words[words.length - 2] === 'in' || words[words.length - 2] === 'not_in';
  }

  check('created', isNumber, 'must be a number: seconds since 1970 (as from time.time())');

  if (type === 'bisect') {
    // `dirt bisect` and the branches page ask; dirt serve fills in the rest (dirt/bisect.py).
    ['task', 'good', 'bad'].forEach(function (field) {
      need(field, 'a bisect names a task, the record it passed on (good) and a later one it fails on (bad)');
      check(field, function (v) { return isString(v) && v.length > 0; }, 'must be a non-empty string');
    });
    return;
  }

  if (type === 'record') {
    check('description', isString, 'must be a string');
    ['branch', 'author', 'sha', 'commit'].forEach(function (field) {
      check(field, isString, 'must be a string');
    });
    return;
  }

  need('record_id', 'a task belongs to one record; give its _id');
  check('record_id', function (v) { return isString(v) && v.length > 0; },
        'must be the _id (a non-empty string) of the task\'s record');
  need('name', 'name the task module to run, e.g. "examples.simple"');
  check('name', function (v) { return isString(v) && v.length > 0; },
        'must be a task module name (a non-empty string), e.g. "examples.simple"');
  check('platform', isString, 'must be a string, e.g. "linux"');
  check('kwargs', function (v) { return typeof v === 'object' && !Array.isArray(v); },
        'must be an object mapping argument names to values');
  if (isString(newDoc.requires) && changed('requires')) {
    refuse('requires must be a list of strings, not one string: write [' + JSON.stringify(newDoc.requires) + ']');
  }
  check('requires', function (v) {
    if (!Array.isArray(v)) return false;
    for (var i = 0; i < v.length; i++) if (!isString(v[i])) return false;
    return true;
  }, 'must be a list of strings, e.g. ["architecture is x86_64", "G4INSTALL in environ"]');
  if (Array.isArray(newDoc.requires) && changed('requires')) {
    for (var i = 0; i < newDoc.requires.length; i++) {
      if (!isRequirement(newDoc.requires[i])) {
        refuse('requirement ' + JSON.stringify(newDoc.requires[i]) + ' is not understood: use ' +
               '\'KEY is VALUE\', \'KEY not VALUE\', \'VALUE in KEY\' or \'VALUE not_in KEY\'');
      }
    }
  }
  check('timeout', function (v) { return isNumber(v) && v > 0; }, 'must be a positive number of seconds');
  check('max_attempts', function (v) { return isNumber(v) && v >= 1 && v % 1 === 0; },
        'must be a whole number, at least 1');
  check('priority', isNumber, 'must be a number (higher runs first)');
  check('after', function (v) {
    if (!Array.isArray(v)) return false;
    for (var i = 0; i < v.length; i++) if (!isString(v[i]) || v[i].length === 0) return false;
    return true;
  }, 'must be a list of task names or ids of the same record, e.g. ["build"]');
  check('wait_timeout', function (v) { return isNumber(v) && v >= 0; },
        'must be a number of seconds (0: wait for ever)');
  check('state', function (v) { return TASK_STATES.indexOf(v) >= 0; },
        'must be one of ' + TASK_STATES.join(', '));
}
