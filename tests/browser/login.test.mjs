// End-to-end tests of Ostiary's passwordless email login, driven through a
// real headless Chromium (the Debian package at /usr/bin/chromium) with
// playwright-core. Start them with tests/browser/run.sh, which boots a fresh
// server and sets OSTIARY_URL.
//
// Environment:
//   OSTIARY_URL        base URL of a running server, e.g. http://127.0.0.1:8080 (required)
//   OSTIARY_ARTIFACTS  optional directory for screenshots
//   CHROMIUM_PATH      optional, defaults to /usr/bin/chromium

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.OSTIARY_URL ?? '').replace(/\/+$/, '');
if (!BASE) {
  throw new Error('OSTIARY_URL is not set. Run these tests with tests/browser/run.sh');
}
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = process.env.OSTIARY_ARTIFACTS || '';

const TEST_TIMEOUT_MS = 90_000;
const OUTBOX_TIMEOUT_MS = 10_000;
const OUTBOX_POLL_MS = 100;

/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function randomEmail() {
  return `ann+${randomBytes(6).toString('hex')}@example.com`;
}

// URL predicates for page.waitForURL (they receive a URL object).
const isDemoPage = (url) => url.pathname === '/demo';
const isLoginPage = (url) => /^\/login\/[^/]+$/.test(url.pathname);
const isCodePage = (url) => /^\/login\/[^/]+\/code$/.test(url.pathname);

/**
 * Runs `body` with a helper that opens fresh browser contexts (fresh cookies).
 * Every context is closed afterwards; on failure the URL and visible text of
 * every open page is printed (and screenshotted when OSTIARY_ARTIFACTS is set).
 */
async function scenario(t, body) {
  const contexts = [];
  const newContext = async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(20_000);
    contexts.push(context);
    return context;
  };
  try {
    await body(newContext);
  } catch (err) {
    const slug = t.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase();
    let n = 0;
    for (const [ci, context] of contexts.entries()) {
      for (const page of context.pages()) {
        n += 1;
        let text = '';
        try {
          text = (await page.locator('body').innerText({ timeout: 2_000 })).slice(0, 2_000);
        } catch (e) {
          text = `(could not read page text: ${e.message.split('\n')[0]})`;
        }
        console.error(`--- [${t.name}] context ${ci + 1}, page at ${page.url()} ---\n${text}\n---`);
        if (ARTIFACTS) {
          await screenshot(page, `FAILED-${slug}-${n}.png`).catch(() => {});
        }
      }
    }
    throw err;
  } finally {
    for (const context of contexts) {
      await context.close().catch(() => {});
    }
  }
}

async function screenshot(page, name) {
  if (!ARTIFACTS) return;
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
}

/** Demo relying party -> "Sign in" -> login page -> type email -> submit -> code page. */
async function startSignIn(page, email) {
  await page.goto(`${BASE}/demo`);
  await page.locator('form[action$="/demo/login"] button[type="submit"]').click();
  await page.waitForURL(isLoginPage);

  await page.locator('#email').fill(email);
  await page.locator('form:has(#email) button[type="submit"]').click();
  await page.waitForURL(isCodePage);
  await page.locator('#code').waitFor({ state: 'visible' });
}

/** Polls GET /dev/outbox.json until an email to `address` shows up; returns the newest one. */
async function waitForEmail(address) {
  const wanted = address.toLowerCase();
  const deadline = Date.now() + OUTBOX_TIMEOUT_MS;
  let messages = [];
  for (;;) {
    const res = await fetch(`${BASE}/dev/outbox.json`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200, `GET /dev/outbox.json answered ${res.status}, expected 200`);
    messages = await res.json();
    assert.ok(Array.isArray(messages), '/dev/outbox.json should return a JSON array');
    // Newest first, so the first match is the latest message to this address.
    const found = messages.find(
      (m) => m && m.channel === 'email' && [].concat(m.to ?? []).join(' ').toLowerCase().includes(wanted),
    );
    if (found) return found;
    if (Date.now() >= deadline) {
      const recipients = messages.map((m) => `${m?.channel}:${m?.to}`).join(', ') || 'none';
      assert.fail(
        `No email to ${address} appeared in /dev/outbox.json within ${OUTBOX_TIMEOUT_MS} ms ` +
          `(outbox holds ${messages.length} message(s): ${recipients})`,
      );
    }
    await sleep(OUTBOX_POLL_MS);
  }
}

