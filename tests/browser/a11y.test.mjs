// Accessibility, measured: axe-core runs on every hosted page, in English and French, in light and
// dark mode, and no serious or critical violation is allowed (issue 16). The pages are reached the
// way people reach them: the demo's sign-in, a link opened on another device, a texted code and the
// wait before another, step-up with enrolment and by a code on the other channel, a link the API
// sent ("Switch account?"), an IP blocked after wrong codes and its unblock link, the account page
// with a change of address and its undo link, and the admin console (the passkey pages are audited
// in passkey.test.mjs). Started by tests/browser/run.sh (OSTIARY_URL, A11Y_APP_PORT, A11Y_CLIENT_ID,
// A11Y_BRANDED_ID, A11Y_API_ID, A11Y_ADMIN_EN/FR, A11Y_BLOCKED_EN/FR, A11Y_TWO_EN/FR, A11Y_PHONE_EN/FR).
//
// axe is evaluated through the DevTools protocol, so the pages keep their own CSP: what is audited is
// what a visitor's browser renders.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { Audit } from './axe.mjs';
import { codeOf, launchChromium, listen, outbox, stop } from './support.mjs';

const BASE = (process.env.OSTIARY_URL ?? '').replace(/\/+$/, '');
const CALLBACK = `http://127.0.0.1:${process.env.A11Y_APP_PORT}/callback`;
const CLIENT_ID = process.env.A11Y_CLIENT_ID;
const BRANDED_ID = process.env.A11Y_BRANDED_ID;
const ADMINS = { en: process.env.A11Y_ADMIN_EN, fr: process.env.A11Y_ADMIN_FR };
const API_ID = process.env.A11Y_API_ID;
const DEVICE_ID = process.env.A11Y_DEVICE_ID;
const BLOCKED = { en: process.env.A11Y_BLOCKED_EN, fr: process.env.A11Y_BLOCKED_FR };
const TWO = { en: [process.env.A11Y_TWO_EN, process.env.A11Y_PHONE_EN], fr: [process.env.A11Y_TWO_FR, process.env.A11Y_PHONE_FR] };
const LANGS = [{ lang: 'en', locale: 'en-GB' }, { lang: 'fr', locale: 'fr-FR' }];

let browser;
let app;

before(async () => {
  assert.ok(BASE && CLIENT_ID && BRANDED_ID && ADMINS.en && ADMINS.fr && API_ID && DEVICE_ID && BLOCKED.en && TWO.fr[1],
    'run these tests with tests/browser/run.sh');
  // The application's callback: it only has to load.
  app = await listen(process.env.A11Y_APP_PORT);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(app);
});

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

