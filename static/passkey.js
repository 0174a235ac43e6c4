// Passkeys (WebAuthn): signing in on the login page, from the email field's autofill (conditional
// mediation) or the "Sign in with a passkey" button, and creating one where a page offers it.
// Each box that says `data-passkey` names where its options come from (`data-options`, a form post
// with the CSRF token, answered in JSON) and the form its answer is posted with (`data-form`).
// Without WebAuthn in the browser the boxes stay hidden, and every page works without them.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) return;

  function bytes(text) {
    var s = text.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var raw = atob(s), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function text(buffer) {
    var b = new Uint8Array(buffer), raw = '';
    for (var i = 0; i < b.length; i++) raw += String.fromCharCode(b[i]);
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function ids(list) {
    (list || []).forEach(function (c) { c.id = bytes(c.id); });
  }

  // The server's options, with the binary fields WebAuthn wants as buffers (WebAuthn §5.4, §5.5).
  function decode(publicKey) {
    publicKey.challenge = bytes(publicKey.challenge);
    if (publicKey.user) publicKey.user.id = bytes(publicKey.user.id);
    ids(publicKey.allowCredentials);
    ids(publicKey.excludeCredentials);
    return publicKey;
  }

  // The credential as JSON, the shape of `PublicKeyCredential.toJSON()` (WebAuthn §5.1).
  function encode(credential) {
    var r = credential.response;
    var response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      if (r.userHandle) response.userHandle = text(r.userHandle);
    }
    return JSON.stringify({ id: credential.id, rawId: text(credential.rawId), type: credential.type, response: response });
  }

  function options(box) {
    return fetch(box.getAttribute('data-options'), {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'csrf=' + encodeURIComponent(box.getAttribute('data-csrf'))
    }).then(function (r) {
      if (!r.ok) throw new Error('the passkey options could not be had (' + r.status + ')');
      return r.json();
    });
  }

  function post(box, credential) {
    var form = document.getElementById(box.getAttribute('data-form'));
    form.querySelector('[name=credential]').value = encode(credential);
    form.submit();
  }

  function failed(box, error) {
    // A conditional request aborted for the button's is no failure.
    if (error && error.name === 'AbortError') return;
    var shown = document.getElementById(box.getAttribute('data-error'));
    if (shown) shown.hidden = false;
  }

  function signIn(box, conditionalToo) {
    var pending = null;
    var get = function (conditional) {
      if (pending) pending.abort();
      var controller = window.AbortController ? new AbortController() : null;
      pending = conditional ? controller : null;
      return options(box).then(function (o) {
        var request = { publicKey: decode(o.publicKey) };
        if (conditional) request.mediation = 'conditional';
        if (controller) request.signal = controller.signal;
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (credential) post(box, credential);
      });
    };
    box.hidden = false;
    var button = box.querySelector('button');
    if (button) {
      button.addEventListener('click', function () {
        get(false).catch(function (e) { failed(box, e); });
      });
    }
    var conditional = PublicKeyCredential.isConditionalMediationAvailable;
    if (conditionalToo && conditional) {
      conditional.call(PublicKeyCredential).then(function (available) {
        if (available) get(true).catch(function (e) { failed(box, e); });
      }).catch(function () {});
    }
  }

  function create(box) {
    box.hidden = false;
    var button = box.querySelector('button');
    if (!button) return;
    button.addEventListener('click', function () {
      button.disabled = true;
      options(box).then(function (o) {
        return navigator.credentials.create({ publicKey: decode(o.publicKey) });
      }).then(function (credential) {
        if (credential) post(box, credential);
      }).catch(function (e) {
        button.disabled = false;
        failed(box, e);
      });
    });
  }

  var boxes = document.querySelectorAll('[data-passkey]');
  for (var i = 0; i < boxes.length; i++) {
    var kind = boxes[i].getAttribute('data-passkey');
    if (kind === 'sign-in' || kind === 'step-up') signIn(boxes[i], kind === 'sign-in');
    else if (kind === 'create') create(boxes[i]);
  }
})();
