/*
 * Ostiary browser SDK: passwordless sign-in from your own page, no build step.
 *
 *   <script src="https://login.example.com/static/ostiary.js"></script>
 *   const ostiary = new Ostiary.Client({ domain: 'https://login.example.com', clientId: 'PUBLIC_CLIENT_ID' });
 *   await ostiary.start({ connection: 'email', email: 'ann@example.com' });        // sends a code
 *   const tokens = await ostiary.verify({ connection: 'email', email: 'ann@example.com', code: '123456' });
 *   // tokens: { access_token, id_token, token_type, expires_in, scope, refresh_token? }
 *
 * It speaks Ostiary's Auth0-compatible API (POST /passwordless/start, then POST /oauth/token with
 * the passwordless OTP grant). Use it with a public client (no secret: never put one in a page)
 * whose registered redirect URIs include this page's origin, so CORS lets the page read answers.
 * Errors are thrown as Ostiary.ApiError with `error`, `description`, `status` and `retryAfter`.
 *
 * Ostiary.widget(element, options) draws a ready-made sign-in form; see widget.js.
 */
(function (global) {
  'use strict';

  var OTP_GRANT = 'http://auth0.com/oauth/grant-type/passwordless/otp';

  function ApiError(status, body, retryAfter) {
    this.name = 'ApiError';
    this.status = status;
    this.error = (body && body.error) || 'server_error';
    this.description = (body && body.error_description) || '';
    this.retryAfter = retryAfter;
    this.message = this.description || this.error;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  function Client(options) {
    if (!options || !options.domain || !options.clientId) {
      throw new Error('Ostiary.Client needs { domain, clientId }');
    }
    this.domain = String(options.domain).replace(/\/+$/, '');
    if (!/^https?:\/\//.test(this.domain)) this.domain = 'https://' + this.domain;
    this.clientId = options.clientId;
    this.scope = options.scope || 'openid email phone';
    this.language = options.language || null;
  }

  function answer(response) {
    var retry = response.headers.get('Retry-After');
    return response.text().then(function (text) {
      var body = null;
      try {
        body = text ? JSON.parse(text) : {};
      } catch (e) {
        body = { error: 'server_error', error_description: text.slice(0, 200) };
      }
      if (!response.ok) throw new ApiError(response.status, body, retry ? parseInt(retry, 10) : null);
      return body;
    });
  }

  /** Sends a code: { connection: 'email' | 'sms', email | phone_number, send?: 'code' | 'link', authParams? }. */
  Client.prototype.start = function (request) {
    var body = {
      client_id: this.clientId,
      connection: request.connection,
      send: request.send || 'code',
    };
    if (request.connection === 'sms') body.phone_number = request.phone_number || request.phone;
    else body.email = request.email;
    var authParams = request.authParams || {};
    if (this.language && !authParams.ui_locales) authParams.ui_locales = this.language;
    body.authParams = authParams;
    return fetch(this.domain + '/passwordless/start', {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(answer);
  };

  /** Exchanges a received code for tokens: { connection, email | phone_number, code, scope? }. */
  Client.prototype.verify = function (request) {
    var form = new URLSearchParams();
    form.set('grant_type', OTP_GRANT);
    form.set('client_id', this.clientId);
    form.set('realm', request.connection === 'sms' ? 'sms' : 'email');
    form.set('username', request.connection === 'sms' ? request.phone_number || request.phone : request.email);
    form.set('otp', String(request.code).replace(/\s+/g, ''));
    form.set('scope', request.scope || this.scope);
    return fetch(this.domain + '/oauth/token', {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    }).then(answer);
  };

  /** The claims of a JWT (the ID token), decoded but not verified: verify it on your server. */
  function decode(jwt) {
    var part = String(jwt).split('.')[1] || '';
    part = part.replace(/-/g, '+').replace(/_/g, '/');
    while (part.length % 4) part += '=';
    var bytes = atob(part);
    var text = decodeURIComponent(
      bytes
        .split('')
        .map(function (c) { return '%' + ('00' + c.charCodeAt(0).toString(16)).slice(-2); })
        .join(''),
    );
    return JSON.parse(text);
  }

  var Ostiary = global.Ostiary || {};
  Ostiary.Client = Client;
  Ostiary.ApiError = ApiError;
  Ostiary.decode = decode;
  global.Ostiary = Ostiary;
})(typeof window !== 'undefined' ? window : this);
