function (doc) {
  // Bisections (dirt bisect, the branches page's button), by branch, oldest first:
  //   descending=true, startkey=[BRANCH, {}], endkey=[BRANCH], limit=3: a branch's newest
  // Value: what the branches page shows of one (see dirt/bisect.py for the document).
  if (doc.type !== 'bisect') return;
  var verdicts = doc.verdicts && typeof doc.verdicts === 'object' ? doc.verdicts : {};
  emit([typeof doc.branch === 'string' ? doc.branch : '', typeof doc.created === 'number' ? doc.created : 0], {
    task: typeof doc.task === 'string' ? doc.task : null,
    good: typeof doc.good === 'string' ? doc.good : null,
    bad: typeof doc.bad === 'string' ? doc.bad : null,
    state: typeof doc.state === 'string' ? doc.state : 'new',
    current: typeof doc.current === 'string' ? doc.current : null,
    candidates: Array.isArray(doc.candidates) ? doc.candidates.slice(0, 20) : [],
    decided: Object.keys(verdicts).length,
    records: Array.isArray(doc.records) ? doc.records.length : 0,
    reason: typeof doc.reason === 'string' ? doc.reason.slice(0, 300) : null
  });
}
