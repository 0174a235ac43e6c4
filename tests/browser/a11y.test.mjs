// Accessibility, measured: axe-core runs on every hosted page, in English and French, in light and
// dark mode, and no serious or critical violation is allowed (issue 16). The pages are reached the
// way people reach them: the demo's sign-in, a link opened on another device, a texted code, step-up
// with enrolment, the account page and the admin console. Started by tests/browser/run.sh
// (OSTIARY_URL, A11Y_APP_PORT, A11Y_CLIENT_ID, A11Y_ADMIN_EN, A11Y_ADMIN_FR).
//
// axe is evaluated through the DevTools protocol, so the pages keep their own CSP: what is audited is
// what a visitor's browser renders.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as OTPAuth from 'otpauth';
import { codeOf, launchChromium, listen, outbox, stop } from './support.mjs';

const BASE = (process.env.OSTIARY_URL ?? '').replace(/\/+$/, '');
const CALLBACK = `http://127.0.0.1:${process.env.A11Y_APP_PORT}/callback`;
const CLIENT_ID = process.env.A11Y_CLIENT_ID;
const BRANDED_ID = process.env.A11Y_BRANDED_ID;
const ADMINS = { en: process.env.A11Y_ADMIN_EN, fr: process.env.A11Y_ADMIN_FR };
const ARTIFACTS = process.env.OSTIARY_ARTIFACTS || '';
const AXE = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// What fails the test: axe's two worst impact levels (https://github.com/dequelabs/axe-core/blob/develop/doc/issue_impact.md).
const FAILING = new Set(['serious', 'critical']);
const LANGS = [{ lang: 'en', locale: 'en-GB' }, { lang: 'fr', locale: 'fr-FR' }];

let browser;
let app;

before(async () => {
  assert.ok(BASE && CLIENT_ID && BRANDED_ID && ADMINS.en && ADMINS.fr, 'run these tests with tests/browser/run.sh');
  // The application's callback: it only has to load.
  app = await listen(process.env.A11Y_APP_PORT);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(app);
});

/** Collects every serious or critical violation of every page a test audits. */
class Audit {
  constructor(lang) {
    this.lang = lang;
    this.pages = [];
    this.problems = [];
  }