/** A code that is not `code`. */
const wrongFor = (code) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

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
      const waiting = (await sms.locator('[data-countdown]').count()) > 0;
      await audit.check(sms, waiting ? 'wait, counting down' : 'code, texted again');
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
    audit.done(19);
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

      // A new address: its confirmation code, then the old address's undo link.
      const fresh = email(`a11y-new-${lang}`);
      await page.goto(`${BASE}/account/email`);
      await page.locator('#value').fill(fresh);
      await page.locator('#new-value button[type="submit"]').click();
      await page.locator('#code-sent').waitFor();
      await audit.check(page, 'account, confirmation code');
      await page.locator('#code').fill(codeOf(await outbox(BASE, (m) => m.to === fresh && /code/.test(m.subject))));
      await page.locator('#confirm-code').click();
      await page.locator('#back').waitFor();
      await audit.check(page, 'account, address changed');
      const notice = await outbox(BASE, (m) => m.to === admin && /\/account\/undo\//.test(m.text));
      await page.goto(notice.text.match(/https?:\/\/\S+\/account\/undo\/\S+/)[0]);
      await page.locator('#undo').waitFor();
      await audit.check(page, 'account, undo');
      await page.locator('#undo').click();
      await page.locator('h1').waitFor();
      await audit.check(page, 'account, change undone');
    } finally {
      await page.context().close();
    }
    audit.done(20);
  });

  test(`questions, blocks and step-up by text and email have no serious accessibility violation (${lang})`,
    { timeout: 180_000 }, async () => {
      const audit = new Audit(lang);
      const page = await newPage(locale);
      try {
        // "Switch account?": this browser is signed in as one user and opens a link the API sent
        // for another (login CSRF is never silent).
        const own = email('dot');
        await page.goto(authorizeUrl(API_ID));
        await page.locator('#email').fill(own);
        await submit(page, 'email');
        await page.locator('#code').fill(codeOf(await outbox(BASE, (m) => m.to === own && /code/.test(m.subject))));
        await submit(page, 'code');
        await page.waitForURL((u) => u.toString().startsWith(CALLBACK));
        const other = email('eve');
        const verifier = randomBytes(32).toString('base64url');
        const started = await fetch(`${BASE}/passwordless/start`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'accept-language': locale },
          body: JSON.stringify({ client_id: API_ID, connection: 'email', email: other, send: 'link', authParams: {
            redirect_uri: CALLBACK, scope: 'openid email', state: 'a11y', code_challenge_method: 'S256',
            code_challenge: createHash('sha256').update(verifier).digest('base64url') } }),
        });
        assert.equal(started.status, 200, await started.text());
        await page.goto(linkOf(await outbox(BASE, (m) => m.to === other)));
        await page.locator('#link-account').waitFor();
        await audit.check(page, 'link sent by the API');
        await page.locator('form[action="/login/link"] button[type="submit"]').click();
        await page.locator('#switch-account').waitFor();
        await audit.check(page, 'switch account?');

        // A device's sign-in (RFC 8628): the code typed at /device, a wrong one first, then the
        // question, and its answer.
        const asked = await fetch(`${BASE}/device_authorization`, {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: DEVICE_ID, scope: 'openid email' }).toString(),
        });
        assert.equal(asked.status, 200, await asked.clone().text());
        const device = await asked.json();
        await page.goto(`${BASE}/device`);
        await page.locator('#user_code').fill('BCDF-GHJK');
        await page.locator('#device-form button[type="submit"]').click();
        await page.locator('#user_code[aria-invalid="true"]').waitFor();
        await audit.check(page, 'device, wrong code');
        await page.goto(device.verification_uri_complete);
        await audit.check(page, 'device, code');
        // This browser is signed in (above): straight to the question, which names the account.
        await page.locator('#device-form button[type="submit"]').click();
        await page.locator('#device-allow').waitFor();
        assert.match(await page.locator('#device-question').textContent(), new RegExp(own.replace('.', '\\.')));
        await audit.check(page, 'device, allow?');
        await page.locator('#device-allow').click();
        await page.locator('h1').waitFor();
        await audit.check(page, 'device, allowed');

        // Wrong codes against one account until its IP is blocked for it: the account's owner
        // gets a link whose page lifts the block.
        const blocked = BLOCKED[lang];
        const guesser = await newPage(locale);
        try {
          await guesser.goto(authorizeUrl(CLIENT_ID));
          await guesser.locator('#email').fill(blocked);
          await submit(guesser, 'email');
          const seen = new Set();
          for (let round = 0; round < 2; round++) {
            const m = await outbox(BASE, (x) => x.to === blocked && !seen.has(x.id) && /code/.test(x.subject));
            seen.add(m.id);
            for (let i = 0; i < 3 && (await guesser.locator('#code').count()) > 0; i++) {
              await guesser.locator('#code').fill(wrongFor(codeOf(m)));
              await submit(guesser, 'code');
              await guesser.waitForLoadState('load');
            }
            if (round === 0) {
              await guesser.locator('form[method="post"][action^="/login/"]:has(input[name="email"]) button').click();
              await guesser.locator('#code').waitFor();
            }
          }
          await audit.check(guesser, 'code spent, IP blocked');
        } finally {
          await guesser.context().close();
        }
        const unblock = await outbox(BASE, (m) => m.to === blocked && /\/unblock\//.test(m.text));
        await page.goto(unblock.text.match(/https?:\/\/\S+\/unblock\/\S+/)[0]);
        await page.locator('form[action="/unblock"] button[type="submit"]').waitFor();
        await audit.check(page, 'unblock');
        await page.locator('form[action="/unblock"] button[type="submit"]').click();
        await page.locator('h1').waitFor();
        await audit.check(page, 'unblocked');
      } finally {
        await page.context().close();
      }

      // Step-up by a code on the other channel: texted after an emailed sign-in code, emailed
      // after a texted one.
      const [address, phone] = TWO[lang];
      const byEmail = await newPage(locale);
      const byPhone = await newPage(locale);
      try {
        await byEmail.goto(authorizeUrl(CLIENT_ID));
        await byEmail.locator('#email').fill(address);
        await submit(byEmail, 'email');
        const first = await outbox(BASE, (m) => m.to === address && /code/.test(m.subject));
        await byEmail.locator('#code').fill(codeOf(first));
        await submit(byEmail, 'code');
        await byEmail.waitForURL(/\/step-up\/[^/]+$/);
        await byEmail.locator('#resend-button').waitFor();
        await audit.check(byEmail, 'step-up, by text');
        await byEmail.locator('#resend-button').click();
        await byEmail.locator('#other-code').waitFor();
        await audit.check(byEmail, 'step-up, code texted');

        await byPhone.goto(`${BASE}/demo`);
        await byPhone.locator('form[action$="/demo/login"] button[type="submit"]').click();
        const before = (await (await fetch(`${BASE}/dev/outbox.json`)).json()).map((m) => m.id);
        await byPhone.locator('#phone').fill(phone);
        await submit(byPhone, 'phone');
        const texted = await outbox(BASE, (m) => m.to === phone && !before.includes(m.id));
        await byPhone.locator('#code').fill(codeOf(texted));
        await submit(byPhone, 'code');
        await byPhone.waitForURL(/\/step-up\/[^/]+$/);
        await byPhone.locator('#resend-button').waitFor();
        await audit.check(byPhone, 'step-up, by email');
        await byPhone.locator('#resend-button').click();
        await byPhone.locator('#other-code').waitFor();
        await audit.check(byPhone, 'step-up, code emailed');
      } finally {
        await byEmail.context().close();
        await byPhone.context().close();
      }
      audit.done(13);
    });
}
