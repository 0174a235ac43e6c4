// The console's client page, enhanced: the preview of the login page follows the branding and
// sign-in methods as they are typed, before anything is saved. Without JavaScript the preview
// shows the saved settings, and the "as users see it" page shows them exactly.
(function () {
  'use strict';

  var form = document.getElementById('client-form');
  var preview = document.getElementById('preview');
  if (!form || !preview) return;
  var heading = document.getElementById('preview-heading');
  var product = document.getElementById('preview-product');
  var email = document.getElementById('preview-email');
  var phone = document.getElementById('preview-phone');
  var fallbackProduct = product ? product.getAttribute('data-default') || '' : '';
  var colour = /^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

  var value = function (name) {
    var input = form.elements.namedItem(name);
    return input && typeof input.value === 'string' ? input.value.trim() : '';
  };
  var checked = function (method) {
    var boxes = form.querySelectorAll('input[name="login_methods"]');
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].value === method) return boxes[i].checked;
    }
    return false;
  };

  var update = function () {
    var name = value('name');
    if (heading) heading.textContent = (heading.getAttribute('data-template') || '{client}').replace('{client}', name);
    if (product) product.textContent = value('product_name') || fallbackProduct;
    // A colour is applied through the CSSOM, which the page's CSP allows (no inline style).
    var c = value('primary_color');
    if (colour.test(c)) preview.style.setProperty('--accent', c);
    else preview.style.removeProperty('--accent');
    if (email) email.hidden = !(checked('email_code') || checked('email_link'));
    if (phone) phone.hidden = !checked('sms_code');
  };

  form.addEventListener('input', update);
  form.addEventListener('change', update);
  update();
})();
