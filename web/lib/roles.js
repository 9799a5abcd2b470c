// Who may do what in a dirt database, in one place. egret inlines this file
// into validate_doc_update (`// !code lib/roles.js`), and the pages load it as
// js/roles.js, so a page shows only the buttons its reader may use.
//
// Four duties, each given by a CouchDB role: the names below, unless the
// database's _security names others in "dirt_roles", e.g.
//   {"members": {...}, "admins": {...}, "dirt_roles": {"operator": "ci-operators"}}
//   reader     reads (a members-only database lists this role in its members); writes nothing
//   submitter  adds records and tasks (dirt submit), edits tasks that still wait
//   operator   cancels waiting and running tasks, reruns finished ones (dirt cancel, dirt rerun)
//   server     the account dirt serve runs as: outcomes, leases, attachments, nodes,
//              heartbeats, notifications and badges
// Server admins (the role _admin) and the database's admins (its _security)
// may do everything; so may everyone on a pouchdb-server that has no admin,
// where every request is an admin's.
var DIRT_ROLES = {reader: 'readers', submitter: 'submitters', operator: 'operators', server: 'dirt-server'};
var DIRT_DUTIES = ['reader', 'submitter', 'operator', 'server'];

/* The role that gives each duty in a database with this _security object. */
function dirtRoleNames(secObj) {
  var names = {}, given = secObj && secObj.dirt_roles;
  for (var i = 0; i < DIRT_DUTIES.length; i++) {
    var duty = DIRT_DUTIES[i];
    names[duty] = given && typeof given[duty] === 'string' && given[duty] ? given[duty] : DIRT_ROLES[duty];
  }
  return names;
}

/* What the user of a request may do: {name, roles, admin, reader, submitter,
 * operator, server, roleNames}. userCtx and secObj are CouchDB's. */
function dirtAccess(userCtx, secObj) {
  var roles = userCtx && userCtx.roles && userCtx.roles.length !== undefined ? userCtx.roles : [];
  var name = userCtx && typeof userCtx.name === 'string' ? userCtx.name : null;
  var admins = secObj && secObj.admins ? secObj.admins : {};
  function has(role) { return roles.indexOf(role) >= 0; }
  var admin = has('_admin') || (name !== null && (admins.names || []).indexOf(name) >= 0);
  for (var r = 0; r < (admins.roles || []).length; r++) if (has(admins.roles[r])) admin = true;
  var names = dirtRoleNames(secObj);
  var access = {name: name, roles: roles, admin: admin, roleNames: names};
  for (var i = 0; i < DIRT_DUTIES.length; i++) access[DIRT_DUTIES[i]] = admin || has(names[DIRT_DUTIES[i]]);
  return access;
}
