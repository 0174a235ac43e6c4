// Ostiary's Auth0-compatible passwordless API, driven by Auth0's own Node SDK (the `auth0` package,
// v4): AuthenticationClient.passwordless.sendEmail / loginWithEmail / sendSMS / loginWithSMS against
// a local Ostiary over HTTPS. The SDK checks the ID token itself: issuer `https://DOMAIN/` (with
// the trailing slash), keys from `/.well-known/jwks.json`, audience, expiry, and no nonce.
//
// Environment (set by the Rust test that starts the server):
//   OSTIARY_DOMAIN       host:port of the server, e.g. localhost:8443
//   CLIENT_ID, CLIENT_SECRET
//   NODE_EXTRA_CA_CERTS  the test CA, so Node trusts the server's certificate
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AuthenticationClient, AuthApiError } from 'auth0';
import { decodeJwt, decodeProtectedHeader } from 'jose';

const domain = process.env.OSTIARY_DOMAIN;
const clientId = process.env.CLIENT_ID;
const clientSecret = process.env.CLIENT_SECRET;
assert.ok(domain && clientId && clientSecret, 'OSTIARY_DOMAIN, CLIENT_ID and CLIENT_SECRET are set');
const auth = new AuthenticationClient({ domain, clientId, clientSecret });

/** The code in the newest message to `to` in the dev outbox, polled until it arrives. */
async function codeFor(to, seen = new Set()) {
  for (let i = 0; i < 100; i++) {
    const messages = await (await fetch(`https://${domain}/dev/outbox.json`)).json();
    const message = messages.find((m) => m.to === to && !seen.has(m.id));
    if (message) {
      seen.add(message.id);
      return message.text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no message to ${to} in the outbox`);
}

function checkIdToken(idToken) {
  assert.equal(decodeProtectedHeader(idToken).alg, 'RS256');
  const claims = decodeJwt(idToken);
  assert.equal(claims.iss, `https://${domain}/`, 'the issuer, exactly as configured, trailing slash included');
  assert.deepEqual([].concat(claims.aud), [clientId]);
  assert.equal(claims.nonce, undefined, 'no nonce was sent, so none comes back');
  return claims;
}

test('email: sendEmail with a code, a wrong code refused, the right one signs in once', async () => {
  const email = `ann-${randomBytes(5).toString('hex')}@example.com`;
  const sent = await auth.passwordless.sendEmail({ email, send: 'code' });
  assert.equal(sent.status, 200);
  const code = await codeFor(email);
  const wrong = code === '000000' ? '111111' : '000000';
  await assert.rejects(
    auth.passwordless.loginWithEmail({ email, code: wrong }),
    (e) => e instanceof AuthApiError && e.error === 'invalid_grant' && e.statusCode === 400,
  );
  const { data } = await auth.passwordless.loginWithEmail({ email, code, scope: 'openid email offline_access' });
  assert.equal(data.token_type, 'Bearer');
  assert.ok(data.access_token && data.refresh_token, 'access and refresh tokens');
  const claims = checkIdToken(data.id_token);
  assert.equal(claims.email, email);
  assert.deepEqual(claims.amr, ['otp']);
  // A code works once.
  await assert.rejects(auth.passwordless.loginWithEmail({ email, code }), (e) => e.error === 'invalid_grant');
  // The access token is good at /userinfo.
  const info = await (await fetch(`https://${domain}/userinfo`, { headers: { authorization: `Bearer ${data.access_token}` } })).json();
  assert.equal(info.sub, claims.sub);
});

test('sms: sendSMS, then loginWithSMS', async () => {
  const phone = `+447400${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
  const sent = await auth.passwordless.sendSMS({ phone_number: phone });
  assert.equal(sent.status, 200);
  const code = await codeFor(phone);
  const { data } = await auth.passwordless.loginWithSMS({ phone_number: phone, code, scope: 'openid phone' });
  const claims = checkIdToken(data.id_token);
  assert.deepEqual(claims.amr, ['sms']);
  assert.equal(claims.phone_number, phone);
  assert.equal(claims.phone_number_verified, true);
});

test('errors come back in the shape the SDK reads', async () => {
  await assert.rejects(
    auth.passwordless.sendEmail({ email: 'not-an-address', send: 'code' }),
    (e) => e instanceof AuthApiError && e.error === 'bad.email' && e.statusCode === 400,
  );
  const stranger = new AuthenticationClient({ domain, clientId, clientSecret: 'wrong-secret' });
  await assert.rejects(
    stranger.passwordless.sendEmail({ email: 'ann@example.com', send: 'code' }),
    (e) => e instanceof AuthApiError && e.error === 'invalid_client' && e.statusCode === 401,
  );
});
