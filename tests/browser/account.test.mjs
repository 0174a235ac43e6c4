// The account page in headless Chromium: a user signs in to /account through the hosted login,
// changes their email address with the code sent to the new one, and the old address, told of it,
// puts it back with its undo link (which signs everyone out). Started by tests/browser/run.sh
// (OSTIARY_URL).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { codeOf, launchChromium, outbox } from './support.mjs';

const BASE = (process.env.OSTIARY_URL ?? '').replace(/\/+$/, '');

let browser;

before(async () => {
  assert.ok(BASE, 'run these tests with tests/browser/run.sh');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});


test('a user changes their email on /account with the code sent to the new address', { timeout: 90_000 }, async () => {
  const old = `owner-${randomBytes(5).toString('hex')}@example.com`;
  const fresh = `new-${randomBytes(5).toString('hex')}@example.com`;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`${msg.text()} ${msg.location().url}`); });
    page.on('response', (r) => { if (r.status() === 404) errors.push(`404 ${r.url()}`); });
    // Not signed in: the account page sends the browser through the hosted login.
    await page.goto(`${BASE}/account`);
    await page.locator('#email').fill(old);
    await page.locator('form:has(#email) button[type="submit"]').click();
    const signIn = await outbox(BASE, (m) => m.to === old && /sign-in code/.test(m.subject));
    await page.locator('#code').fill(codeOf(signIn));
    await page.locator('form:has(#code) button[type="submit"]').click();
    await page.waitForURL((u) => u.pathname === '/account');
    assert.match(await page.locator('#email').innerText(), new RegExp(old.replace('.', '\\.')));

    // The new address: a code goes to it, and nothing changes until it comes back.
    await page.locator('#change-email').click();
    await page.waitForURL((u) => u.pathname === '/account/email');
    await page.locator('#value').fill(fresh);
    await page.locator('#new-value button[type="submit"]').click();
    await page.locator('#code-sent').waitFor();
    const confirmation = await outbox(BASE, (m) => m.to === fresh && /confirmation code/.test(m.subject));
    await page.locator('#code').fill(codeOf(confirmation));
    await page.locator('#confirm-code').click();
    await page.getByText('Email address changed').waitFor();
    await page.goto(`${BASE}/account`);
    assert.match(await page.locator('#email').innerText(), new RegExp(fresh.replace('.', '\\.')));
    if (process.env.OSTIARY_ARTIFACTS) {
      await page.screenshot({ path: `${process.env.OSTIARY_ARTIFACTS}/account.png`, fullPage: true });
    }

    // The old address is told, with a link that puts it back; opening it changes nothing by itself.
    const notice = await outbox(BASE, (m) => m.to === old && /sign-in address changed/.test(m.subject));
    assert.ok(notice.text.includes(fresh), notice.text);
    const undo = notice.text.match(/https?:\/\/\S+\/account\/undo\/\S+/)[0];
    const other = await browser.newContext();
    try {
      const holder = await other.newPage();
      await holder.goto(undo);
      await holder.locator('#undo').click();
      await holder.getByText('Put back').first().waitFor();
    } finally {
      await other.close();
    }
    // Everyone was signed out, the browser that made the change included.
    await page.goto(`${BASE}/account`);
    await page.waitForURL((u) => u.pathname.startsWith('/login/'));
    // The browser's own request for /favicon.ico is the only 404 allowed.
    assert.deepEqual(errors.filter((e) => !e.includes('/favicon.ico')), [], 'no console errors (CSP violations among them)');
  } finally {
    await context.close();
  }
});
