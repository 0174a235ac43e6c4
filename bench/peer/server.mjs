// node-oidc-provider 9, in memory (Maps, below), with one confidential client and a login
// that completes by itself: the peer `make bench-peer` puts under the same loads as Ostiary.
//
// The interaction URL ends the login and the consent at once for one fixed account, so a code flow
// is authorize -> interaction -> resume -> redirect to the client, with no page and no code to type.
// Refresh tokens are issued on every code exchange and rotated on every use, as Ostiary does.
//
// Environment: PEER_CLIENT_SECRET (required), PEER_REDIRECT_URI, PEER_ID_TOKEN_ALG (RS256, ES256 or
// EdDSA, as the benchmark's Ostiary client; default ES256), PORT (default: any free port).
// Prints "issuer http://127.0.0.1:PORT" on its first line once it listens.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const ACCOUNT_ID = 'bench-user';
const {
  PEER_CLIENT_SECRET: secret,
  PEER_REDIRECT_URI: redirectUri = 'http://127.0.0.1:9/callback',
  PEER_ID_TOKEN_ALG: alg = 'ES256',
} = process.env;
if (!secret) {
  console.error('PEER_CLIENT_SECRET is required');
  process.exit(2);
}

// A signing key of its own for the client's ID token algorithm, made at start.
const keyTypes = {
  RS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  EdDSA: ['ed25519', {}],
};
if (!keyTypes[alg]) {
  console.error(`PEER_ID_TOKEN_ALG must be RS256, ES256 or EdDSA, not ${alg}`);
  process.exit(2);
}
const { privateKey } = generateKeyPairSync(...keyTypes[alg]);
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg, kid: `bench-${alg.toLowerCase()}` };

const configuration = {
  clients: [{
    client_id: 'ostiary-bench',
    client_secret: secret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { email: ['email', 'email_verified'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
  },
  // Like Ostiary's `--refresh-tokens always`: every code exchange brings a refresh token...
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // ...and every refresh spends it for a new one.
  rotateRefreshToken: true,
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: `${sub}@example.com`, email_verified: true }),
  }),
};

// In memory, in plain Maps. The bundled development adapter keeps at most 1,000 entries (an LRU):
// under 64 refresh chains it dropped live refresh tokens (invalid_grant). Nothing here is evicted;
// expired entries are ignored when read, as a database adapter with a TTL index would.
const entries = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const sessionsByUid = new Map();
const grantMembers = new Map(); // grantId -> Set of entry keys
class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (this.model === 'Session') sessionsByUid.set(payload.uid, id);
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    const entry = entries.get(this.key(id));
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  }

  async findByUid(uid) {
    const id = sessionsByUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const entry = entries.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) entries.delete(key);
    grantMembers.delete(grantId);
  }
}
configuration.adapter = MapAdapter;

let provider;
let handle;

// The interaction "page": finishes the login, and the consent for every scope asked for, at once.
async function completeInteraction(req, res) {
  const { params } = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope ?? 'openid'));
  const grantId = await grant.save();
  const result = { login: { accountId: ACCOUNT_ID }, consent: { grantId } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    completeInteraction(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
    return;
  }
  handle(req, res);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, configuration);
  handle = provider.callback();
  console.log(`issuer ${issuer}`);
});