/** Extracts the 6-digit code and the magic link from a sign-in email. */
function parseSignInEmail(message) {
  const text = String(message.text ?? '');
  const link = text.match(/https?:\/\/\S+\/login\/link\/[A-Za-z0-9_-]+/)?.[0];
  assert.ok(link, `sign-in email has no magic link (…/login/link/<token>). Text was:\n${text}`);
  // Look for the code outside URLs so digits in a port or token can't be mistaken for it.
  const code = text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)?.[1];
  assert.ok(code, `sign-in email has no 6-digit code. Text was:\n${text}`);
  assert.equal(
    new URL(link).origin,
    new URL(BASE).origin,
    `the magic link ${link} should point at the server under test (${BASE})`,
  );
  return { code, link };
}

async function submitCode(page, code) {
  await page.locator('#code').fill(code);
  await page.locator('form:has(#code) button[type="submit"]').click();
}

/** Asserts `page` ends on /demo showing the ID token claims for `email`; returns the claims. */
async function expectSignedIn(page, email) {
  await page.waitForURL(isDemoPage);
  const pre = page.locator('pre#claims');
  await pre.waitFor({ state: 'visible' });
  const text = (await pre.textContent()) ?? '';

  assert.match(text, new RegExp(`"email"\\s*:\\s*"${escapeRegExp(email)}"`), `claims should show the email ${email}:\n${text}`);
  assert.match(text, /"sub"\s*:/, `claims should include "sub":\n${text}`);
  assert.match(text, /"email_verified"\s*:\s*true/, `claims should include "email_verified": true:\n${text}`);

  let claims;
  try {
    claims = JSON.parse(text);
  } catch (e) {
    assert.fail(`#claims should contain JSON (${e.message}):\n${text}`);
  }
  assert.equal(claims.email, email);
  assert.equal(claims.email_verified, true);
  assert.ok(typeof claims.sub === 'string' && claims.sub.length > 0, `"sub" should be a non-empty string:\n${text}`);
  return { text, claims };
}

const continueButton = (page) => page.locator('button[type="submit"]', { hasText: /continue signing in/i });

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

test('signs in with the emailed 6-digit code', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  await scenario(t, async (newContext) => {
    const email = randomEmail();
    const page = await (await newContext()).newPage();

    await startSignIn(page, email);
    const { code } = parseSignInEmail(await waitForEmail(email));
    await submitCode(page, code);

    const { text, claims } = await expectSignedIn(page, email);
    assert.match(text, /"otp"/, `claims should show amr "otp":\n${text}`);
    assert.ok([].concat(claims.amr ?? []).includes('otp'), `amr should include "otp":\n${text}`);
    await screenshot(page, 'signed-in-with-code.png');
  });
});

test('signs in with the emailed magic link in the same browser', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  await scenario(t, async (newContext) => {
    const email = randomEmail();
    const context = await newContext();
    const page = await context.newPage();

    await startSignIn(page, email);
    const { link } = parseSignInEmail(await waitForEmail(email));

    const linkPage = await context.newPage();
    await linkPage.goto(link);
    const button = continueButton(linkPage);
    await button.waitFor({ state: 'visible' });
    await button.click();

    await expectSignedIn(linkPage, email);
    await screenshot(linkPage, 'signed-in-with-magic-link.png');
  });
});

