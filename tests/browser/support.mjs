// What the browser test files share: the headless Chromium they drive, the small application
// server that stands for a relying party, and the dev outbox the codes are read from.
import http from 'node:http';
import { chromium } from 'playwright-core';

/** The system Chromium (CHROMIUM_PATH, else /usr/bin/chromium), headless and quiet. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** An application on 127.0.0.1:`port`; by default it answers every request with a plain "app". */
export async function listen(port, handler = (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('app');
}) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(Number(port), '127.0.0.1', resolve));
  return server;
}

/** Stops a server from `listen` (none is fine). */
export const stop = (server) => new Promise((resolve) => (server ? server.close(resolve) : resolve()));

/** The newest message in `base`'s dev outbox that `predicate` accepts, waiting up to 10 s for it. */
export async function outbox(base, predicate) {
  for (let i = 0; i < 100; i++) {
    const messages = await (await fetch(`${base}/dev/outbox.json`)).json();
    const m = messages.find(predicate);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no such message in the outbox');
}

/** The 6-digit code of a message, looked for outside its links (a port or token has digits too). */
export const codeOf = (m) => m.text.replace(/https?:\/\/\S+/g, ' ').match(/\b(\d{6})\b/)[1];
