/* The log viewer: a scrolling box that shows a LogModel's rows, drawing only
 * the rows in sight (a 5 MiB log has ~100,000 lines; a browser lays out a
 * hundred of them in no time, all of them in seconds).
 *
 * Every row is built from text nodes and spans whose classes and colours
 * come from the ANSI parser's numbers, never from the task's text as markup.
 *
 *   var view = new dirt.LogView(box, {onFollow: function (following) {...}});
 *   view.setModel(model)           // show these rows (keeps the place, or the bottom when following)
 *   view.search('text')            // -> number of matching rows; view.step(+1 / -1) moves between them
 *   view.goTo(row)                 // scroll a row into the middle and mark it
 *   view.setTimes('off' | 'elapsed' | 'clock', origin)
 *   view.follow(true)              // keep the newest line in sight as lines arrive
 */
(function (window, dirt) {
  'use strict';

  var ansi = window.dirtAnsi;
  var LogModel = window.dirtLogModel;
  var OVERSCAN = 40;              // rows drawn beyond the visible ones, each way
  var MAX_HEIGHT = 8000000;       // px: beyond this browsers stop scrolling exactly; the rows are then mapped
  var MAX_CHARS = 20000;          // characters of one row drawn; the raw file has the rest

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function pad(n, width) { var s = String(n); while (s.length < width) s = '0' + s; return s; }

  function clock(t) {
    var d = new Date(t * 1000);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' +
      pad(d.getMilliseconds(), 3);
  }

  function elapsed(seconds) {
    if (seconds < 0) seconds = 0;
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    return '+' + (h ? h + ':' + pad(m, 2) : String(m)) + ':' + pad(s.toFixed(1), 4);
  }

  function LogView(box, options) {
    this.box = box;
    this.options = options || {};
    this.sizer = el('div', 'log-sizer');
    this.rows = el('div', 'log-rows');
    this.sizer.appendChild(this.rows);
    box.appendChild(this.sizer);
    this.model = null;
    this.rowHeight = 0;
    this.times = 'off';
    this.origin = null;
    this.query = '';
    this.matches = [];
    this.match = -1;           // index into matches of the current one
    this.target = -1;          // the row marked by goTo (a link to a line, a match, the first error)
    this.following = false;
    this.built = {};           // row index -> its element, for the rows drawn now
    this.drawn = [0, 0];
    this.scheduled = false;
    this.programmatic = false;
    var self = this;
    box.addEventListener('scroll', function () {
      if (self.programmatic) { self.programmatic = false; } else if (self.model) {
        self.setFollowing(self.atBottom());
      }
      self.schedule();
    });
    window.addEventListener('resize', function () { self.schedule(); });
  }

  LogView.prototype.schedule = function () {
    if (this.scheduled) return;
    this.scheduled = true;
    var self = this;
    window.requestAnimationFrame(function () { self.scheduled = false; self.draw(); });
  };

  LogView.prototype.setFollowing = function (on) {
    if (on === this.following) return;
    this.following = on;
    if (this.options.onFollow) this.options.onFollow(on);
  };

  LogView.prototype.follow = function (on) {
    this.setFollowing(on);
    if (on) this.scrollToBottom();
  };

  LogView.prototype.measure = function () {
    if (this.rowHeight) return this.rowHeight;
    var probe = el('div', 'log-row', 'x');
    this.rows.appendChild(probe);
    var h = probe.getBoundingClientRect().height;
    this.rows.removeChild(probe);
    if (h > 0) this.rowHeight = h;
    return h || 18;
  };

  /* Show ``model``. The view stays where it was (the same line at the top),
   * or at the bottom when following. */
  LogView.prototype.setModel = function (model) {
    var old = this.model, top = old && old.length ? this.firstVisible() : -1;
    var anchor = top >= 0 ? old.num[top] : 0;
    var targetLine = this.target >= 0 && old ? old.num[this.target] : 0;
    this.model = model;
    this.built = {};
    this.rows.textContent = '';
    this.drawn = [0, 0];
    var digits = String(Math.max(model.nextLine - 1, 1)).length;
    this.box.style.setProperty('--ln-width', (digits + 1) + 'ch');
    this.target = targetLine ? model.rowOfLine(targetLine) : -1;
    if (this.query) this.search(this.query, true);
    this.sizeUp();
    if (this.following) this.scrollToBottom();
    else if (anchor) this.scrollToRow(model.rowOfLine(anchor), 'top');
    this.draw();
  };

  LogView.prototype.totalHeight = function () {
    return (this.model ? this.model.length : 0) * this.measure();
  };

  LogView.prototype.sizeUp = function () {
    this.sizer.style.height = Math.min(this.totalHeight(), MAX_HEIGHT) + 'px';
  };

  LogView.prototype.scaled = function () { return this.totalHeight() > MAX_HEIGHT; };

  LogView.prototype.visibleRows = function () {
    return Math.max(1, Math.ceil(this.box.clientHeight / this.measure()));
  };

  LogView.prototype.firstVisible = function () {
    var n = this.model ? this.model.length : 0;
    if (!n) return 0;
    if (!this.scaled()) return Math.min(n - 1, Math.floor(this.box.scrollTop / this.measure()));
    var room = Math.max(1, MAX_HEIGHT - this.box.clientHeight);
    return Math.min(n - 1, Math.floor(this.box.scrollTop / room * Math.max(0, n - this.visibleRows())));
  };

  LogView.prototype.atBottom = function () {
    return this.box.scrollTop + this.box.clientHeight >= this.box.scrollHeight - 4;
  };

  LogView.prototype.setScroll = function (top) {
    top = Math.max(0, Math.round(top));
    if (Math.abs(this.box.scrollTop - top) < 1) return;
    this.programmatic = true;
    this.box.scrollTop = top;
  };

  LogView.prototype.scrollToBottom = function () {
    this.setScroll(this.box.scrollHeight);
    this.schedule();
  };

  /* Scroll so that ``row`` is at the top, or in the middle (where: 'top' | 'middle'). */
  LogView.prototype.scrollToRow = function (row, where) {
    var n = this.model.length, h = this.measure(), view = this.box.clientHeight;
    if (!this.scaled()) {
      this.setScroll(row * h - (where === 'top' ? 0 : Math.max(0, view / 2 - h)));
    } else {
      var lead = where === 'top' ? 0 : Math.floor(this.visibleRows() / 2);
      var first = Math.max(0, row - lead);
      this.setScroll(first / Math.max(1, n - this.visibleRows()) * Math.max(1, MAX_HEIGHT - view));
    }
    this.schedule();
  };

  LogView.prototype.goTo = function (row) {
    if (!this.model || row < 0 || row >= this.model.length) return;
    this.target = row;
    this.setFollowing(false);
    this.scrollToRow(row, 'middle');
    this.invalidate();
  };

  LogView.prototype.invalidate = function () {
    this.built = {};
    this.rows.textContent = '';
    this.drawn = [0, 0];
    this.schedule();
  };

  LogView.prototype.setTimes = function (mode, origin) {
    this.times = mode;
    this.origin = origin;
    this.box.classList.toggle('with-times', mode !== 'off');
    this.box.classList.toggle('times-clock', mode === 'clock');
    this.invalidate();
  };

  /* Find ``query`` (any case); the number of matching rows. */
  LogView.prototype.search = function (query, keep) {
    var before = this.match >= 0 ? this.matches[this.match] : -1;
    this.query = String(query || '');
    this.matches = this.model ? this.model.search(this.query) : [];
    this.match = -1;
    if (keep && before >= 0) this.match = this.matches.indexOf(before);
    if (!keep) this.invalidate();
    return this.matches.length;
  };

  /* Move to the next (+1) or previous (-1) match from where the view is. */
  LogView.prototype.step = function (direction) {
    if (!this.matches.length) return -1;
    if (this.match < 0) {   // the first match from the top of the view, or the last one above it
      var from = this.firstVisible(), i = 0;
      while (i < this.matches.length && this.matches[i] < from) i++;
      this.match = direction > 0 ? i % this.matches.length : (i - 1 + this.matches.length) % this.matches.length;
    } else {
      this.match = (this.match + direction + this.matches.length) % this.matches.length;
    }
    this.goTo(this.matches[this.match]);
    return this.match;
  };

  // -- drawing ------------------------------------------------------------------------------

  LogView.prototype.draw = function () {
    var model = this.model;
    if (!model) return;
    this.sizeUp();
    var n = model.length, h = this.measure();
    var first = this.firstVisible(), count = this.visibleRows();
    var start = Math.max(0, first - (this.scaled() ? 0 : OVERSCAN));
    var end = Math.min(n, first + count + OVERSCAN);
    var offset = this.scaled() ? this.box.scrollTop - (first - start) * h : start * h;
    this.rows.style.top = offset + 'px';
    if (start === this.drawn[0] && end === this.drawn[1] && this.rows.childNodes.length === end - start) return;
    var built = {}, fragment = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var row = this.built[i] || this.buildRow(i);
      built[i] = row;
      fragment.appendChild(row);
    }
    this.rows.textContent = '';
    this.rows.appendChild(fragment);
    this.built = built;
    this.drawn = [start, end];
    this.box.setAttribute('data-rows-drawn', String(end - start));
  };

  LogView.prototype.timeText = function (t) {
    if (typeof t !== 'number') return '';
    if (this.times === 'clock') return clock(t);
    var origin = typeof this.origin === 'number' ? this.origin : t;
    return elapsed(t - origin);
  };

  LogView.prototype.buildRow = function (i) {
    var model = this.model, kind = model.kind[i];
    var row = el('div', 'log-row');
    row.setAttribute('data-row', String(i));
    if (i === this.target) row.classList.add('target');
    if (kind === LogModel.CUT) {
      row.classList.add('cut');
      row.appendChild(el('span', 'ln', ''));
      var n = model.cut[i];
      row.appendChild(el('span', 'tx', '\u2026 ' + n.toLocaleString() + (n === 1 ? ' line' : ' lines') + ' cut \u2026'));
      row.title = 'The log was longer than its cap: these lines were not kept';
      return row;
    }
    if (kind === LogModel.END) {
      row.classList.add('end');
      row.appendChild(el('span', 'ln', ''));
      row.appendChild(el('span', 'tx', model.text[i]));
      return row;
    }
    var num = model.num[i];
    row.setAttribute('data-line', String(num));
    var ln = el('a', 'ln', num);
    ln.setAttribute('href', '#L' + num);
    row.appendChild(ln);
    if (this.times !== 'off') {
      var ts = el('span', 'ts', this.timeText(model.time[i]));
      if (typeof model.time[i] === 'number') ts.title = new Date(model.time[i] * 1000).toISOString();
      row.appendChild(ts);
    }
    if (model.isError(i)) row.classList.add('error');
    var isMatch = this.query && this.matches.length && model.plain(i).indexOf(this.query.toLowerCase()) >= 0;
    if (isMatch) row.classList.add('match');
    row.appendChild(this.buildText(model.text[i], model.style[i], isMatch ? this.query.toLowerCase() : ''));
    return row;
  };

  /* A line's text: one span per styled segment, the search matches marked. */
  LogView.prototype.buildText = function (text, style, query) {
    var box = el('span', 'tx');
    var segments = ansi.parse(text, style).segments;
    var full = '', cutAt = -1;
    for (var s = 0; s < segments.length; s++) full += segments[s].text;
    if (full.length > MAX_CHARS) cutAt = MAX_CHARS;
    var ranges = [];
    if (query) {
      var lower = full.toLowerCase();
      if (lower.length === full.length) {
        for (var at = lower.indexOf(query); at >= 0; at = lower.indexOf(query, at + query.length)) {
          ranges.push([at, at + query.length]);
        }
      }
    }
    var pos = 0, r = 0;
    for (var k = 0; k < segments.length; k++) {
      var seg = segments[k], textOf = seg.text, start = pos, end = pos + textOf.length;
      pos = end;
      if (cutAt >= 0 && start >= cutAt) break;
      if (cutAt >= 0 && end > cutAt) { textOf = textOf.slice(0, cutAt - start); end = cutAt; }
      var span = styled(seg.style);
      var p = start;
      while (p < end) {
        while (r < ranges.length && ranges[r][1] <= p) r++;
        if (r < ranges.length && ranges[r][0] < end) {
          var m0 = Math.max(ranges[r][0], p), m1 = Math.min(ranges[r][1], end);
          if (m0 > p) span.appendChild(document.createTextNode(textOf.slice(p - start, m0 - start)));
          span.appendChild(el('mark', null, textOf.slice(m0 - start, m1 - start)));
          p = m1;
        } else {
          span.appendChild(document.createTextNode(textOf.slice(p - start)));
          p = end;
        }
      }
      box.appendChild(span);
    }
    if (cutAt >= 0) {
      box.appendChild(el('span', 'more', ' \u2026 ' + (full.length - cutAt).toLocaleString() +
                         ' more characters on this line (see the raw file)'));
    }
    return box;
  };

  function styled(style) {
    if (!style) return document.createDocumentFragment();
    var look = ansi.look(style), span = el('span', look.classes.join(' '));
    if (look.color) span.style.color = look.color;
    if (look.background) span.style.backgroundColor = look.background;
    return span;
  }

  dirt.LogView = LogView;
  dirt.LogModel = LogModel;
}(window, window.dirt));
