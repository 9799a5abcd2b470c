function (doc) {
  // Failing tests, from the JUnit XML files dirt serve parsed (results.tests):
  // key [task name, test, created], value {record_id, kind, message, variant}.
  //   descending=true, startkey=[task, test, {}], endkey=[task, test]: when one test failed, newest first
  // !code lib/tests.js
  // !code lib/variant.js
  if (doc.type !== 'task' || typeof doc.name !== 'string') return;
  var report = testReport(doc);
  if (!report || !Array.isArray(report.failures)) return;
  var when = typeof doc.created === 'number' ? doc.created : (doc.started || 0);
  var variant = taskVariant(doc);
  for (var i = 0; i < report.failures.length; i++) {
    var f = report.failures[i];
    if (!f || typeof f.test !== 'string') continue;
    emit([doc.name, f.test, when], {
      record_id: doc.record_id,
      kind: f.kind === 'error' ? 'error' : 'failure',
      message: typeof f.message === 'string' ? f.message.slice(0, 300) : '',
      variant: variant
    });
  }
}
