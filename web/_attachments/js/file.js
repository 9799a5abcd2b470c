/* File: shows an attachment that could run script (HTML, SVG, XML) inside a
 * sandboxed frame: it runs no script and cannot reach the app or the database
 * (file.html?doc=TASK_ID&name=FILE_NAME).
 *
 * An HTML or SVG report is rendered: its text is read and handed to the frame
 * as srcdoc, so a report dirt stored as text/plain shows as the page it is.
 * The frame's sandbox has no allow-scripts (and no allow-same-origin), and the
 * document starts with a policy refusing scripts, so neither a <script> nor an
 * onerror= in the report ever runs. Other such files (XML) load into the same
 * frame by address, as they are served. A text log goes to the log viewer.
 */
(function (dirt, $) {
  'use strict';

  var doc = dirt.param('doc'), name = dirt.param('name');
  var RENDERED = /\.(html?|xhtml|svg)$/i;
  var HTML_TYPES = /^(text\/html|application\/xhtml\+xml|image\/svg\+xml)/i;
  // Put first in the frame's document: no script even if the sandbox were lifted,
  // and relative links (a report's images, attached next to it) resolve to the task's files.
  var POLICY = "script-src 'none'; object-src 'none'";
  var shownKey = null;

  /* Say what is wrong instead of showing an empty card or an error's JSON in the frame. */
  function problem(message) {
    $('#file-card').prop('hidden', true);
    $('#file-problem').prop('hidden', false).text(message);
  }

  function attributeText(value) {
    return String(value).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  }

  function render(frame, att, key) {
    if (shownKey === key) return Promise.resolve();
    return dirt.request({url: dirt.fileUrl(doc, name), dataType: 'text'}).then(function (text) {
      var base = new URL(dirt.fileUrl(doc, name), window.location.href).href;
      var head = '<!doctype html>' +
        '<meta http-equiv="Content-Security-Policy" content="' + attributeText(POLICY) + '">' +
        '<base href="' + attributeText(base) + '" target="_blank">';
      frame.removeAttribute('src');
      frame.setAttribute('srcdoc', head + text);
      frame.setAttribute('data-shown', 'rendered');
      shownKey = key;
    });
  }

  function load() {
    if (!doc || !name) {
      problem('Which file? This page shows one attachment: open it as file.html?doc=ID&name=NAME, ' +
              'or follow a file link on a record\'s page.');
      return Promise.resolve();
    }
    return dirt.doc(doc).then(function (found) {
      var files = Object.keys(found._attachments || {});
      if (files.indexOf(name) < 0) {
        problem('The document ' + doc + ' has no file named ' + name + '. ' +
                (files.length ? 'Its files: ' + files.join(', ') + '.' : 'It has no files.'));
        return;
      }
      var att = found._attachments[name];
      if (dirt.isTextLog(name) && !HTML_TYPES.test(att.content_type || '')) {
        window.location.replace(dirt.fileHref(doc, name, att.content_type));
        return;
      }
      $('#file-problem').prop('hidden', true);
      $('#file-card').prop('hidden', false);
      $('#file-name').text(name);
      $('#file-task').text(doc).attr('href', dirt.docUrl(doc));
      $('#file-download').attr('href', dirt.fileUrl(doc, name)).attr('download', name.split('/').pop());
      var frame = document.getElementById('file-frame');
      if (RENDERED.test(name) || HTML_TYPES.test(att.content_type || '')) {
        return render(frame, att, att.digest || String(att.revpos) + ':' + att.length);
      }
      if (frame.getAttribute('src') === null) {
        frame.setAttribute('src', dirt.fileUrl(doc, name));
        frame.setAttribute('data-shown', 'served');
      }
    }, function (error) {
      if (error.status === 404) {
        problem('There is no document ' + doc + ' in this database (it was deleted, or the link is wrong), ' +
                'so no file ' + name + ' either.');
        return;
      }
      throw error;
    });
  }

  dirt.start(load, {type: 'none'});
}(window.dirt, window.jQuery));
