function (doc) {
  // Records, newest first: query with descending=true.
  // Key: [created, _id] (the _id makes the key unique, so a page can start
  // exactly after the last row of the previous one). Value: the description.
  if (doc.type !== 'record') return;
  var created = typeof doc.created === 'number' ? doc.created : null;
  var description = typeof doc.description === 'string' ? doc.description : null;
  emit([created, doc._id], description);
}
