/* File: shows an attachment that could run script (HTML, SVG, XML) inside a
 * sandboxed frame: it runs no script and cannot reach the app or the database
 * (file.html?doc=TASK_ID&name=FILE_NAME).
 */
(function (dirt, $) {
  'use strict';

  var doc = dirt.param('doc'), name = dirt.param('name');

  function load() {
    if (!doc || !name) return Promise.reject(new Error('Which file? Open this page as file.html?doc=ID&name=NAME.'));
    $('#file-name').text(name);
    $('#file-task').text(doc).attr('href', dirt.docUrl(doc));
    $('#file-download').attr('href', dirt.fileUrl(doc, name)).attr('download', name.split('/').pop());
    var frame = document.getElementById('file-frame');
    if (frame.getAttribute('src') === null) frame.setAttribute('src', dirt.fileUrl(doc, name));
    return Promise.resolve();
  }

  dirt.start(load, {type: 'none'});
}(window.dirt, window.jQuery));
