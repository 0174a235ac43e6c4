// Passkeys in headless Chromium, with the DevTools virtual authenticator (CTAP2, internal transport,
// resident keys, user verification): a new user signs in by code and is offered a passkey, creates
// it; then a fresh browser holding the same credential signs in with the passkey button alone (no
// address, no code), and the application, which demands multi-factor, gets it from the passkey.
// Started by tests/browser/run.sh against a server whose issuer is http://localhost:PORT (browsers
// refuse IP addresses as relying-party ids): PASSKEY_URL, PASSKEY_APP_PORT, PASSKEY_CLIENT_ID,
// PASSKEY_CLIENT_SECRET.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Audit } from './axe.mjs';
import { launchChromium, listen, stop } from './support.mjs';

const BASE = (process.env.PASSKEY_URL ?? '').replace(/\/+$/, '');
// Node reaches the server by its address (it listens on 127.0.0.1 only); the browser by its name.
const DIRECT = BASE.replace('//localhost:', '//127.0.0.1:');
const CALLBACK = `http://localhost:${process.env.PASSKEY_APP_PORT}/callback`;
const CLIENT_ID = process.env.PASSKEY_CLIENT_ID;
const CLIENT_SECRET = process.env.PASSKEY_CLIENT_SECRET;
const MFA = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

let browser;
let app;

before(async () => {
  assert.ok(BASE && CLIENT_ID && CLIENT_SECRET, 'run these tests with tests/browser/run.sh');
  app = await listen(process.env.PASSKEY_APP_PORT);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(app);
});

async function outboxCode(to, seen = new Set()) {
  for (let i = 0; i < 100; i++) {
    const messages = await (await fetch(`${DIRECT}/dev/outbox.json`)).json();
    const m = messages.find((x) => x.to === to && !seen.has(x.id) && /code/.test(x.subject));
    if (m) seen.add(m.id);
    if (m) return m.text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no sign-in code for ${to}`);
}

/**
 * A fresh browser context with a virtual platform authenticator; its page, CDP session and id.
 * `conditional: false` makes the browser say it has no autofill for passkeys, so that only the
 * button can start a sign-in (the virtual authenticator answers a conditional request at once).
 */
async function device({ conditional = true, locale = 'en-US' } = {}) {
  const context = await browser.newContext({ locale });
  if (!conditional) {
    await context.addInitScript(() => {
      PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
    });
  }
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { context, page, cdp, authenticatorId };
}

function authorizeUrl(extra = {}) {
  const url = new URL(`${BASE}/authorize`);
  const params = { response_type: 'code', client_id: CLIENT_ID, redirect_uri: CALLBACK, scope: 'openid email',
    state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex'), ...extra };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** Exchanges the code the browser brought back; returns the ID token's claims. */
async function claimsOf(page) {
  await page.waitForURL((u) => u.toString().startsWith(CALLBACK));
  const code = new URL(page.url()).searchParams.get('code');
  assert.ok(code, `a code came back: ${page.url()}`);
  const basic = Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
  const res = await fetch(`${DIRECT}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK }).toString(),
  });
  const tokens = await res.json();
  assert.equal(res.status, 200, JSON.stringify(tokens));
  return JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString('utf8'));
}

test('a passkey earned after a code signs in alone, and meets a demand for multi-factor', { timeout: 90_000 }, async () => {
  const email = `passkey-${randomBytes(5).toString('hex')}@example.com`;

  // 1. A new user signs in by code, is offered a passkey, and creates it.
  const first = await device();
  let credential;
  try {
    const page = first.page;
    await page.goto(authorizeUrl());
    assert.match(await page.locator('#email').getAttribute('autocomplete'), /\bwebauthn\b/, 'conditional UI');
    await page.locator('#passkey-sign-in').waitFor({ state: 'visible' });
    await page.locator('#email').fill(email);
    await page.locator('form:has(#email) button[type="submit"]').click();
    await page.locator('#code').fill(await outboxCode(email));
    await page.locator('form:has(#code) button[type="submit"]').click();
    await page.waitForURL(/\/step-up\/[^/]+\/passkey$/);
    await page.locator('#passkey-enroll').click();
    const claims = await claimsOf(page);
    assert.deepEqual(claims.amr, ['otp'], 'this sign-in was by code');
    const { credentials } = await first.cdp.send('WebAuthn.getCredentials', { authenticatorId: first.authenticatorId });
    assert.equal(credentials.length, 1, 'one passkey was created');
    credential = credentials[0];
    assert.equal(credential.isResidentCredential, true, 'the passkey is discoverable');
    assert.equal(credential.rpId, 'localhost');
    const handle = Buffer.from(credential.userHandle, 'base64').toString('utf8');
    assert.ok(!handle.includes('passkey-'), 'the user handle is not the address');
  } finally {
    await first.context.close();
  }

  // 2. A fresh browser holding the same credential; the application demands multi-factor. The
  //    passkey button alone signs in: no address, no code.
  const second = await device({ conditional: false });
  try {
    await second.cdp.send('WebAuthn.addCredential', { authenticatorId: second.authenticatorId, credential });
    const page = second.page;
    await page.goto(authorizeUrl({ acr_values: MFA }));
    await page.locator('#passkey-sign-in').click();
    const claims = await claimsOf(page);
    assert.equal(claims.acr, MFA, 'the passkey alone is multi-factor');
    assert.ok(claims.amr.includes('mfa') && claims.amr.includes('user'), JSON.stringify(claims.amr));
    assert.ok(claims.amr.includes('hwk') || claims.amr.includes('swk'), JSON.stringify(claims.amr));
    assert.ok(!claims.amr.includes('otp'), 'no code was used');
    const messages = await (await fetch(`${DIRECT}/dev/outbox.json`)).json();
    assert.ok(messages.some((m) => m.to === email && /passkey was added/.test(m.subject)), 'the owner was told');

    // 3. The email field's autofill (conditional mediation): the browser offers the passkey as
    //    soon as the login page asks, and picking it (the virtual authenticator picks at once)
    //    signs in.
    const third = await device();
    try {
      await third.cdp.send('WebAuthn.addCredential', {
        authenticatorId: third.authenticatorId,
        credential: { ...credential, signCount: credential.signCount + 10 },
      });
      await third.page.goto(authorizeUrl());
      const claims3 = await claimsOf(third.page);
      assert.equal(claims3.acr, MFA);
      assert.ok(!claims3.amr.includes('otp'), 'no code was used');
    } finally {
      await third.context.close();
    }

    // 4. On the account page (the passkey sign-in is recent enough), the passkey is listed and
    //    removed.
    await page.goto(`${BASE}/account`);
    await page.locator('#passkeys tr.passkey').first().waitFor();
    assert.equal(await page.locator('#passkeys tr.passkey').count(), 1);
    await page.locator('#passkeys .remove-passkey').first().click();
    await page.locator('#saved').waitFor();
    assert.equal(await page.locator('#passkeys tr.passkey').count(), 0, 'the passkey is gone');
    const told = await (await fetch(`${DIRECT}/dev/outbox.json`)).json();
    assert.ok(told.some((m) => m.to === email && /passkey was removed/.test(m.subject)), 'the owner was told');
  } finally {
    await second.context.close();
  }

  // 5. The next sign-in with that passkey fails cleanly: the login page says so, and the address
  //    and code still work.
  const fourth = await device({ conditional: false });
  try {
    await fourth.cdp.send('WebAuthn.addCredential', {
      authenticatorId: fourth.authenticatorId,
      credential: { ...credential, signCount: credential.signCount + 20 },
    });
    await fourth.page.goto(authorizeUrl());
    await fourth.page.locator('#passkey-sign-in').click();
    await fourth.page.locator('#passkey-error').waitFor({ state: 'visible' });
    assert.ok(/\/login\/[^/]+\/passkey$/.test(new URL(fourth.page.url()).pathname), fourth.page.url());
    assert.ok(await fourth.page.locator('#email').isVisible(), 'the code is still offered');
  } finally {
    await fourth.context.close();
  }
});

