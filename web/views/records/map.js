function (doc) {
  // Records, newest first: query with descending=true.
  // Key: [created, _id] (the _id makes the key unique, so a page can start
  // exactly after the last row of the previous one).
  // Value: {description, branch, author, sha}, each a string or null.
  // !code lib/record.js
  if (doc.type !== 'record') return;
  var created = typeof doc.created === 'number' ? doc.created : null;
  emit([created, doc._id], recordBrief(doc));
}
