/*
 * Ostiary sign-in widget: a ready-made passwordless form for your own page. Load the SDK first.
 *
 *   <div id="signin"></div>
 *   <script src="https://login.example.com/static/ostiary.js"></script>
 *   <script src="https://login.example.com/static/widget.js"></script>
 *   <script>
 *     Ostiary.widget(document.getElementById('signin'), {
 *       domain: 'https://login.example.com',
 *       clientId: 'PUBLIC_CLIENT_ID',
 *       channels: ['email', 'sms'],      // which to offer, in order (default: both)
 *       primaryColor: '#0a7d5a',         // buttons and links
 *       logo: 'https://cdn.example.com/logo.svg',
 *       language: 'fr',                  // 'en' (default) or 'fr'
 *       onSignIn: function (tokens, claims) { ... },   // tokens from /oauth/token
 *     });
 *   </script>
 *
 * The widget builds its DOM with textContent only (no HTML from anywhere is ever parsed), and
 * styles itself with one <style> element scoped to `.ostiary-widget`.
 */
(function (global) {
  'use strict';

  var TEXTS = {
    en: {
      title: 'Sign in',
      email: 'Email address',
      phone: 'Mobile phone number',
      phoneHint: 'With the country code, for example +44 7400 123456.',
      useEmail: 'Email',
      useSms: 'Text message',
      send: 'Send me a code',
      code: 'Code',
      sentTo: 'We sent a code to {destination}.',
      verify: 'Sign in',
      again: 'Use another address or number',
      wrong: 'That code is not right, or it has expired.',
      wait: 'Please wait {seconds} seconds before asking again.',
      failed: 'Something went wrong. Please try again.',
      signedIn: 'You are signed in.',
    },
    fr: {
      title: 'Se connecter',
      email: 'Adresse e-mail',
      phone: 'Numéro de mobile',
      phoneHint: 'Avec l’indicatif du pays, par exemple +33 6 12 34 56 78.',
      useEmail: 'E-mail',
      useSms: 'SMS',
      send: 'Envoyez-moi un code',
      code: 'Code',
      sentTo: 'Nous avons envoyé un code à {destination}.',
      verify: 'Se connecter',
      again: 'Utiliser une autre adresse ou un autre numéro',
      wrong: 'Ce code n’est pas bon, ou il a expiré.',
      wait: 'Veuillez patienter {seconds} secondes avant de redemander un code.',
      failed: 'Une erreur est survenue. Veuillez réessayer.',
      signedIn: 'Vous êtes connecté.',
    },
  };

  var STYLE =
    '.ostiary-widget{font:16px/1.5 system-ui,sans-serif;max-width:24rem;padding:1.25rem;border:1px solid #d0d7de;border-radius:12px}' +
    '.ostiary-widget h2{font-size:1.25rem;margin:0 0 .75rem}' +
    '.ostiary-widget img{display:block;max-height:40px;margin:0 auto .75rem}' +
    '.ostiary-widget label{display:block;font-weight:600;margin:.75rem 0 .25rem}' +
    '.ostiary-widget input{box-sizing:border-box;width:100%;font-size:1rem;padding:.55rem .6rem;border:1px solid #8c959f;border-radius:8px}' +
    '.ostiary-widget button{margin-top:.75rem;width:100%;padding:.6rem;font-size:1rem;font-weight:600;color:#fff;border:0;border-radius:8px;cursor:pointer;background:var(--ostiary-primary,#0b5fff)}' +
    '.ostiary-widget .tabs{display:flex;gap:.5rem}.ostiary-widget .tabs button{background:transparent;color:var(--ostiary-primary,#0b5fff);border:1px solid var(--ostiary-primary,#0b5fff)}' +
    '.ostiary-widget .tabs button[aria-pressed=true]{background:var(--ostiary-primary,#0b5fff);color:#fff}' +
    '.ostiary-widget .error{color:#b42318;font-weight:600}.ostiary-widget .hint{font-size:.85rem;color:#57606a}' +
    '.ostiary-widget a{color:var(--ostiary-primary,#0b5fff);cursor:pointer}';

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === 'text') node.textContent = props[k];
      else if (k === 'on') Object.keys(props.on).forEach(function (e) { node.addEventListener(e, props.on[e]); });
      else node.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function widget(root, options) {
    if (!global.Ostiary || !global.Ostiary.Client) throw new Error('load ostiary.js before widget.js');
    options = options || {};
    var t = TEXTS[options.language] || TEXTS.en;
    var channels = (options.channels || ['email', 'sms']).filter(function (c) { return c === 'email' || c === 'sms'; });
    if (!channels.length) channels = ['email'];
    var client = new global.Ostiary.Client({
      domain: options.domain,
      clientId: options.clientId,
      scope: options.scope,
      language: options.language,
    });
    if (!document.getElementById('ostiary-widget-style')) {
      document.head.appendChild(el('style', { id: 'ostiary-widget-style', text: STYLE }));
    }
    root.classList.add('ostiary-widget');
    if (options.primaryColor && /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(options.primaryColor)) {
      root.style.setProperty('--ostiary-primary', options.primaryColor);
    }
    var state = { channel: channels[0], destination: '' };

    function fill(text, values) {
      return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? '' : String(values[k]); });
    }

    function show(nodes) {
      while (root.firstChild) root.removeChild(root.firstChild);
      if (options.logo && /^https?:\/\//.test(options.logo)) root.appendChild(el('img', { src: options.logo, alt: '' }));
      root.appendChild(el('h2', { text: t.title }));
      nodes.forEach(function (n) { if (n) root.appendChild(n); });
    }

    function explain(err) {
      if (err && err.status === 429 && err.retryAfter) return fill(t.wait, { seconds: err.retryAfter });
      if (err && err.error === 'invalid_grant') return t.wrong;
      return (err && err.description) || t.failed;
    }

    function askDestination(error) {
      var sms = state.channel === 'sms';
      var input = el('input', sms
        ? { id: 'ostiary-phone', type: 'tel', autocomplete: 'tel', inputmode: 'tel', required: 'required' }
        : { id: 'ostiary-email', type: 'email', autocomplete: 'email', required: 'required' });
      input.value = state.destination;
      var tabs = channels.length > 1
        ? el('div', { class: 'tabs', role: 'group' }, channels.map(function (c) {
            return el('button', {
              type: 'button',
              'aria-pressed': String(c === state.channel),
              text: c === 'sms' ? t.useSms : t.useEmail,
              on: { click: function () { state.channel = c; state.destination = ''; askDestination(); } },
            });
          }))
        : null;
      var form = el('form', {
        on: {
          submit: function (e) {
            e.preventDefault();
            state.destination = input.value.trim();
            var request = { connection: state.channel, send: 'code' };
            if (sms) request.phone_number = state.destination;
            else request.email = state.destination;
            client.start(request).then(function () { askCode(); }, function (err) { askDestination(explain(err)); });
          },
        },
      }, [
        el('label', { for: input.id, text: sms ? t.phone : t.email }),
        input,
        sms ? el('p', { class: 'hint', text: t.phoneHint }) : null,
        error ? el('p', { class: 'error', role: 'alert', text: error }) : null,
        el('button', { type: 'submit', text: t.send }),
      ]);
      show([tabs, form]);
      input.focus();
    }

    function askCode(error) {
      var input = el('input', {
        id: 'ostiary-code', type: 'text', autocomplete: 'one-time-code', inputmode: 'numeric', required: 'required',
      });
      var form = el('form', {
        on: {
          submit: function (e) {
            e.preventDefault();
            var request = { connection: state.channel, code: input.value };
            if (state.channel === 'sms') request.phone_number = state.destination;
            else request.email = state.destination;
            client.verify(request).then(function (tokens) {
              var claims = tokens.id_token ? global.Ostiary.decode(tokens.id_token) : null;
              show([el('p', { class: 'done', text: t.signedIn })]);
              if (typeof options.onSignIn === 'function') options.onSignIn(tokens, claims);
            }, function (err) { askCode(explain(err)); });
          },
        },
      }, [
        el('p', { text: fill(t.sentTo, { destination: state.destination }) }),
        el('label', { for: 'ostiary-code', text: t.code }),
        input,
        error ? el('p', { class: 'error', role: 'alert', text: error }) : null,
        el('button', { type: 'submit', text: t.verify }),
        el('p', { class: 'hint' }, [el('a', { role: 'button', tabindex: '0', text: t.again, on: { click: function () { askDestination(); } } })]),
      ]);
      show([form]);
      input.focus();
    }

    askDestination();
    return { reset: function () { state.destination = ''; askDestination(); } };
  }

  var Ostiary = global.Ostiary || {};
  Ostiary.widget = widget;
  global.Ostiary = Ostiary;
})(typeof window !== 'undefined' ? window : this);