test('"not now" is remembered on the device', { timeout: 60_000 }, async () => {
  const email = `later-${randomBytes(5).toString('hex')}@example.com`;
  const d = await device();
  try {
    for (const round of [1, 2]) {
      await d.page.goto(authorizeUrl({ prompt: 'login' }));
      await d.page.locator('#email').fill(email);
      await d.page.locator('form:has(#email) button[type="submit"]').click();
      const code = await (async () => {
        // Each round has its own code: wait for a message not seen before.
        for (let i = 0; i < 100; i++) {
          const messages = (await (await fetch(`${DIRECT}/dev/outbox.json`)).json())
            .filter((x) => x.to === email && /sign-in code/.test(x.subject));
          if (messages.length >= round) return messages[0].text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)[1];
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('no code');
      })();
      await d.page.locator('#code').fill(code);
      await d.page.locator('form:has(#code) button[type="submit"]').click();
      if (round === 1) {
        await d.page.waitForURL(/\/step-up\/[^/]+\/passkey$/);
        await d.page.locator('#passkey-skip').click();
      }
      // The second time, the offer is not made: straight back to the application.
      await claimsOf(d.page);
    }
  } finally {
    await d.context.close();
  }
});

// Issue 16: the passkey offer after a sign-in by code, and step-up by passkey on a new device, in
// both languages, light and dark (the other pages are audited in a11y.test.mjs; browsers refuse
// passkeys on the IP address that server runs on).
for (const { lang, locale } of [{ lang: 'en', locale: 'en-GB' }, { lang: 'fr', locale: 'fr-FR' }]) {
  test(`passkey pages have no serious accessibility violation (${lang})`, { timeout: 90_000 }, async () => {
    const audit = new Audit(lang);
    const email = `a11y-passkey-${randomBytes(5).toString('hex')}@example.com`;
    const seen = new Set();
    const signInByCode = async (page) => {
      await page.goto(authorizeUrl());
      await page.locator('#email').fill(email);
      await page.locator('form:has(#email) button[type="submit"]').click();
      await page.locator('#code').fill(await outboxCode(email, seen));
      await page.locator('form:has(#code) button[type="submit"]').click();
    };
    const first = await device({ locale });
    let credential;
    try {
      await signInByCode(first.page);
      await first.page.waitForURL(/\/step-up\/[^/]+\/passkey$/);
      await audit.check(first.page, 'passkey offer');
      await first.page.locator('#passkey-enroll').click();
      await claimsOf(first.page);
      const { credentials } = await first.cdp.send('WebAuthn.getCredentials', { authenticatorId: first.authenticatorId });
      credential = credentials[0];
    } finally {
      await first.context.close();
    }
    // A new device that holds the passkey, signing in by code: step-up asks for the passkey.
    const second = await device({ conditional: false, locale });
    try {
      await second.cdp.send('WebAuthn.addCredential', { authenticatorId: second.authenticatorId, credential });
      await signInByCode(second.page);
      await second.page.waitForURL(/\/step-up\/[^/]+$/);
      await second.page.locator('#passkey-step-up').waitFor({ state: 'visible' });
      await audit.check(second.page, 'step-up, passkey');
      await second.page.locator('#passkey-step-up').click();
      const claims = await claimsOf(second.page);
      assert.ok(claims.amr.includes('otp') && claims.amr.includes('mfa'), `the code, then the passkey: ${claims.amr}`);
    } finally {
      await second.context.close();
    }
    audit.done(2);
  });
}
