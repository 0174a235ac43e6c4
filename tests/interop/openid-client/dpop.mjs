// DPoP (RFC 9449) with panva's openid-client v6, a certified relying-party library: a public client
// pushes its authorization request with a DPoP proof (RFC 9449 §10.1), redeems the code, reads
// /userinfo and refreshes, all with one key; the library answers the server's nonces (§8) itself.
//
// Driven by crates/server/tests/api/dpop.rs: this prints one JSON line with the URL to send the
// browser to, reads the URL the browser came back to on stdin, then prints one JSON line with what
// it got. ISSUER, CLIENT_ID and REDIRECT_URI come from the environment.
import readline from 'node:readline';
import * as client from 'openid-client';

const { ISSUER, CLIENT_ID, REDIRECT_URI } = process.env;
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

try {
  const config = await client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' },
    client.None(),
    { execute: [client.allowInsecureRequests] },
  );
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorize = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  }, { DPoP });
  console.log(JSON.stringify({ authorize: authorize.href }));

  const back = new URL(await nextLine());
  const tokens = await client.authorizationCodeGrant(
    config,
    back,
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce },
    undefined,
    { DPoP },
  );
  const { sub } = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  const again = await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP });
  console.log(JSON.stringify({
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    sub,
    userinfo,
    refreshed_token_type: refreshed.token_type,
    refreshed_access_token: refreshed.access_token,
    userinfo_after_refresh: again,
  }));
} catch (e) {
  console.log(JSON.stringify({ error: `${e.name}: ${e.message}`, cause: e.cause ?? null, code: e.code ?? null }));
  process.exitCode = 1;
} finally {
  lines.close();
}
