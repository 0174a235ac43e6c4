// Step-up in headless Chromium: a risky first sign-in makes the user set up an authenticator app by
// scanning the QR code (decoded here from a screenshot with jsQR; codes computed with the otpauth
// TOTP library), the ten recovery codes are shown once, and the ID token says multi-factor. A second
// sign-in from a new browser asks for the app's code (replays are refused: crates/server/tests/api/stepup.rs).
// Started by tests/browser/run.sh (OSTIARY_URL, STEPUP_PORT, STEPUP_CLIENT_ID, STEPUP_CLIENT_SECRET).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PNG } from 'pngjs';
import jsQR from 'jsqr';
import * as OTPAuth from 'otpauth';
import { launchChromium, listen, stop } from './support.mjs';

const BASE = (process.env.OSTIARY_URL ?? '').replace(/\/+$/, '');
const CALLBACK = `http://127.0.0.1:${process.env.STEPUP_PORT}/callback`;
const CLIENT_ID = process.env.STEPUP_CLIENT_ID;
const CLIENT_SECRET = process.env.STEPUP_CLIENT_SECRET;
const MFA = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

let browser;
let app;

before(async () => {
  assert.ok(BASE && CLIENT_ID && CLIENT_SECRET, 'run these tests with tests/browser/run.sh');
  // The application's callback, so the test can read the code from the URL.
  app = await listen(process.env.STEPUP_PORT);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(app);
});

async function outboxCode(to, seen) {
  for (let i = 0; i < 100; i++) {
    const messages = await (await fetch(`${BASE}/dev/outbox.json`)).json();
    const m = messages.find((x) => x.to === to && !seen.has(x.id) && /sign-in code/.test(x.subject));
    if (m) {
      seen.add(m.id);
      return m.text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no sign-in code for ${to}`);
}

/** A new browser (a new device) signs in by email up to step-up; returns its page. */
async function firstFactor(email, seen) {
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const url = new URL(`${BASE}/authorize`);
  const params = { response_type: 'code', client_id: CLIENT_ID, redirect_uri: CALLBACK, scope: 'openid email',
    state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex') };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  await page.goto(url.toString());
  await page.locator('#email').fill(email);
  await page.locator('form:has(#email) button[type="submit"]').click();
  await page.locator('#code').fill(await outboxCode(email, seen));
  await page.locator('form:has(#code) button[type="submit"]').click();
  return { context, page };
}

/** Exchanges the code the browser brought back; returns the ID token's claims. */
async function claimsOf(page) {
  await page.waitForURL((u) => u.toString().startsWith(CALLBACK));
  const code = new URL(page.url()).searchParams.get('code');
  assert.ok(code, `a code came back: ${page.url()}`);
  const res = await fetch(`${BASE}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK }).toString(),
  });
  const tokens = await res.json();
  assert.equal(res.status, 200, JSON.stringify(tokens));
  return JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString('utf8'));
}

test('a QR-enrolled authenticator app becomes the second factor on a new device', { timeout: 90_000 }, async () => {
  const email = `stepup-${randomBytes(5).toString('hex')}@example.com`;
  const seen = new Set();

  // 1. First sign-in: step-up sends the user to set up an authenticator app.
  const first = await firstFactor(email, seen);
  try {
    const page = first.page;
    await page.waitForURL(/\/step-up\/[^/]+\/enroll$/);
    const shot = PNG.sync.read(await page.locator('#totp-qr svg').screenshot());
    const qr = jsQR(new Uint8ClampedArray(shot.data), shot.width, shot.height);
    assert.ok(qr, 'the QR code decodes');
    assert.match(qr.data, /^otpauth:\/\/totp\//, qr.data);
    const totp = OTPAuth.URI.parse(qr.data);
    assert.equal(totp.label, email, 'the account is labelled with the address');
    assert.equal(totp.digits, 6);
    assert.equal(totp.period, 30);
    // The key shown as text is the same secret, and its copy button copies it without the spaces.
    assert.equal((await page.locator('#totp-secret').textContent()).replace(/\s+/g, ''), totp.secret.base32);
    assert.equal(await page.locator('#totp-open').getAttribute('href'), qr.data, 'the app link is the QR code\'s');
    await page.locator('#copy-key').click();
    await page.locator('#copy-key-status', { hasText: 'Key copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), totp.secret.base32);
    await page.locator('#code').fill(totp.generate());
    await page.locator('form[action$="/enroll"] button[type="submit"]').click();
    await page.locator('#recovery-codes li').first().waitFor();
    assert.equal(await page.locator('#recovery-codes li').count(), 10, 'ten recovery codes');
    await page.locator('form[action^="/authorize/resume/"] button').click();
    const claims = await claimsOf(page);
    assert.equal(claims.acr, MFA);
    assert.deepEqual(claims.amr, ['otp', 'mfa']);

    // 2. A new browser is a new device: the app's code is asked for. The code of the next time
    //    step is used (the enrolment spent this one; one step of skew is allowed).
    const second = await firstFactor(email, seen);
    try {
      await second.page.waitForURL(/\/step-up\/[^/]+$/);
      const code = totp.generate({ timestamp: Date.now() + 30_000 });
      await second.page.locator('#totp').fill(code);
      await second.page.locator('#totp-form button[type="submit"]').click();
      const claims2 = await claimsOf(second.page);
      assert.equal(claims2.acr, MFA);
      assert.deepEqual(claims2.amr, ['otp', 'mfa']);
    } finally {
      await second.context.close();
    }
  } finally {
    await first.context.close();
  }
});