test('a magic link approved on a phone signs in the waiting laptop, once the laptop\'s number is typed there', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  await scenario(t, async (newContext) => {
    const email = randomEmail();
    const laptop = await (await newContext()).newPage();

    await startSignIn(laptop, email);
    // No number to confuse with the code until the link is opened on another device.
    assert.equal(await laptop.locator('#approval').isHidden(), true, 'the number waits for the link to be opened elsewhere');
    const { link } = parseSignInEmail(await waitForEmail(email));

    // The phone has none of the laptop's cookies: it plays the other device.
    const phone = await (await newContext()).newPage();
    await phone.goto(link);
    // The laptop's page notices (login.js polls) and shows the number to type on the phone.
    await laptop.locator('#approval .match').waitFor({ state: 'visible' });
    const laptopNumber = (await laptop.locator('#approval .match').textContent()).trim();
    assert.match(laptopNumber, /^\d{2}$/, `the waiting page shows a two-digit number, got "${laptopNumber}"`);
    await screenshot(laptop, 'number-shown-once-the-link-is-opened-elsewhere.png');
    assert.equal(await phone.locator('.match').count(), 0, 'the number is shown only on the laptop');
    // Submitted as found (what a mail scanner does), the form approves nothing.
    await phone.locator('#number').evaluate((input) => input.removeAttribute('required'));
    await phone.locator('form[action="/login/link/approve"] button[type="submit"]').click();
    await phone.locator('#number-error').waitFor({ state: 'visible' });
    // The person types the number the laptop shows.
    await phone.locator('#number').fill(laptopNumber);
    await phone.locator('form[action="/login/link/approve"] button[type="submit"]').click();
    await phone.locator('h1', { hasText: /sign-in approved/i }).waitFor({ state: 'visible' });

    // The laptop's page notices on its own (login.js polls) and finishes signing in.
    const { claims, text } = await expectSignedIn(laptop, email);
    assert.ok([].concat(claims.amr ?? []).includes('otp'), `amr should include "otp":\n${text}`);
    await screenshot(laptop, 'signed-in-after-approval.png');

    // The phone got no session: the demo there still asks to sign in.
    await phone.goto(`${BASE}/demo`);
    assert.equal(await phone.locator('pre#claims').count(), 0, 'the approving device is not signed in');
  });
});

