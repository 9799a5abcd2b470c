/* ANSI escape codes in task output: SGR styles (colours, bold, reset) turned
 * into style descriptions the log viewer applies with classes and CSSOM,
 * everything else (cursor moves, erases, titles, hyperlinks) dropped.
 *
 * A task's output is never markup: this parser only reads the numbers of
 * "ESC [ ... m" sequences, and the text between them is shown as text. A
 * style carries over from line to line, as on a terminal, until a reset.
 *
 *   dirt.ansi.parse(line, state) -> {segments: [{text, style}], state}
 *   dirt.ansi.plain(line)        -> the text a person sees (for search)
 *   dirt.ansi.endState(line, state) -> the style in force after the line
 *
 * A style is null (the default) or {fg, bg, bold, dim, italic, underline,
 * strike, inverse}; a colour is a palette index (0-255) or [r, g, b].
 * Loads in a page (window.dirtAnsi) and in Node (module.exports), where the
 * tests run it.
 */
(function (root) {
  'use strict';

  // CSI (ESC [ params intermediates final), OSC (ESC ] ... BEL or ESC \),
  // or any other two-character escape. A lone ESC at the end matches too.
  var ESCAPE = /\u001b(?:\[([0-?]*)[ -\/]*([@-~])|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[\s\S])?/g;
  // C0 controls but tab, ESC handled above; DEL. Shown as the control pictures (U+2400...).
  var CONTROL = /[\u0000-\u0008\u000b-\u001a\u001c-\u001f\u007f]/g;
  var NEEDS_WORK = /[\u0000-\u0008\u000b-\u001f\u007f]/;

  function picture(c) {
    var code = c.charCodeAt(0);
    return String.fromCharCode(code === 0x7f ? 0x2421 : 0x2400 + code);
  }

  function visible(text) { return text.replace(CONTROL, picture); }

  var EMPTY = {fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, strike: false,
               inverse: false};

  function copy(style) {
    var out = {};
    for (var k in EMPTY) out[k] = style ? style[k] : EMPTY[k];
    return out;
  }

  function isDefault(s) {
    return s.fg === null && s.bg === null && !s.bold && !s.dim && !s.italic && !s.underline && !s.strike &&
      !s.inverse;
  }

  function byte(n) { return n >= 0 && n <= 255 ? n : null; }

  /* The style after the SGR parameters ``params`` ("1;31", "38;5;208", "" = reset). */
  function applySgr(style, params) {
    var s = copy(style);
    var codes = params === '' ? [0] : params.split(/[;:]/).map(function (p) { return p === '' ? 0 : Number(p); });
    for (var i = 0; i < codes.length; i++) {
      var c = codes[i];
      if (c === 0) s = copy(null);
      else if (c === 1) s.bold = true;
      else if (c === 2) s.dim = true;
      else if (c === 3) s.italic = true;
      else if (c === 4 || c === 21) s.underline = true;
      else if (c === 7) s.inverse = true;
      else if (c === 9) s.strike = true;
      else if (c === 22) { s.bold = false; s.dim = false; }
      else if (c === 23) s.italic = false;
      else if (c === 24) s.underline = false;
      else if (c === 27) s.inverse = false;
      else if (c === 29) s.strike = false;
      else if (c >= 30 && c <= 37) s.fg = c - 30;
      else if (c === 39) s.fg = null;
      else if (c >= 40 && c <= 47) s.bg = c - 40;
      else if (c === 49) s.bg = null;
      else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
      else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
      else if (c === 38 || c === 48) {
        var colour = null;
        if (codes[i + 1] === 5) {
          colour = byte(codes[i + 2]);
          i += 2;
        } else if (codes[i + 1] === 2) {
          var rgb = [byte(codes[i + 2]), byte(codes[i + 3]), byte(codes[i + 4])];
          colour = rgb.indexOf(null) < 0 ? rgb : null;
          i += 4;
        } else {
          break;   // malformed: ignore the rest of this sequence
        }
        if (colour !== null) { if (c === 38) s.fg = colour; else s.bg = colour; }
      }
      // anything else (blink, fonts, frames...) is ignored
    }
    return isDefault(s) ? null : s;
  }

  /* A line's segments of text with their style, and the style after it.
   * A carriage return followed by more text starts the line over, as a
   * terminal shows a progress bar that rewrites itself. */
  function parse(line, state) {
    var segments = [], style = state || null, last = 0, match, returned = false;
    line = String(line);
    if (!NEEDS_WORK.test(line)) {
      return {segments: line ? [{text: line, style: style}] : [], state: style};
    }
    function add(text) {
      var parts = text.split('\r');
      for (var p = 0; p < parts.length; p++) {
        if (p > 0) returned = true;
        if (!parts[p]) continue;
        if (returned) { segments = []; returned = false; }   // what came before is overwritten
        segments.push({text: visible(parts[p]), style: style});
      }
    }
    ESCAPE.lastIndex = 0;
    while ((match = ESCAPE.exec(line)) !== null) {
      if (match.index > last) add(line.slice(last, match.index));
      last = ESCAPE.lastIndex;
      if (match[2] === 'm') style = applySgr(style, match[1] || '');
      if (match[0] === '\u001b') { segments.push({text: '\u241b', style: style}); }
    }
    if (last < line.length) add(line.slice(last));
    return {segments: segments, state: style};
  }

  function dropEscape(seq) { return seq === '\u001b' ? '\u241b' : ''; }

  /* What parse() shows, as one string; without building segments when the line has no carriage return. */
  function plain(line) {
    line = String(line);
    if (!NEEDS_WORK.test(line)) return line;
    if (line.indexOf('\r') >= 0) return parse(line, null).segments.map(function (s) { return s.text; }).join('');
    return visible(line.replace(ESCAPE, dropEscape));
  }

  var SGR = /\u001b\[([0-?]*)[ -\/]*m/g;

  /* The style after a line: only its SGR sequences count, and only those
   * after the last plain reset (most coloured lines end with one). */
  function endState(line, state) {
    line = String(line);
    if (line.indexOf('\u001b') < 0) return state || null;
    var found = [], match;
    SGR.lastIndex = 0;
    while ((match = SGR.exec(line)) !== null) found.push(match[1]);
    var from = 0;
    for (var i = found.length - 1; i >= 0; i--) {
      if (found[i] === '' || found[i] === '0') { from = i + 1; state = null; break; }
    }
    for (var j = from; j < found.length; j++) state = applySgr(state, found[j]);
    return state || null;
  }

  // The 256-colour palette beyond the first 16 (which the CSS themes): a 6x6x6 cube and 24 greys.
  var LEVELS = [0, 95, 135, 175, 215, 255];

  function rgbOf(colour) {
    if (Array.isArray(colour)) return colour;
    if (colour >= 232) { var g = 8 + (colour - 232) * 10; return [g, g, g]; }
    var n = colour - 16;
    return [LEVELS[Math.floor(n / 36)], LEVELS[Math.floor(n / 6) % 6], LEVELS[n % 6]];
  }

  /* How a style looks: class names (the 16 themed colours, bold...) and
   * CSS colours for the others ({classes: 'a-f1 a-b', color: 'rgb(..)', background: ...}). */
  function look(style) {
    var out = {classes: [], color: null, background: null};
    if (!style) return out;
    var fg = style.fg, bg = style.bg;
    if (style.inverse) { fg = style.bg === null ? 'bg' : style.bg; bg = style.fg === null ? 'fg' : style.fg; }
    function set(colour, kind) {
      if (colour === null) return;
      if (colour === 'bg' || colour === 'fg') { out.classes.push('a-' + kind + '-' + colour); return; }
      if (typeof colour === 'number' && colour < 16) { out.classes.push('a-' + kind + colour); return; }
      var rgb = rgbOf(colour);
      out[kind === 'f' ? 'color' : 'background'] = 'rgb(' + rgb[0] + ', ' + rgb[1] + ', ' + rgb[2] + ')';
    }
    set(fg, 'f');
    set(bg, 'g');
    if (style.bold) out.classes.push('a-bold');
    if (style.dim) out.classes.push('a-dim');
    if (style.italic) out.classes.push('a-italic');
    if (style.underline) out.classes.push('a-under');
    if (style.strike) out.classes.push('a-strike');
    return out;
  }

  var api = {parse: parse, plain: plain, endState: endState, look: look, applySgr: applySgr};
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.dirtAnsi = api;
}(this));