  /** Runs axe on the page as it is now, in light and then in dark mode. */
  async check(page, label) {
    await page.waitForLoadState('load');
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      const lang = await page.evaluate(() => document.documentElement.lang);
      assert.equal(lang, this.lang, `${label}: <html lang> is the visitor's language`);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      for (const v of result.violations.filter((x) => FAILING.has(x.impact))) {
        const where = v.nodes.map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`);
        this.problems.push(`${this.lang} ${scheme} — ${label} (${new URL(page.url()).pathname}): ${v.id} (${v.impact}) ${v.help}\n${where.join('\n')}`);
      }
      if (ARTIFACTS) {
        await mkdir(ARTIFACTS, { recursive: true });
        const name = `a11y-${this.lang}-${scheme}-${label.replace(/[^A-Za-z0-9]+/g, '-')}.png`;
        await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
      }
    }
    await page.emulateMedia({ colorScheme: null });
    this.pages.push(label);
  }

  done(expected) {
    assert.deepEqual(this.problems, [], `serious or critical accessibility violations:\n${this.problems.join('\n')}`);
    assert.ok(this.pages.length >= expected, `${this.pages.length} pages audited: ${this.pages.join(', ')}`);
  }
}

async function newPage(locale) {
  const context = await browser.newContext({ locale });
  context.setDefaultTimeout(15_000);
  return context.newPage();
}

/** An authorization request of `clientId` to the accessibility app's callback, with PKCE. */
function authorizeUrl(clientId) {
  const url = new URL(`${BASE}/authorize`);
  const verifier = randomBytes(32).toString('base64url');
  const params = { response_type: 'code', client_id: clientId, redirect_uri: CALLBACK, scope: 'openid email',
    state: randomBytes(8).toString('hex'), code_challenge_method: 'S256',
    code_challenge: createHash('sha256').update(verifier).digest('base64url') };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

const linkOf = (m) => m.text.match(/https?:\/\/\S+\/login\/link\/[A-Za-z0-9_-]+/)[0];
const email = (who) => `${who}-${randomBytes(5).toString('hex')}@example.com`;
const submit = (page, field) => page.locator(`form:has(#${field}) button[type="submit"]`).first().click();

for (const { lang, locale } of LANGS) {
  test(`sign-in pages have no serious accessibility violation (${lang})`, { timeout: 180_000 }, async () => {
    const audit = new Audit(lang);
    const laptop = await newPage(locale);
    const phone = await newPage(locale);
    try {
      await laptop.goto(`${BASE}/demo`);
      await audit.check(laptop, 'demo, signed out');
      await laptop.locator('form[action$="/demo/login"] button[type="submit"]').click();
      await laptop.locator('#email').waitFor();
      await audit.check(laptop, 'login');

      const ann = email('ann');
      await laptop.locator('#email').fill(ann);
      await submit(laptop, 'email');
      await laptop.locator('#code').waitFor();
      await audit.check(laptop, 'code');
      const message = await outbox(BASE, (m) => m.to === ann && /code/.test(m.subject + m.text));
      await laptop.locator('#code').fill(codeOf(message) === '000000' ? '111111' : '000000');
      await submit(laptop, 'code');
      await laptop.locator('#code[aria-invalid="true"]').waitFor();
      await audit.check(laptop, 'code, wrong');

      // The link opened on another device: the laptop shows the number to type there.
      await phone.goto(linkOf(message));
      await phone.locator('#number').waitFor();
      await audit.check(phone, 'link opened on another device');
      await laptop.locator('#approval .match').waitFor({ state: 'visible' });
      await audit.check(laptop, 'code, number shown');
      await phone.locator('#number').fill((await laptop.locator('#approval .match').textContent()).trim());
      await phone.locator('form[action="/login/link/approve"] button[type="submit"]').click();
      await phone.locator('h1').waitFor();
      await audit.check(phone, 'sign-in approved');
      await laptop.locator('pre#claims').waitFor();
      await audit.check(laptop, 'demo, signed in');

      // Signing out of the demo signs out of the provider too (RP-initiated logout; its ID token
      // names the session, so no question is asked).
      await laptop.locator('form[action="/demo/logout"] button[type="submit"]').click();
      await laptop.locator('form[action$="/demo/login"]').waitFor();
      // A logout without an ID token asks first, and ends on the signed-out page.
      await laptop.goto(`${BASE}/logout`);
      await audit.check(laptop, 'sign out?');
      await laptop.locator('form[action="/logout/confirm"] button[type="submit"]').click();
      await laptop.waitForURL((u) => u.pathname === '/logout/confirm');
      await audit.check(laptop, 'signed out');

      // The same address again, its link opened in the same browser.
      const seen = (await (await fetch(`${BASE}/dev/outbox.json`)).json()).map((m) => m.id);
      await laptop.goto(`${BASE}/demo`);
      await laptop.locator('form[action$="/demo/login"] button[type="submit"]').click();
      await laptop.locator('#email').fill(ann);
      await submit(laptop, 'email');
      await laptop.locator('#code').waitFor();
      const again = await outbox(BASE, (m) => m.to === ann && !seen.includes(m.id));
      const tab = await laptop.context().newPage();
      await tab.goto(linkOf(again));
      await tab.locator('button[type="submit"]').first().waitFor();
      await audit.check(tab, 'link, same browser');
      await tab.close();

      // A texted code, and its resend.
      const sms = await newPage(locale);
      await sms.goto(`${BASE}/demo`);
      await sms.locator('form[action$="/demo/login"] button[type="submit"]').click();
      await sms.locator('#phone').fill(`+447400${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`);
      await submit(sms, 'phone');
      await sms.locator('#code').waitFor();
      await sms.locator('#resend-button').click();
      await sms.locator('.notice').waitFor();
      await audit.check(sms, 'code, texted, resent');
      // Wrong codes until the code is spent: the page says how to get a new one.
      for (let i = 0; i < 5 && (await sms.locator('#code').count()) > 0; i++) {
        await sms.locator('#code').fill('000000');
        await submit(sms, 'code');
        await sms.waitForLoadState('load');
      }
      // Its button sends a new code to the same number (here the send limit answers first: the
      // wait page, which counts down).
      const sendAgain = sms.locator('form[method="post"][action^="/login/"]:has(input[name="phone"]) button');
      await sendAgain.waitFor();
      await audit.check(sms, 'code, spent');
      await sendAgain.click();
      await sms.locator('#code, [data-countdown]').first().waitFor();
      await sms.context().close();

      // Dead ends: an unknown client, a used link, unknown unblock and "this wasn't me" links.
      await laptop.goto(`${BASE}/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fexample.com%2F`);
      await audit.check(laptop, 'error');
      await laptop.goto(linkOf(message));
      await audit.check(laptop, 'link, already used');
      await laptop.goto(`${BASE}/unblock/${'x'.repeat(43)}`);
      await audit.check(laptop, 'unblock, unknown link');
      await laptop.goto(`${BASE}/not-me/${'x'.repeat(43)}`);
      await audit.check(laptop, 'this was not me, unknown link');
      await laptop.goto(`${BASE}/dev/outbox`);
      await audit.check(laptop, 'dev outbox');
    } finally {
      await laptop.context().close();
      await phone.context().close();
    }
    audit.done(18);
  });

  test(`step-up pages have no serious accessibility violation (${lang})`, { timeout: 180_000 }, async () => {
    const audit = new Audit(lang);
    const who = email('bea');
    const seen = new Set();
    const signIn = async () => {
      const page = await newPage(locale);
      await page.goto(authorizeUrl(CLIENT_ID));
      await page.locator('#email').fill(who);
      await submit(page, 'email');
      const m = await outbox(BASE, (x) => x.to === who && !seen.has(x.id) && /code/.test(x.subject));
      seen.add(m.id);
      await page.locator('#code').fill(codeOf(m));
      await submit(page, 'code');
      return page;
    };
    const first = await signIn();
    let second;
    try {
      await first.waitForURL(/\/step-up\/[^/]+\/enroll$/);
      await audit.check(first, 'authenticator set-up');
      const secret = (await first.locator('#totp-secret').textContent()).replace(/\s+/g, '');
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
      await first.locator('#code').fill('000000');
      await first.locator('form[action$="/enroll"] button[type="submit"]').click();
      await first.locator('.error').first().waitFor();
      await audit.check(first, 'authenticator set-up, wrong code');
      await first.locator('#code').fill(totp.generate());
      await first.locator('form[action$="/enroll"] button[type="submit"]').click();
      await first.locator('#recovery-codes li').first().waitFor();
      await audit.check(first, 'recovery codes');
      await first.locator('form[action^="/authorize/resume/"] button').click();
      await first.waitForURL((u) => u.toString().startsWith(CALLBACK));

      // A new browser is a new device: step-up asks for the app's code.
      second = await signIn();
      await second.waitForURL(/\/step-up\/[^/]+$/);
      await audit.check(second, 'step-up');
      // One factor at a time: the recovery code is under "Try another way".
      assert.equal(await second.locator('#recovery').count(), 0, 'the recovery code waits to be picked');
      await second.locator('#other-ways summary').click();
      await second.locator('#other-ways a[href$="factor=recovery_code"]').click();
      await second.locator('#recovery').waitFor();
      await audit.check(second, 'step-up, recovery code');
      await second.locator('#other-ways summary').click();
      await second.locator('#other-ways a[href$="factor=totp"]').click();
      await second.locator('#totp').fill('000000');
      await second.locator('#totp-form button[type="submit"]').click();
      await second.locator('#step-error').waitFor();
      await audit.check(second, 'step-up, wrong code');
      await second.locator('#totp').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
      await second.locator('#totp-form button[type="submit"]').click();
      await second.waitForURL((u) => u.toString().startsWith(CALLBACK));

      // The sign-in from a new device was told by email, with a "this wasn't me" link.
      const told = await outbox(BASE, (m) => m.to === who && /\/not-me\//.test(m.text));
      await second.goto(told.text.match(/https?:\/\/\S+\/not-me\/\S+/)[0]);
      await audit.check(second, 'this was not me');
    } finally {
      await first.context().close();
      await second?.context().close();
    }
    audit.done(7);
  });

  test(`a client's branded pages have no serious accessibility violation (${lang})`, { timeout: 120_000 }, async () => {
    const audit = new Audit(lang);
    const who = email('cy');
    const page = await newPage(locale);
    const phone = await newPage(locale);
    try {
      await page.goto(authorizeUrl(BRANDED_ID));
      await page.locator('#email').waitFor();
      assert.match(await page.content(), /Acme Travel/, 'the login page carries the brand');
      await audit.check(page, 'branded login');
      await page.locator('#email').fill(who);
      await submit(page, 'email');
      await page.locator('#code').waitFor();
      await audit.check(page, 'branded code');
      const m = await outbox(BASE, (x) => x.to === who && /code/.test(x.subject));
      await page.locator('#code').fill(codeOf(m) === '000000' ? '111111' : '000000');
      await submit(page, 'code');
      await page.locator('#code[aria-invalid="true"]').waitFor();
      await audit.check(page, 'branded code, wrong');
      await page.locator('#code').fill(codeOf(m));
      await submit(page, 'code');
      await page.waitForURL(/\/step-up\/[^/]+\/enroll$/);
      assert.match(await page.content(), /Acme Travel/, 'enrolment keeps the brand');
      await audit.check(page, 'branded authenticator set-up');
      // The email's link, now spent, opened on another device: an error page, no dead end.
      await phone.goto(linkOf(m));
      await audit.check(phone, 'branded link, already used');
    } finally {
      await page.context().close();
      await phone.context().close();
    }
    audit.done(5);
  });

  test(`account and admin pages have no serious accessibility violation (${lang})`, { timeout: 180_000 }, async () => {
    const audit = new Audit(lang);
    const admin = ADMINS[lang];
    const page = await newPage(locale);
    try {
      await page.goto(`${BASE}/admin`);
      await page.locator('#email').fill(admin);
      await submit(page, 'email');
      await page.locator('#code').fill(codeOf(await outbox(BASE, (m) => m.to === admin && /code/.test(m.subject))));
      await submit(page, 'code');
      await page.waitForURL(/\/step-up\/[^/]+\/enroll$/);
      const secret = (await page.locator('#totp-secret').textContent()).replace(/\s+/g, '');
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
      await page.locator('#code').fill(totp.generate());
      await page.locator('form[action$="/enroll"] button[type="submit"]').click();
      await page.locator('form[action^="/authorize/resume/"] button').click();
      await page.waitForURL(`${BASE}/admin`);
      await audit.check(page, 'admin home');
      await page.goto(`${BASE}/admin/users`);
      await audit.check(page, 'admin users');
      await page.locator('#q').fill(admin.split('@')[0]);
      await page.locator('#user-search button').click();
      await page.locator(`#users a:has-text("${admin}")`).click();
      await page.locator('#edit').waitFor();
      await audit.check(page, 'admin user');
      const userPage = page.url();
      await page.goto(`${userPage}/activity`);
      await audit.check(page, 'admin user activity');
      await page.goto(`${BASE}/admin/clients`);
      await audit.check(page, 'admin clients');
      await page.locator('main a[href^="/admin/clients/"]').first().click();
      await page.waitForURL(/\/admin\/clients\/[^/]+$/);
      await audit.check(page, 'admin client');
      for (const [p, label] of [['security', 'admin security'], ['audit', 'admin audit'], ['webhooks', 'admin webhooks']]) {
        await page.goto(`${BASE}/admin/${p}`);
        await audit.check(page, label);
      }

      await page.goto(`${BASE}/account`);
      await page.waitForURL(`${BASE}/account`);
      await audit.check(page, 'account');
      for (const [p, label] of [['email', 'account, change email'], ['phone', 'account, change phone'],
        ['delete', 'account, delete']]) {
        await page.goto(`${BASE}/account/${p}`);
        await audit.check(page, label);
      }
      await page.goto(`${BASE}/account`);
      await page.locator('#renew-codes').click();
      await page.locator('#back').waitFor();
      await audit.check(page, 'account, new recovery codes');
      await page.goto(`${BASE}/account`);
      await page.locator('#remove-authenticator').click();
      await page.locator('h1').waitFor();
      await audit.check(page, 'account, authenticator removed');
      // A message page is no dead end: it leads back to the account.
      await page.locator('#back').click();
      await page.locator('#add-authenticator').click();
      await page.locator('#totp-secret').waitFor();
      await audit.check(page, 'account, authenticator set-up');
    } finally {
      await page.context().close();
    }
    audit.done(16);
  });
}
