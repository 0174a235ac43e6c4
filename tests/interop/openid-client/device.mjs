// The Device Authorization Grant (RFC 8628) with panva's openid-client v6, as a public client
// with DPoP: it asks for codes, prints them (one JSON line) for the user to type at /device, then
// polls the token endpoint as the library does, and reads /userinfo with what it gets (one JSON
// line). Driven by crates/server/tests/api/device.rs; ISSUER and CLIENT_ID come from the
// environment.
import * as client from 'openid-client';

const { ISSUER, CLIENT_ID } = process.env;

try {
  const config = await client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    { token_endpoint_auth_method: 'none' },
    client.None(),
    { execute: [client.allowInsecureRequests] },
  );
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const device = await client.initiateDeviceAuthorization(config, { scope: 'openid email' });
  console.log(JSON.stringify(device));
  const tokens = await client.pollDeviceAuthorizationGrant(config, device, undefined, {
    DPoP,
    signal: AbortSignal.timeout(60_000),
  });
  const { sub } = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
  console.log(JSON.stringify({ token_type: tokens.token_type, sub, userinfo }));
} catch (e) {
  console.log(JSON.stringify({ error: `${e.name}: ${e.message}`, code: e.code ?? null, cause: e.cause ?? null }));
  process.exitCode = 1;
}
