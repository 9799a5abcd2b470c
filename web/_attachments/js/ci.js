/* What CI users ask of records and runs, computed from the views:
 *
 *   dirt.ci.branchState(branch)   is the branch green or red, since when, and which record broke it
 *   dirt.ci.flakiness(runs, recs) which task names passed and failed where they should not differ
 *   dirt.ci.recentRuns(n)         the newest finished runs of every task, with their records
 *
 * Pure functions take plain data (rows of the views) and return plain data,
 * so the pages only draw what these decide.
 */
(function (dirt, $) {
  'use strict';

  var ci = dirt.ci = {};

  // -- branches --------------------------------------------------------------------------

  var STEPS = [20, 60, 200];       // records of a branch read per round, until its streak ends

  /* The records of ``branch``, newest first, with their summaries; ``before``
   * continues after the last row of an earlier call. */
  function branchRecords(branch, limit, before) {
    var params = {reduce: false, descending: true, endkey: ['branch', branch], limit: limit + (before ? 1 : 0),
                  startkey: before ? dirt.pageStart(before.key, true) : ['branch', branch, {}]};
    return dirt.view('records_by', params).then(function (answer) {
      var rows = answer.rows;
      if (before) {                        // the rows past the last one read before
        var c = dirt.cursorIndex(rows, before.key, before.id, true);
        rows = rows.slice(c.found ? c.at + 1 : c.at);
      }
      rows = rows.slice(0, limit);
      return dirt.summaries(rows.map(function (r) { return r.id; })).then(function (summaries) {
        return {done: rows.length < limit, records: rows.map(function (r) {
          return {id: r.id, key: r.key, brief: r.value, created: r.value.created, summary: summaries[r.id],
                  verdict: summaries[r.id].verdict};
        })};
      });
    });
  }

  /* Where a branch stands, from its records newest first (each with a
   * ``verdict``): pure. ``complete`` says these are all its records.
   *   latest:  the newest record
   *   decided: the newest record that passed or failed (what the branch "is")
   *   since:   the oldest record of the current run of that verdict
   *   brokeBy: when failing, the first failing record after a passing one
   *   lastGood: the passing record before it
   *   untested: how many records lie between those two without a verdict
   *             (a bisect can find which of them broke it)
   *   open:    the run may go back further than the records given
   */
  ci.branchStreak = function (records, complete) {
    var out = {latest: records[0] || null, decided: null, since: null, brokeBy: null, lastGood: null, untested: 0,
               open: false};
    var i = 0, sinceAt = 0;
    while (i < records.length && !dirt.isDecided(records[i].verdict)) i++;
    if (i === records.length) { out.open = !complete; return out; }
    out.decided = records[i];
    out.since = records[i];
    sinceAt = i;
    for (var j = i + 1; j < records.length; j++) {
      var v = records[j].verdict;
      if (!dirt.isDecided(v)) continue;
      if (v !== out.decided.verdict) {
        if (out.decided.verdict === 'failed') {
          out.brokeBy = out.since;
          out.lastGood = records[j];
          out.untested = j - sinceAt - 1;
        }
        return out;
      }
      out.since = records[j];
      sinceAt = j;
    }
    out.open = !complete;
    return out;
  };

  /* branchStreak of a branch, reading more of its records until the current
   * run ends (at most 280). ``first`` may hold records already read. */
  ci.branchState = function (branch) {
    var records = [];
    function round(step, last) {
      return branchRecords(branch, STEPS[step], last).then(function (got) {
        records = records.concat(got.records);
        var streak = ci.branchStreak(records, got.done);
        if (!streak.open || got.done || step + 1 >= STEPS.length) {
          streak.branch = branch;
          streak.read = records.length;
          return streak;
        }
        var end = got.records[got.records.length - 1];
        return round(step + 1, {key: end.key, id: end.id});
      });
    }
    return round(0, null);
  };

  // -- flaky tasks -----------------------------------------------------------------------

  var PASS = {passed: true}, FAIL = {failed: true, error: true};

  /* Which (task name, variant) pairs are flaky in ``runs`` (each {id, name,
   * variant, state, record_id, when}, any order), given the records' briefs
   * ({id: {branch, sha}}). Pure. A pair is flaky when it
   *   - passed and failed on one record (a rerun, or the same task twice),
   *   - passed and failed on records of one commit (sha), or
   *   - flipped between passing and failing at least 3 times on one branch, in
   *     at least a fifth of its consecutive runs there.
   * Returns a list, flakiest first, of {name, variant, runs, passed, failed,
   * score, evidence: [{kind: "record"|"sha"|"branch", ...}]}. */
  ci.flakiness = function (runs, records) {
    var groups = {};
    runs.forEach(function (run) {
      if (!PASS[run.state] && !FAIL[run.state]) return;
      var key = run.name + '\u0000' + (run.variant || '');
      var g = groups[key] || (groups[key] = {name: run.name, variant: run.variant || '', runs: []});
      g.runs.push(run);
    });
    var out = [];
    Object.keys(groups).forEach(function (key) {
      var g = groups[key], evidence = [], passed = 0, failed = 0;
      var byRecord = {}, bySha = {}, byBranch = {};
      g.runs.sort(function (a, b) { return a.when - b.when || (a.id < b.id ? -1 : 1); });
      g.runs.forEach(function (run) {
        var ok = !!PASS[run.state];
        if (ok) passed++; else failed++;
        var rec = records[run.record_id] || {};
        (byRecord[run.record_id] || (byRecord[run.record_id] = [])).push(run);
        if (rec.sha) (bySha[rec.sha] || (bySha[rec.sha] = [])).push(run);
        if (rec.branch) (byBranch[rec.branch] || (byBranch[rec.branch] = [])).push(run);
      });
      function mixed(list) {
        return list.some(function (r) { return PASS[r.state]; }) && list.some(function (r) { return FAIL[r.state]; });
      }
      $.each(byRecord, function (rid, list) {
        if (mixed(list)) evidence.push({kind: 'record', record_id: rid, runs: list});
      });
      $.each(bySha, function (sha, list) {
        var recordIds = {};
        list.forEach(function (r) { recordIds[r.record_id] = true; });
        if (Object.keys(recordIds).length > 1 && mixed(list)) evidence.push({kind: 'sha', sha: sha, runs: list});
      });
      $.each(byBranch, function (branch, list) {
        var flips = 0;
        for (var i = 1; i < list.length; i++) if (!!PASS[list[i].state] !== !!PASS[list[i - 1].state]) flips++;
        if (flips >= 3 && flips >= (list.length - 1) / 5) {
          evidence.push({kind: 'branch', branch: branch, flips: flips, runs: list});
        }
      });
      if (!evidence.length) return;
      var score = 0;
      evidence.forEach(function (e) { score += e.kind === 'branch' ? e.flips : 2; });
      out.push({name: g.name, variant: g.variant, runs: g.runs.length, passed: passed, failed: failed,
                score: score / Math.sqrt(g.runs.length), evidence: evidence});
    });
    out.sort(function (a, b) { return b.score - a.score || (a.name < b.name ? -1 : 1); });
    return out;
  };

  /* A set of flaky task names from ci.flakiness: {name: [entries]}. */
  ci.flakyNames = function (list) {
    var names = {};
    list.forEach(function (f) { (names[f.name] || (names[f.name] = [])).push(f); });
    return names;
  };

  /* The newest ``n`` finished runs (passed, failed or error) of every task
   * name, with the briefs of their records: {runs, records, from, to}. Two
   * requests of the outcomes view (passed, and failed with error) and one
   * for the records. */
  ci.recentRuns = function (n) {
    function newest(verdict) {
      return dirt.view('outcomes', {reduce: false, descending: true, startkey: [verdict, {}], endkey: [verdict],
                                    limit: n});
    }
    return Promise.all([newest('passed'), newest('failed')]).then(function (answers) {
      var runs = [];
      answers.forEach(function (answer) {
        answer.rows.forEach(function (row) {
          var v = row.value;
          runs.push({id: row.id, when: row.key[1], name: v[0], record_id: v[1], state: v[2], variant: v[3],
                     duration: v[4]});
        });
      });
      runs.sort(function (a, b) { return b.when - a.when; });
      runs = runs.slice(0, n);
      var ids = [], seen = {};
      runs.forEach(function (r) {
        if (r.record_id && !seen[r.record_id]) { seen[r.record_id] = true; ids.push(r.record_id); }
      });
      return dirt.recordBriefs(ids).then(function (records) {
        return {runs: runs, records: records, from: runs.length ? runs[runs.length - 1].when : null,
                to: runs.length ? runs[0].when : null};
      });
    });
  };
}(window.dirt, window.jQuery));
