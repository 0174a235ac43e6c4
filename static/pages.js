// Small enhancements of the hosted pages; without JavaScript every page still says what it must.
//  - "Copy" buttons: a button with data-copy="ID" copies the text of the element ID (its spaces
//    left out, as an authenticator app wants a key) and says so in the status beside it. It stays
//    hidden where the browser has no clipboard API (an insecure origin, an old browser): the text
//    is still there to select.
//  - Countdowns: an element with data-countdown="SECONDS" shows data-template with {seconds}
//    counting down, then data-done.
//  - Country selectors: a select with data-region-names, whose options are "+44 GB", names each
//    country in the page's language ("+44 Royaume-Uni") and sorts them by name; "+…" stays first.
(function () {
  'use strict';

  if (navigator.clipboard && window.isSecureContext) {
    Array.prototype.forEach.call(document.querySelectorAll('button[data-copy]'), function (button) {
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
  }

  if (window.Intl && Intl.DisplayNames) {
    Array.prototype.forEach.call(document.querySelectorAll('select[data-region-names]'), function (select) {
      var names;
      try {
        names = new Intl.DisplayNames([document.documentElement.lang || 'en'], { type: 'region' });
      } catch (e) {
        return;
      }
      var options = Array.prototype.filter.call(select.options, function (o) { return o.value; });
      options.forEach(function (o) {
        var name = names.of(o.value);
        var code = o.textContent.split(' ')[0];
        o.setAttribute('data-name', name || o.value);
        if (name && name !== o.value) o.textContent = code + ' ' + name;
      });
      options.sort(function (a, b) {
        return a.getAttribute('data-name').localeCompare(b.getAttribute('data-name'), document.documentElement.lang);
      });
      options.forEach(function (o) { select.appendChild(o); });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('[data-countdown]'), function (element) {
    var left = parseInt(element.getAttribute('data-countdown') || '0', 10);
    var template = element.getAttribute('data-template') || '';
    var done = element.getAttribute('data-done') || '';
    var tick = function () {
      if (left > 0) {
        element.textContent = template.replace('{seconds}', String(left));
        left -= 1;
        setTimeout(tick, 1000);
      } else {
        element.textContent = done;
      }
    };
    tick();
  });
})();
