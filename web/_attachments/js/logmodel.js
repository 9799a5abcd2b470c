/* An attempt's log as rows the viewer shows: built from the chunk documents
 * a running attempt streams (log:TASK:ATTEMPT:SEQ), or from the text file
 * attached when it ended (log-N.txt, with log-N.times.json).
 *
 * A row is a line of output (its number in the attempt's whole output, the
 * time it arrived), a cut mark where lines were dropped to keep the log
 * within its cap ("... N lines cut ..."), or dirt's note that the log ends
 * early ("[dirt: the log ends here: ...]"). Rows are kept in parallel
 * arrays, so a 5 MiB log of 100,000 lines costs little more than its text.
 *
 * Loads in a page (window.dirtLogModel) and in Node (module.exports).
 */
(function (root) {
  'use strict';

  var ansi = typeof module !== 'undefined' && module.exports ? require('./ansi.js') : root.dirtAnsi;

  var LINE = 0, CUT = 1, END = 2;

  // What an error looks like in build and test output; and what only mentions one.
  var ERROR_WORDS = /\b(error|errors|fatal|failed|failure|failures|panic)\b|^\s*FAIL\b|^Traceback \(most recent call last\)/i;
  var ERROR_NAMES = /\b[A-Z][A-Za-z0-9_]*(Error|Exception)\b/;
  var MAYBE = /error|fatal|fail|panic|traceback|exception/i;   // cheap first look, on the raw text
  var NOT_AN_ERROR = /\b(0|no) (errors?|failures?|failed)\b|\b(errors?|failures?|failed)[=:] ?0\b|-Werror|\bwithout errors?\b/i;

  /* The cut mark dirt writes into a capped log file (dirt/output.py, cut_mark). */
  function cutMark(n) { return '... ' + n + (n === 1 ? ' line' : ' lines') + ' cut ...'; }
  var CUT_MARK = /^\.\.\. (\d+) lines? cut \.\.\.$/;

  function LogModel() {
    this.text = [];        // the row as stored (escape codes and all)
    this.num = [];         // its line number in the attempt's output (0: dirt's own row)
    this.time = [];        // when it arrived, seconds since 1970, or null
    this.kind = [];        // LINE, CUT or END
    this.cut = [];         // a cut mark's number of lines
    this.style = [];       // the ANSI style in force at the row's start (null: the default)
    this.nextLine = 1;     // the number the next line of output gets
    this.lines = 0;        // lines of output shown
    this.cutLines = 0;     // lines cut
    this._style = null;
    this._plain = [];      // lower-case text as a person sees it, made when first searched
    this._error = [];      // undefined: not yet looked at; true / false
  }

  LogModel.LINE = LINE;
  LogModel.CUT = CUT;
  LogModel.END = END;
  LogModel.cutMark = cutMark;

  Object.defineProperty(LogModel.prototype, 'length', {get: function () { return this.text.length; }});

  LogModel.prototype._push = function (text, num, time, kind, cut) {
    this.text.push(text);
    this.num.push(num);
    this.time.push(time);
    this.kind.push(kind);
    this.cut.push(cut);
    this.style.push(this._style);
  };

  LogModel.prototype.addLine = function (text, time) {
    text = typeof text === 'string' ? text : String(text);
    this._push(text, this.nextLine, typeof time === 'number' ? time : null, LINE, 0);
    this.nextLine += 1;
    this.lines += 1;
    if (text.indexOf('\u001b') >= 0) this._style = ansi.endState(text, this._style);
  };

  LogModel.prototype.addCut = function (n) {
    if (!(n > 0)) return;
    this._push(cutMark(n), 0, null, CUT, n);
    this.nextLine += n;
    this.cutLines += n;
    this._style = null;   // whatever styles the cut lines set or reset are gone
  };

  LogModel.prototype.addEnd = function (text) {
    this._push(text, 0, null, END, 0);
  };

  /* Append a chunk document: a gap before its first line is a cut; lines
   * already shown (a chunk read twice) are skipped. */
  LogModel.prototype.addChunk = function (chunk) {
    var first = chunk.first_line, lines = Array.isArray(chunk.lines) ? chunk.lines : [];
    if (typeof first !== 'number' || first < 1) first = this.nextLine;
    if (first > this.nextLine) this.addCut(first - this.nextLine);
    for (var i = 0; i < lines.length; i++) {
      if (first + i < this.nextLine) continue;
      var line = lines[i];
      if (Array.isArray(line)) this.addLine(line[1], line[0]);
      else this.addLine(line, null);
    }
  };

  /* Chunks in the order they were written: the head (tail: false), then the tail, each by seq. */
  LogModel.sortChunks = function (chunks) {
    return chunks.slice().sort(function (a, b) {
      return ((a.tail ? 1 : 0) - (b.tail ? 1 : 0)) || (a.seq - b.seq);
    });
  };

  LogModel.fromChunks = function (chunks) {
    var model = new LogModel();
    LogModel.sortChunks(chunks).forEach(function (c) { model.addChunk(c); });
    return model;
  };

  /* From a log file as dirt attaches it. ``info`` is the attempt's ``log``
   * entry ({lines, cut_lines, cut_short}); ``times`` the times file
   * ([[line number, t], ...], line numbers of the attempt's output; dirt
   * writes none when every line came at one moment: then ``when``). Cut marks
   * are only taken for marks as far as the attempt says lines were cut, so a
   * task printing the same words is shown as it printed them. */
  LogModel.fromText = function (text, info, times, when) {
    info = info || {};
    var model = new LogModel();
    var rows = String(text).split('\n');
    if (rows.length && rows[rows.length - 1] === '') rows.pop();
    var uncut = typeof info.cut_lines === 'number' && info.cut_lines > 0 ? info.cut_lines : 0;
    var end = info.cut_short && rows.length && /^\[dirt: the log ends here/.test(rows[rows.length - 1]) ?
      rows.length - 1 : -1;
    var stamps = Array.isArray(times) ? times.filter(function (e) {
      return Array.isArray(e) && typeof e[0] === 'number' && typeof e[1] === 'number';
    }) : [];
    var next = 0, now = typeof when === 'number' ? when : null, m;
    for (var i = 0; i < rows.length; i++) {
      if (i === end) { model.addEnd(rows[i]); continue; }
      if (uncut && (m = CUT_MARK.exec(rows[i])) && Number(m[1]) <= uncut) {
        model.addCut(Number(m[1]));
        uncut -= Number(m[1]);
        continue;
      }
      while (next < stamps.length && stamps[next][0] <= model.nextLine) { now = stamps[next][1]; next++; }
      model.addLine(rows[i], now);
    }
    return model;
  };

  /* The text of row ``i`` as a person sees it, lower case (searching ignores case). */
  LogModel.prototype.plain = function (i) {
    var p = this._plain[i];
    if (p === undefined) p = this._plain[i] = ansi.plain(this.text[i]).toLowerCase();
    return p;
  };

  LogModel.prototype.isError = function (i) {
    var e = this._error[i];
    if (e === undefined) {
      if (this.kind[i] !== LINE || !MAYBE.test(this.text[i])) e = false;
      else {
        var text = ansi.plain(this.text[i]);
        e = (ERROR_WORDS.test(text) || ERROR_NAMES.test(text)) && !NOT_AN_ERROR.test(text);
      }
      this._error[i] = e;
    }
    return e;
  };

  /* The first error-looking row at or after ``from``, or -1. */
  LogModel.prototype.nextError = function (from) {
    for (var i = from || 0; i < this.text.length; i++) if (this.isError(i)) return i;
    return -1;
  };

  /* Rows whose text holds ``query`` (any case). */
  LogModel.prototype.search = function (query) {
    var q = String(query || '').toLowerCase(), found = [];
    if (!q) return found;
    for (var i = 0; i < this.text.length; i++) {
      if (this.kind[i] === LINE && this.plain(i).indexOf(q) >= 0) found.push(i);
    }
    return found;
  };

  /* The row of output line ``n``, or of the nearest line after it (a cut line: the cut mark). */
  LogModel.prototype.rowOfLine = function (n) {
    for (var lo = 0, hi = this.text.length - 1; lo <= hi;) {
      var mid = (lo + hi) >> 1, m = this.num[mid];
      if (m === 0) {   // a mark: compare by the lines it stands for
        var before = mid > 0 ? this.num[mid - 1] : 0;
        if (this.kind[mid] === CUT && n > before && n <= before + this.cut[mid]) return mid;
        m = before + (this.kind[mid] === CUT ? this.cut[mid] : 0) + 0.5;
      }
      if (m === n) return mid;
      if (m < n) lo = mid + 1; else hi = mid - 1;
    }
    return Math.min(lo, this.text.length - 1);
  };

  if (typeof module !== 'undefined' && module.exports) module.exports = LogModel;
  else root.dirtLogModel = LogModel;
}(this));
