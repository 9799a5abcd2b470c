// What tells runs of one task name apart: its platform and kwargs, as a short
// label ("linux · compiler=gcc opt=2"). Runs with different variants are
// different configurations, not flaky repeats of one another. Long labels
// are cut, with a hash of the whole so that two long ones still differ.
function taskVariant(doc) {
  var parts = [];
  if (typeof doc.platform === 'string' && doc.platform) parts.push(doc.platform);
  var kwargs = doc.kwargs;
  if (kwargs && typeof kwargs === 'object' && !Array.isArray(kwargs)) {
    var names = [];
    for (var k in kwargs) names.push(k);
    names.sort();
    var args = [];
    for (var i = 0; i < names.length; i++) {
      var v = kwargs[names[i]];
      args.push(names[i] + '=' + (typeof v === 'string' ? v : JSON.stringify(v)));
    }
    if (args.length) parts.push(args.join(' '));
  }
  var label = parts.join(' · ');
  if (label.length <= 80) return label;
  var hash = 2166136261;
  for (var c = 0; c < label.length; c++) {
    hash ^= label.charCodeAt(c);
    hash = (hash * 16777619) >>> 0;
  }
  return label.slice(0, 72) + '… #' + hash.toString(16);
}

// The same values one by one, as strings: {platform: 'linux', python: '3.11'}
// (the platform, and each kwarg with a short value that is not an object).
// The record page lays a matrix of one task name out by them.
function taskAxes(doc) {
  var out = {}, n = 0;
  if (typeof doc.platform === 'string' && doc.platform) { out.platform = doc.platform; n++; }
  var kwargs = doc.kwargs;
  if (kwargs && typeof kwargs === 'object' && !Array.isArray(kwargs)) {
    var names = [];
    for (var k in kwargs) names.push(k);
    names.sort();
    for (var i = 0; i < names.length && n < 8; i++) {
      var v = kwargs[names[i]];
      if (v === null || typeof v === 'object' || names[i] in out) continue;
      var text = typeof v === 'string' ? v : JSON.stringify(v);
      if (text === undefined || text.length > 40) continue;
      out[names[i]] = text;
      n++;
    }
  }
  return out;
}
