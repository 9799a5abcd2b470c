// What the pages show of a record in a list: its description and the free
// fields a CI hook stores (branch, author, and the commit as sha or commit).
function recordBrief(doc) {
  function text(v) { return typeof v === 'string' && v ? v : null; }
  var sha = text(doc.sha) || text(doc.commit);
  return {
    description: text(doc.description),
    branch: text(doc.branch),
    author: text(doc.author),
    sha: sha ? sha.toLowerCase() : null
  };
}
