/* File: shows an attachment that could run script (HTML, SVG, XML) inside a
 * sandboxed frame: it runs no script and cannot reach the app or the database
 * (file.html?doc=TASK_ID&name=FILE_NAME).
 */
(function (dirt, $) {
  'use strict';

  var doc = dirt.param('doc'), name = dirt.param('name');

  /* Say what is wrong instead of showing an empty card or an error's JSON in the frame. */
  function problem(message) {
    $('#file-card').prop('hidden', true);
    $('#file-problem').prop('hidden', false).text(message);
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
      $('#file-problem').prop('hidden', true);
      $('#file-card').prop('hidden', false);
      $('#file-name').text(name);
      $('#file-task').text(doc).attr('href', dirt.docUrl(doc));
      $('#file-download').attr('href', dirt.fileUrl(doc, name)).attr('download', name.split('/').pop());
      var frame = document.getElementById('file-frame');
      if (frame.getAttribute('src') === null) frame.setAttribute('src', dirt.fileUrl(doc, name));
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