test('signs in with a texted code; a resend repeats it and the button counts down', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  await scenario(t, async (newContext) => {
    const phoneNumber = `+447400${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
    const page = await (await newContext()).newPage();
    await page.goto(`${BASE}/demo`);
    await page.locator('form[action$="/demo/login"] button[type="submit"]').click();
    await page.waitForURL(isLoginPage);
    // One page offers both: the phone field is there beside the email field.
    await page.locator('#email').waitFor({ state: 'visible' });
    // The country a number without its code is read in (the browser's language names the US) is
    // chosen beside the field, named in the page's language, its prefix first.
    assert.equal((await page.locator('#phone-region option:checked').textContent()).trim(), '+1 United States');
    await page.locator('#phone').fill(phoneNumber.replace(/^(\+44)(\d{4})/, '$1 $2 '));
    await page.locator('form:has(#phone) button[type="submit"]').click();
    await page.waitForURL(isCodePage);
    assert.match(await page.locator('h1').innerText(), /check your phone/i);
    // "Send it again" sends the same code; then the button waits, with a visible countdown (the
    // server allows two messages a minute to one number under run.sh).
    await page.locator('#resend-button').click();
    await page.locator('.notice').waitFor();
    assert.match(await page.locator('.notice').innerText(), /same code/);
    assert.equal(await page.locator('#resend-button').isDisabled(), true, 'resend waits');
    assert.match(await page.locator('#resend-wait').innerText(), /again in \d+ seconds/);

    let text = null;
    const deadline = Date.now() + OUTBOX_TIMEOUT_MS;
    while (!text && Date.now() < deadline) {
      const messages = await (await fetch(`${BASE}/dev/outbox.json`)).json();
      text = messages.find((m) => m.channel === 'sms' && m.to === phoneNumber)?.text ?? null;
      if (!text) await sleep(OUTBOX_POLL_MS);
    }
    assert.ok(text, `a text message to ${phoneNumber} arrives in the outbox`);
    const code = text.match(/\b(\d{6})\b/)[1];
    await submitCode(page, code);
    await page.waitForURL(isDemoPage);
    const claimsText = (await page.locator('pre#claims').textContent()) ?? '';
    const claims = JSON.parse(claimsText);
    assert.deepEqual(claims.amr, ['sms'], `amr is ["sms"]:\n${claimsText}`);
    assert.equal(claims.phone_number, phoneNumber);
    assert.equal(claims.phone_number_verified, true);
    await screenshot(page, 'signed-in-with-sms.png');
  });
});

test('pages send a strict CSP (frame-ancestors none) and Referrer-Policy: no-referrer', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  await scenario(t, async (newContext) => {
    const page = await (await newContext()).newPage();

    const assertSecurityHeaders = async (response, label) => {
      assert.ok(response, `${label}: no response`);
      assert.equal(response.status(), 200, `${label}: expected status 200, got ${response.status()}`);
      const headers = await response.allHeaders();
      const csp = headers['content-security-policy'];
      assert.ok(csp, `${label}: missing Content-Security-Policy header`);
      assert.match(csp, /(^|[;,\n])\s*frame-ancestors\s+'none'\s*([;,\n]|$)/i, `${label}: CSP should contain frame-ancestors 'none', got: ${csp}`);
      const referrerPolicy = headers['referrer-policy'];
      assert.ok(referrerPolicy, `${label}: missing Referrer-Policy header`);
      assert.ok(
        referrerPolicy.split(',').map((v) => v.trim().toLowerCase()).includes('no-referrer'),
        `${label}: Referrer-Policy should be no-referrer, got: ${referrerPolicy}`,
      );
    };

    await assertSecurityHeaders(await page.goto(`${BASE}/demo`), 'GET /demo');

    await page.locator('form[action$="/demo/login"] button[type="submit"]').click();
    await page.waitForURL(isLoginPage);
    await assertSecurityHeaders(await page.goto(page.url()), `GET ${new URL(page.url()).pathname} (login page)`);

    await page.locator('#email').fill(randomEmail());
    await page.locator('form:has(#email) button[type="submit"]').click();
    await page.waitForURL(isCodePage);
    await assertSecurityHeaders(await page.goto(page.url()), `GET ${new URL(page.url()).pathname} (code page)`);
  });
});

// OpenID Connect Session Management 1.0 §3.3: a relying party's page frames the
// check_session_iframe and posts "client_id session_state"; the iframe's script answers from
// the browser-state cookie. The RP page is served by the test itself (page routing), on the
// origin of the demo's redirect URI, which the session_state was computed for.
test('the check_session_iframe says unchanged until the user signs out, then changed', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  await scenario(t, async (newContext) => {
    const email = randomEmail();
    const context = await newContext();
    const page = await context.newPage();
    let clientId = '';
    let sessionState = '';
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/authorize') clientId = url.searchParams.get('client_id') ?? clientId;
      if (url.searchParams.get('session_state')) sessionState = url.searchParams.get('session_state');
    });
    await startSignIn(page, email);
    await submitCode(page, parseSignInEmail(await waitForEmail(email)).code);
    await expectSignedIn(page, email);
    assert.ok(clientId, 'the demo sent a client_id');
    assert.match(sessionState, /^[0-9a-f]{64}\.[A-Za-z0-9_-]+$/, `session_state in the authorization response: ${sessionState}`);

    await context.route(`${BASE}/test-rp-frame`, (route) => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><title>RP</title><iframe id="op" src="${BASE}/session/check"></iframe>`,
    }));
    const ask = async (message) => {
      await page.goto(`${BASE}/test-rp-frame`, { waitUntil: 'load' });
      return page.evaluate(({ message, origin }) => new Promise((resolve) => {
        window.addEventListener('message', (e) => { if (e.origin === origin) resolve(e.data); });
        document.getElementById('op').contentWindow.postMessage(message, origin);
      }), { message, origin: new URL(BASE).origin });
    };
    const [hash, salt] = sessionState.split('.');
    assert.equal(await ask(`${clientId} ${sessionState}`), 'unchanged');
    assert.equal(await ask(`${clientId} ${hash}.${salt}x`), 'changed', 'another salt');
    assert.equal(await ask(`another-client ${sessionState}`), 'changed', 'another client');
    assert.equal(await ask('no session state'), 'error');

    // Signing out (and confirming it) clears the browser state.
    await page.goto(`${BASE}/logout`);
    await page.locator('form[action$="/logout/confirm"] button[type="submit"]').click();
    await page.waitForLoadState('load');
    assert.equal(await ask(`${clientId} ${sessionState}`), 'changed', 'after sign-out');
  });
});
