/* Who is signed in: CouchDB's own sessions (/_session), shown in every page's header.
 *
 * Not signed in: a "Sign in" button opens a small form (name, password); a
 * session cookie then goes with every request of the app. Signed in: the
 * name and roles, and "Sign out". On a server where everyone is an admin
 * (pouchdb-server without admins) there is nothing to sign in to.
 *
 * What the person may do comes from js/roles.js (dirtAccess, the rule
 * validate_doc_update applies) with the database's _security (its admins,
 * and role names it may rename); pages ask dirt.whenSession(fn) to hear of it
 * now and after every sign-in and sign-out, and show only the buttons that
 * person may use. CouchDB still checks every write itself.
 */
(function (dirt, $) {
  'use strict';

  var box = $('#session');
  var server = dirt.db + '../';       // the database's server: /_session lives there
  var listeners = [];
  var known = false;

  dirt.access = dirtAccess(null, {});

  /* Call ``fn(access)`` now if the session is known, and whenever it changes. */
  dirt.whenSession = function (fn) {
    listeners.push(fn);
    if (known) fn(dirt.access);
  };

  /* The name actions are recorded under. */
  dirt.actor = function () { return dirt.access.name || 'anonymous'; };

  function load() {
    var security = dirt.get(dirt.db + '_security').catch(function () { return {}; });
    return Promise.all([dirt.get(server + '_session'), security]).then(function (answers) {
      var ctx = (answers[0] && answers[0].userCtx) || {name: null, roles: []};
      dirt.access = dirtAccess(ctx, answers[1] || {});
      known = true;
      render();
      listeners.forEach(function (fn) { fn(dirt.access); });
    }, function () {
      known = true;
      render();
    });
  }

  function render() {
    box.empty();
    var a = dirt.access;
    box.attr('data-user', a.name || '');
    if (a.name === null && a.roles.indexOf('_admin') >= 0) {
      box.append(dirt.el('span', 'who muted', 'no sign-in here: everyone may do everything'));
      return;
    }
    if (a.name !== null) {
      var who = dirt.el('span', 'who');
      who.appendChild(dirt.el('b', 'user', a.name));
      var roles = a.roles.filter(function (r) { return r.charAt(0) !== '_'; });
      if (a.admin) roles.unshift('admin');
      who.appendChild(dirt.el('span', 'roles', roles.length ? roles.join(', ') : 'no roles'));
      box.append(who);
      var out = dirt.el('button', 'sign-out', 'Sign out');
      out.type = 'button';
      box.append(out);
      return;
    }
    var open = dirt.el('button', 'sign-in', 'Sign in');
    open.type = 'button';
    box.append(open);
    var form = dirt.el('form', 'sign-in-form');
    form.hidden = true;
    var name = dirt.el('input');
    name.name = 'name';
    name.autocomplete = 'username';
    name.placeholder = 'name';
    name.setAttribute('aria-label', 'name');
    var password = dirt.el('input');
    password.name = 'password';
    password.type = 'password';
    password.autocomplete = 'current-password';
    password.placeholder = 'password';
    password.setAttribute('aria-label', 'password');
    var go = dirt.el('button', 'primary', 'Sign in');
    go.type = 'submit';
    form.appendChild(name);
    form.appendChild(password);
    form.appendChild(go);
    form.appendChild(dirt.el('span', 'sign-in-error'));
    box.append(form);
  }

  box.on('click', 'button.sign-in', function () {
    var form = box.find('form.sign-in-form');
    form.prop('hidden', !form.prop('hidden'));
    form.find('input[name=name]').trigger('focus');
  });

  box.on('submit', 'form.sign-in-form', function (event) {
    event.preventDefault();
    var form = $(this);
    form.find('.sign-in-error').text('');
    dirt.request({url: server + '_session', type: 'POST', contentType: 'application/json',
                  data: JSON.stringify({name: form.find('input[name=name]').val(),
                                        password: form.find('input[name=password]').val()})})
      .then(function () { return load(); })
      .then(function () { if (dirt.reload) dirt.reload(); },
            function (error) {
              form.find('.sign-in-error').text(error.status === 401 ? 'Name or password is incorrect.' : error.message);
            });
  });

  /* End the session. pouchdb-server renews the session cookie in the answer
   * to every request that came with it (Apache CouchDB does too, once a
   * session is a while old), so an answer on its way as the session ends
   * brings it back: end it, let what is under way finish, and end it again
   * if it came back. */
  function signOut(tries) {
    function nothing() {}
    return dirt.request({url: server + '_session', type: 'DELETE'}).catch(nothing)
      .then(function () { return dirt.settled(); })
      .then(function () { return dirt.get(server + '_session'); })
      .then(function (answer) {
        if (answer && answer.userCtx && answer.userCtx.name && tries > 1) return signOut(tries - 1);
      }, nothing);
  }

  box.on('click', 'button.sign-out', function () {
    signOut(5).then(load).then(function () { if (dirt.reload) dirt.reload(); });
  });

  load();
}(window.dirt, window.jQuery));
