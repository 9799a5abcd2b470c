/* Small SVG charts with a real time axis: ticks at round times and round
 * durations, drawn from data (never from HTML). Used by the task history. */
(function (dirt, $) {
  'use strict';

  var SVG = 'http://www.w3.org/2000/svg';
  var chart = dirt.chart = {};

  chart.node = function (tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    $.each(attrs || {}, function (k, v) { if (v !== null && v !== undefined) node.setAttribute(k, String(v)); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  };

  var MIN = 60, HOUR = 3600, DAY = 86400;
  var TIME_STEPS = [MIN, 5 * MIN, 15 * MIN, 30 * MIN, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY,
                    14 * DAY, 30 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  /* x(t) over [t0, t1] onto [left, right], and ticks at round local times. */
  chart.timeScale = function (t0, t1, left, right) {
    if (t1 <= t0) { t0 -= 30; t1 += 30; }
    var span = t1 - t0, step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) if (span / TIME_STEPS[i] <= 7) { step = TIME_STEPS[i]; break; }
    var offset = new Date(t0 * 1000).getTimezoneOffset() * 60;   // round in local time
    var ticks = [];
    var first = Math.ceil((t0 - offset) / step) * step + offset;
    if (step >= 30 * DAY) {           // months: the first of a month
      var d = new Date(t0 * 1000);
      d = new Date(d.getFullYear(), d.getMonth() + 1, 1);
      var months = Math.round(step / (30 * DAY));
      for (; d.getTime() / 1000 <= t1; d = new Date(d.getFullYear(), d.getMonth() + months, 1)) ticks.push(d.getTime() / 1000);
    } else {
      for (var t = first; t <= t1; t += step) ticks.push(t);
    }
    function x(t) { return left + (right - left) * (t - t0) / span; }
    return {x: x, step: step, ticks: ticks.map(function (t) {
      var d = new Date(t * 1000), label;
      if (step < DAY) label = pad(d.getHours()) + ':' + pad(d.getMinutes());
      else if (step < 30 * DAY) label = pad(d.getMonth() + 1) + '-' + pad(d.getDate());
      else label = d.getFullYear() + '-' + pad(d.getMonth() + 1);
      if (step < DAY && d.getHours() === 0 && d.getMinutes() === 0) label = pad(d.getMonth() + 1) + '-' + pad(d.getDate());
      return {t: t, x: x(t), label: label};
    })};
  };

  var DURATION_STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, MIN, 2 * MIN,
                        5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 6 * HOUR, 12 * HOUR, DAY];

  /* Round duration ticks from 0 up to at least ``max`` (seconds, > 0): [0, s, 2s, ...]. */
  chart.durationTicks = function (max) {
    var step = DURATION_STEPS[DURATION_STEPS.length - 1];
    for (var i = 0; i < DURATION_STEPS.length; i++) if (max / DURATION_STEPS[i] <= 4) { step = DURATION_STEPS[i]; break; }
    var ticks = [];
    for (var v = 0; v < max + step * 0.999; v += step) ticks.push(v);
    return ticks;
  };

  /* Marker shapes that tell variants apart (the fill is the run's outcome). */
  chart.SHAPES = ['circle', 'square', 'triangle', 'diamond', 'down', 'cross'];

  chart.marker = function (shape, cx, cy, r, attrs) {
    var s = r * 1.1;
    var points = {
      triangle: [[cx, cy - s], [cx + s, cy + s * 0.8], [cx - s, cy + s * 0.8]],
      down: [[cx - s, cy - s * 0.8], [cx + s, cy - s * 0.8], [cx, cy + s]],
      diamond: [[cx, cy - s * 1.2], [cx + s, cy], [cx, cy + s * 1.2], [cx - s, cy]],
      cross: [[cx - s, cy - s * 0.35], [cx - s * 0.35, cy - s * 0.35], [cx - s * 0.35, cy - s], [cx + s * 0.35, cy - s],
              [cx + s * 0.35, cy - s * 0.35], [cx + s, cy - s * 0.35], [cx + s, cy + s * 0.35],
              [cx + s * 0.35, cy + s * 0.35], [cx + s * 0.35, cy + s], [cx - s * 0.35, cy + s],
              [cx - s * 0.35, cy + s * 0.35], [cx - s, cy + s * 0.35]]
    }[shape];
    if (shape === 'square') return chart.node('rect', $.extend({x: cx - r, y: cy - r, width: 2 * r, height: 2 * r}, attrs));
    if (!points) return chart.node('circle', $.extend({cx: cx, cy: cy, r: r}, attrs));
    return chart.node('polygon', $.extend({points: points.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' ')}, attrs));
  };

  /* A small legend icon of a shape. */
  chart.icon = function (shape) {
    var svg = chart.node('svg', {width: 12, height: 12, viewBox: '0 0 12 12', 'aria-hidden': 'true'});
    svg.appendChild(chart.marker(shape, 6, 6, 4.2, {class: 'legend-mark'}));
    return svg;
  };
}(window.dirt, window.jQuery));
