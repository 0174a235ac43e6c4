// The code page, enhanced: a countdown before "send it again" is allowed, and, while a sign-in
// link may be approved on another device, a quiet check that shows the number to type over there
// once the link is opened there, and continues here once it is approved. Without
// JavaScript every form on the page still works; the server enforces the same rules.
(function () {
  'use strict';

  var wait = document.getElementById('resend-wait');
  var button = document.getElementById('resend-button');
  if (wait && button) {
    var left = parseInt(wait.getAttribute('data-seconds') || '0', 10);
    var template = wait.getAttribute('data-template') || '';
    var tick = function () {
      if (left > 0) {
        button.disabled = true;
        wait.hidden = false;
        wait.textContent = template.replace('{seconds}', String(left));
        left -= 1;
        setTimeout(tick, 1000);
      } else {
        button.disabled = false;
        wait.hidden = true;
      }
    };
    tick();
  }

  var approval = document.getElementById('approval');
  var form = document.getElementById('approved-form');
  if (approval && form && window.fetch) {
    var waiting = document.getElementById('waiting');
    if (waiting) waiting.hidden = false;
    // Polls until the sign-in is approved or over; an answer it cannot read (the server or the
    // network away, a 503 "unavailable") is asked again a little later, never taken as the end.
    var poll = function () {
      fetch(approval.getAttribute('data-status'), { credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.state === 'approved') {
            form.submit();
          } else if (body.state === 'waiting' || body.state === 'opened') {
            if (body.state === 'opened') approval.hidden = false;
            setTimeout(poll, 1500);
          } else if (body.state !== 'expired') {
            setTimeout(poll, 3000);
          }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1500);
  }
})();
