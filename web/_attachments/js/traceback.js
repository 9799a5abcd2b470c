/* A Python traceback, readable: each frame's file and line picked out (the
 * task's own files, under tasks/, more than the library's), the source line
 * under it, the exception at the end in bold, and above it all where the
 * task's own code raised.
 *
 *   dirt.traceback(text) -> an element (text only, never markup)
 */
(function (dirt) {
  'use strict';

  var FRAME = /^(\s*)File "(.*)", line (\d+)(?:, in (.*))?$/;
  var CARETS = /^\s*[\^~]+\s*$/;
  var CHAIN = /^(During handling of the above exception|The above exception was the direct cause)/;

  // dirt ships a task module under its name in the project: tasks/examples/simple.py
  function isOwn(file) { return file.indexOf('tasks/') === 0; }

  /* The frames of a traceback, innermost last: [{file, line, func, own}]. */
  function frames(text) {
    var out = [];
    String(text).split('\n').forEach(function (line) {
      var m = FRAME.exec(line);
      if (m) out.push({file: m[2], line: Number(m[3]), func: m[4] || '', own: isOwn(m[2])});
    });
    return out;
  }

  function frameLine(m) {
    var row = dirt.el('div', 'tb-frame' + (isOwn(m[2]) ? ' tb-own' : ''));
    row.appendChild(document.createTextNode(m[1] + 'File "'));
    row.appendChild(dirt.el('span', 'tb-file', m[2]));
    row.appendChild(document.createTextNode('", line '));
    row.appendChild(dirt.el('span', 'tb-line', m[3]));
    if (m[4] !== undefined) {
      row.appendChild(document.createTextNode(', in '));
      row.appendChild(dirt.el('span', 'tb-func', m[4]));
    }
    return row;
  }

  function render(text) {
    var box = dirt.el('div', 'traceback');
    var all = frames(text), own = all.filter(function (f) { return f.own; });
    var where = own.length ? own[own.length - 1] : all[all.length - 1];
    if (where) {
      var at = dirt.el('p', 'tb-where', 'raised in ');
      at.appendChild(dirt.el('span', 'tb-file', where.file));
      at.appendChild(document.createTextNode(', line '));
      at.appendChild(dirt.el('span', 'tb-line', where.line));
      if (where.func) {
        at.appendChild(document.createTextNode(', in '));
        at.appendChild(dirt.el('span', 'tb-func', where.func));
      }
      box.appendChild(at);
    }
    var pre = dirt.el('pre', 'tb-text');
    var afterFrame = false;
    String(text).replace(/\s+$/, '').split('\n').forEach(function (line) {
      var m = FRAME.exec(line), row;
      if (m) {
        row = frameLine(m);
        afterFrame = true;
      } else if (CARETS.test(line)) {
        row = dirt.el('div', 'tb-caret', line);
      } else if (/^Traceback \(most recent call last\):/.test(line) || CHAIN.test(line)) {
        row = dirt.el('div', 'tb-head', line);
        afterFrame = false;
      } else if (afterFrame && /^\s/.test(line)) {
        row = dirt.el('div', 'tb-src', line);
      } else if (line && !/^\s/.test(line)) {
        row = dirt.el('div', 'tb-exc', line);
        afterFrame = false;
      } else {
        row = dirt.el('div', null, line);
      }
      pre.appendChild(row);
    });
    box.appendChild(pre);
    return box;
  }

  dirt.traceback = render;
  dirt.traceback.frames = frames;
}(window.dirt));
