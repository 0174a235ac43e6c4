// "Copy" buttons: a button with data-copy="ID" copies the text of the element ID (its spaces
// left out, as an authenticator app wants a key) and says so in the status beside it. The button
// stays hidden where the browser has no clipboard API (an insecure origin, an old browser): the
// text is still there to select.
(function () {
  'use strict';

  if (!navigator.clipboard || !window.isSecureContext) return;
  var buttons = document.querySelectorAll('button[data-copy]');
  Array.prototype.forEach.call(buttons, function (button) {
    var source = document.getElementById(button.getAttribute('data-copy'));
    var status = button.nextElementSibling;
    if (!source) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(source.textContent.replace(/\s+/g, '')).then(function () {
        if (status) status.textContent = button.getAttribute('data-copied') || '';
      });
    });
  });
})();
