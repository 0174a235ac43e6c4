// The browser SDK (static/ostiary.js) and the embeddable widget (static/widget.js), in headless
// Chromium, embedded in a page served from another origin, as an application would: CORS lets the
// registered origin call the API, the widget takes its options (channels, colour, logo, language),
// and a code from the outbox signs in. Started by tests/browser/run.sh (OSTIARY_URL, APP_PORT,
// WIDGET_CLIENT_ID).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { launchChromium, listen, stop } from './support.mjs';

const BASE = (process.env.OSTIARY_URL ?? '').replace(/\/+$/, '');
const APP_PORT = Number(process.env.APP_PORT);
const CLIENT_ID = process.env.WIDGET_CLIENT_ID;
const APP = `http://127.0.0.1:${APP_PORT}`;

let browser;
let app;

/** The application's page: loads the SDK and the widget from Ostiary with the given options. */
function page(options) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>App</title></head><body>
<div id="signin"></div><pre id="result"></pre>
<script src="${BASE}/static/ostiary.js"></script>
<script src="${BASE}/static/widget.js"></script>
<script>
  const options = ${JSON.stringify(options)};
  options.onSignIn = (tokens, claims) => {
    document.getElementById('result').textContent = JSON.stringify({ tokens, claims });
  };
  Ostiary.widget(document.getElementById('signin'), options);
</script></body></html>`;
}

before(async () => {
  assert.ok(BASE && APP_PORT && CLIENT_ID, 'run these tests with tests/browser/run.sh');
  app = await listen(APP_PORT, (req, res) => {
    const url = new URL(req.url, APP);
    const options = JSON.parse(url.searchParams.get('options') ?? '{}');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page({ domain: BASE, clientId: CLIENT_ID, ...options }));
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stop(app);
});

async function outboxCode(to) {
  for (let i = 0; i < 100; i++) {
    const messages = await (await fetch(`${BASE}/dev/outbox.json`)).json();
    const m = messages.find((x) => x.to === to);
    if (m) return m.text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no message to ${to}`);
}

const open = async (options) => {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${APP}/?options=${encodeURIComponent(JSON.stringify(options))}`);
  return { context, p };
};

test('the widget signs in by email from another origin, with its colour and logo', { timeout: 60_000 }, async () => {
  const { context, p } = await open({ primaryColor: '#0a7d5a', logo: `${BASE}/static/nothing.svg` });
  try {
    const email = `wid-${randomBytes(5).toString('hex')}@example.com`;
    const send = p.locator('.ostiary-widget form button[type=submit]');
    assert.equal(await send.evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(10, 125, 90)', 'primaryColor');
    assert.equal(await p.locator('.ostiary-widget img').getAttribute('src'), `${BASE}/static/nothing.svg`);
    assert.equal(await p.locator('.ostiary-widget .tabs button').count(), 2, 'email and SMS offered');
    await p.locator('#ostiary-email').fill(email);
    await send.click();
    await p.locator('#ostiary-code').waitFor({ state: 'visible' });
    // A wrong code is refused in words.
    await p.locator('#ostiary-code').fill('000000');
    await p.locator('.ostiary-widget button[type=submit]').click();
    await p.locator('.ostiary-widget .error').waitFor({ state: 'visible' });
    await p.locator('#ostiary-code').fill(await outboxCode(email));
    await p.locator('.ostiary-widget button[type=submit]').click();
    await p.locator('#result').filter({ hasText: 'id_token' }).waitFor();
    const { tokens, claims } = JSON.parse(await p.locator('#result').textContent());
    assert.ok(tokens.access_token && tokens.id_token);
    assert.equal(claims.email, email);
    assert.deepEqual(claims.amr, ['otp']);
  } finally {
    await context.close();
  }
});

test('the widget offers only the channels asked for, in the language asked for', { timeout: 60_000 }, async () => {
  const { context, p } = await open({ channels: ['sms'], language: 'fr' });
  try {
    assert.equal(await p.locator('.ostiary-widget h2').textContent(), 'Se connecter');
    assert.equal(await p.locator('#ostiary-email').count(), 0, 'no email field');
    const phone = `+447400${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
    await p.locator('#ostiary-phone').fill(phone);
    await p.locator('.ostiary-widget button[type=submit]').click();
    await p.locator('#ostiary-code').fill(await outboxCode(phone));
    await p.locator('.ostiary-widget button[type=submit]').click();
    await p.locator('#result').filter({ hasText: 'id_token' }).waitFor();
    const { claims } = JSON.parse(await p.locator('#result').textContent());
    assert.deepEqual(claims.amr, ['sms']);
    assert.equal(claims.phone_number, phone);
  } finally {
    await context.close();
  }
});

test('the SDK reaches the API only from registered origins (CORS)', { timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  try {
    const p = await context.newPage();
    // about:blank has an opaque origin: the browser must refuse to let it read the answer.
    await p.goto(`${APP}/?options=${encodeURIComponent('{}')}`);
    const allowed = await p.evaluate(async (base) => {
      const r = await fetch(`${base}/passwordless/start`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'nope', connection: 'email', email: 'x@example.com' }),
      });
      return r.status;
    }, BASE);
    assert.equal(allowed, 401, 'from the registered origin the answer is readable (an unknown client: 401)');
    const other = await context.newPage();
    await other.goto(`${BASE}/health`);
    await other.goto('data:text/html,<p>elsewhere</p>');
    const refused = await other.evaluate(async (base) => {
      try {
        await fetch(`${base}/passwordless/start`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
        });
        return 'read';
      } catch (e) {
        return 'blocked';
      }
    }, BASE);
    assert.equal(refused, 'blocked', 'another origin cannot call the API');
  } finally {
    await context.close();
  }
});
