// An example before_token hook receiver for Ostiary, with nothing but Node's standard library.
//
// It verifies each request's Standard Webhooks signature (webhook-id, webhook-timestamp,
// webhook-signature), refuses anything unsigned, badly signed or older than five minutes with 401,
// and answers before_token: users of @blocked.example are denied; everyone else gets a "plan" claim.
//
//     HOOK_SECRET=whsec_... PORT=9000 node receiver.mjs
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

const key = Buffer.from(process.env.HOOK_SECRET.replace(/^whsec_/, ''), 'base64');
const TOLERANCE = 5 * 60;

function verified(headers, body) {
  const id = headers['webhook-id'] ?? '';
  const timestamp = headers['webhook-timestamp'] ?? '';
  const signatures = (headers['webhook-signature'] ?? '').split(' ');
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE) return false;
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  const expected = Buffer.from(`v1,${mac}`);
  return signatures.some((s) => {
    const given = Buffer.from(s);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

function decide(event) {
  if (event.type !== 'before_token') return { decision: 'allow' };
  if ((event.user?.email ?? '').endsWith('@blocked.example')) {
    return { decision: 'deny', message: 'This address may not sign in here.' };
  }
  return { decision: 'allow', claims: { plan: 'gold' } };
}

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method !== 'POST' || !verified(req.headers, body)) {
        res.writeHead(401).end();
        return;
      }
      const answer = JSON.stringify(decide(JSON.parse(body.toString('utf8'))));
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
    });
  })
  .listen(Number(process.env.PORT ?? 9000), '127.0.0.1');
