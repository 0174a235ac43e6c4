"""Signs in to a running Ostiary with Python's authlib as the relying party, independent of the Rust
`openidconnect` crate: discovery, authorization request with PKCE (S256) and nonce, the hosted
pages driven over HTTP (email, code from the dev outbox), code exchange with client_secret_basic,
ID token validated against the JWKS (signature, iss, aud, nonce, exp), userinfo.

Environment: OSTIARY_URL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, EMAIL.
With REGISTRATION_TOKEN set instead of CLIENT_ID and CLIENT_SECRET, the script makes itself a P-256
key, registers as a private_key_jwt client (RFC 7591, the public key in `jwks`), and authenticates
at the token endpoint with authlib's signed client assertions (RFC 7523).
Prints the validated ID token claims and userinfo as JSON; exits non-zero on any failure.
"""

import json
import os
import re
import sys
import time
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc7523 import PrivateKeyJWT

base = os.environ["OSTIARY_URL"]
redirect_uri = os.environ["REDIRECT_URI"]
email = os.environ["EMAIL"]

meta = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == base, meta["issuer"]
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())

if os.environ.get("REGISTRATION_TOKEN"):
    try:
        # authlib 1.7 and later sign client assertions with joserfc's keys.
        from joserfc.jwk import ECKey

        key = ECKey.generate_key("P-256", parameters={"kid": "authlib-1"})
        public, signer = key.as_dict(private=False), key
    except ImportError:
        key = JsonWebKey.generate_key("EC", "P-256", is_private=True, options={"kid": "authlib-1"})
        public, signer = key.as_dict(is_private=False), key.as_dict(is_private=True)
    registered = requests.post(
        meta["registration_endpoint"],
        headers={"Authorization": "Bearer " + os.environ["REGISTRATION_TOKEN"]},
        json={
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [public]},
        },
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    rp = OAuth2Session(
        client_id,
        signer,
        scope="openid email",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="private_key_jwt",
    )
    rp.register_client_auth_method(PrivateKeyJWT(meta["token_endpoint"], alg="ES256"))
else:
    client_id = os.environ["CLIENT_ID"]
    rp = OAuth2Session(
        client_id,
        os.environ["CLIENT_SECRET"],
        scope="openid email",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
nonce = generate_token(20)
code_verifier = generate_token(48)
auth_url, state = rp.create_authorization_url(meta["authorization_endpoint"], nonce=nonce, code_verifier=code_verifier)

# The user's browser: a cookie-keeping session that follows redirects one by one.
browser = requests.Session()


def go(url, data=None):
    resp = browser.post(url, data=data, allow_redirects=False, timeout=10) if data else browser.get(url, allow_redirects=False, timeout=10)
    return resp


def csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


resp = go(auth_url)
assert resp.status_code == 303, resp.status_code
login = urljoin(base, resp.headers["location"])
page = go(login)
resp = go(login, {"csrf": csrf(page.text), "email": email})
assert resp.status_code == 303, resp.text
code_page = urljoin(base, resp.headers["location"])

code = None
for _ in range(400):
    for message in requests.get(base + "/dev/outbox.json", timeout=10).json():
        if message["to"] == email:
            code = re.search(r"^\s*(\d{6})\s*$", message["text"], re.M).group(1)
            break
    if code:
        break
    time.sleep(0.025)
assert code, "no sign-in email arrived"

page = go(code_page)
resp = go(code_page, {"csrf": csrf(page.text), "code": code})
assert resp.status_code == 303, resp.text
# Step-up (nothing more to prove here), then the authorization server's resume.
resp = go(urljoin(base, resp.headers["location"]))
assert resp.status_code == 303 and "/authorize/resume/" in resp.headers["location"], resp.text
resp = go(urljoin(base, resp.headers["location"]))
assert resp.status_code == 303, resp.text
callback = resp.headers["location"]
query = parse_qs(urlparse(callback).query)
assert query["state"] == [state], "state mismatch"
assert query["iss"] == [base], "RFC 9207 iss mismatch"

token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=code_verifier)
claims = jwt.decode(
    token["id_token"],
    jwks,
    claims_options={
        "iss": {"essential": True, "value": base},
        "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
        "sub": {"essential": True},
    },
)
claims.validate()
userinfo = rp.get(meta["userinfo_endpoint"], timeout=10).json()
assert userinfo["sub"] == claims["sub"], (userinfo, dict(claims))
print(json.dumps({"id_token": dict(claims), "userinfo": userinfo}))
