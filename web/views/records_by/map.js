function (doc) {
  // Records by a field, newest last within each value:
  //   ["branch", BRANCH, created, _id]   a branch's records (descending=true: newest first)
  //   ["author", AUTHOR, created, _id]   an author's records
  //   ["sha", SHA, created, _id]         by commit (sha or commit, lower case): a prefix finds short shas
  //   ["id", _id]                        record ids only (not tasks): a prefix finds records
  // Value: as in the records view, plus created.
  // !code lib/record.js
  if (doc.type !== 'record') return;
  var created = typeof doc.created === 'number' ? doc.created : null;
  var value = recordBrief(doc);
  value.created = created;
  if (value.branch) emit(['branch', value.branch, created, doc._id], value);
  if (value.author) emit(['author', value.author, created, doc._id], value);
  if (value.sha) emit(['sha', value.sha, created, doc._id], value);
  emit(['id', doc._id], value);
}
