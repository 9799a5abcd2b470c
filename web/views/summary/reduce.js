function (keys, values, rereduce) {
  // Small and of fixed shape, so that CouchDB keeps it in its index.
  var out = {states: {}, first: null, last: null, slowest: null};
  function add(s) {
    if (s.first !== null && (out.first === null || s.first < out.first)) out.first = s.first;
    if (s.last !== null && (out.last === null || s.last > out.last)) out.last = s.last;
    if (s.slowest && (!out.slowest || s.slowest[0] > out.slowest[0])) out.slowest = s.slowest;
  }
  for (var i = 0; i < values.length; i++) {
    var v = values[i];
    if (rereduce) {
      for (var state in v.states) out.states[state] = (out.states[state] || 0) + v.states[state];
      add(v);
    } else {
      out.states[v[0]] = (out.states[v[0]] || 0) + 1;
      var took = v[1] !== null && v[2] !== null && v[2] >= v[1] ? v[2] - v[1] : null;
      var id = String(keys[i][1]);
      add({first: v[1], last: v[2],
           slowest: took === null ? null : [took, v[3], id.length <= 200 ? id : null]});
    }
  }
  return out;
}
