// The admin console in headless Chromium: an admin signs in through the hosted pages with a second
// factor (set up on the way), finds a user and changes their email address (the old address is
// told), blocks them (their refresh token then fails with invalid_grant), of two pages saving the
// same user the second gets the conflict page with both versions, and an IP block is lifted.
// Started by tests/browser/run.sh (OSTIARY_URL, ADMIN_EMAIL, ADMIN_APP_PORT, ADMIN_APP_CLIENT_ID,
// ADMIN_APP_CLIENT_SECRET).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { launchChromium, listen, outbox, stop } from './support.mjs';

const BASE = (process.env.OSTIARY_URL ?? '').replace(/\/+$/, '');
const ADMIN = process.env.ADMIN_EMAIL;
const CALLBACK = `http://127.0.0.1:${process.env.ADMIN_APP_PORT}/callback`;
const CLIENT_ID = process.env.ADMIN_APP_CLIENT_ID;
const CLIENT_SECRET = process.env.ADMIN_APP_CLIENT_SECRET;

let browser;
let app;

before(async () => {
  assert.ok(BASE && ADMIN && CLIENT_ID && CLIENT_SECRET, 'run these tests with tests/browser/run.sh');
  app = await listen(process.env.ADMIN_APP_PORT);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(app);
});

async function signInCode(to, seen) {
  const m = await outbox(BASE, (x) => x.to === to && !seen.has(x.id) && /sign-in code/.test(x.subject));
  seen.add(m.id);
  return m.text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)[1];
}

/** Types the address and the emailed code on the hosted login page the browser is on. */
async function firstFactor(page, email, seen) {
  await page.locator('#email').fill(email);
  await page.locator('form:has(#email) button[type="submit"]').click();
  await page.locator('#code').fill(await signInCode(email, seen));
  await page.locator('form:has(#code) button[type="submit"]').click();
}

/** A user of the test app signs in and gets tokens (a refresh token among them). */
async function appTokens(email, seen) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const url = new URL(`${BASE}/authorize`);
    const params = { response_type: 'code', client_id: CLIENT_ID, redirect_uri: CALLBACK, scope: 'openid email',
      state: randomBytes(8).toString('hex') };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    await page.goto(url.toString());
    await firstFactor(page, email, seen);
    await page.waitForURL((u) => u.toString().startsWith(CALLBACK));
    const code = new URL(page.url()).searchParams.get('code');
    const res = await fetch(`${BASE}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK,
        client_id: CLIENT_ID, client_secret: CLIENT_SECRET }).toString(),
    });
    const tokens = await res.json();
    assert.equal(res.status, 200, JSON.stringify(tokens));
    assert.ok(tokens.refresh_token, 'the test app always gets a refresh token');
    return tokens;
  } finally {
    await context.close();
  }
}

test('an admin signs in with a second factor, edits, blocks, and meets a conflict', { timeout: 120_000 }, async () => {
  const seen = new Set();
  const user = `member-${randomBytes(5).toString('hex')}@example.com`;
  const moved = `moved-${randomBytes(5).toString('hex')}@example.com`;
  const tokens = await appTokens(user, seen);

  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  try {
    // 1. The console sends the admin to the hosted login; step-up has them set up an app.
    const page = await context.newPage();
    await page.goto(`${BASE}/admin`);
    await firstFactor(page, ADMIN, seen);
    await page.waitForURL(/\/step-up\/[^/]+\/enroll$/);
    const secret = (await page.locator('#totp-secret').textContent()).replace(/\s+/g, '');
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
    await page.locator('#code').fill(totp.generate());
    await page.locator('form[action$="/enroll"] button[type="submit"]').click();
    await page.locator('#recovery-codes li').first().waitFor();
    await page.locator('form[action^="/authorize/resume/"] button').click();
    await page.waitForURL(`${BASE}/admin`);
    assert.match(await page.textContent('main'), new RegExp(ADMIN.replace(/[.]/g, '\\.')));

    // 2. Find the user and change their email address; the old address is told.
    await page.goto(`${BASE}/admin/users`);
    await page.locator('#q').fill(user.split('@')[0]);
    await page.locator('#user-search button').click();
    await page.locator(`#users a:has-text("${user}")`).click();
    const userPage = page.url();
    await page.locator('#email').fill(moved);
    await page.locator('#edit button[type="submit"]').click();
    await page.locator('#saved').waitFor();
    const notice = await outbox(BASE, (m) => m.to === user && /sign-in address changed/.test(m.subject));
    assert.match(notice.text, new RegExp(moved.replace(/[.]/g, '\\.')));

    // 3. Two pages open on the same user: the second save gets the conflict page, both versions.
    const other = await context.newPage();
    await other.goto(userPage);
    await page.goto(userPage);
    await page.locator('#name').fill('Saved first');
    await page.locator('#edit button[type="submit"]').click();
    await page.locator('#saved').waitFor();
    await other.locator('#name').fill('Saved second');
    await other.locator('#edit button[type="submit"]').click();
    await other.locator('#conflict').waitFor();
    const conflict = await other.textContent('#conflict');
    assert.match(conflict, /Changed by someone else since you opened it/);
    assert.match(conflict, /Saved first/);
    assert.match(conflict, /Saved second/);

    // 4. Block the user: their refresh token stops working at once.
    await page.goto(userPage);
    await page.locator('#block-reason').fill('reported stolen');
    await page.locator('#block').click();
    await page.locator('#blocked').waitFor();
    const res = await fetch(`${BASE}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token,
        client_id: CLIENT_ID, client_secret: CLIENT_SECRET }).toString(),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');

    // 5. Unblock an IP address from the security page.
    await page.goto(`${BASE}/admin/security`);
    await page.locator('button[data-ip="203.0.113.77"]').click();
    await page.waitForURL(`${BASE}/admin/security`);
    assert.equal(await page.locator('button[data-ip="203.0.113.77"]').count(), 0, 'the block is gone');
  } finally {
    await context.close();
  }
});
