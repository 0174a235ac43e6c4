#!/usr/bin/env python3
"""An example before_token hook receiver for Ostiary, with nothing but the standard library.

It verifies each request's Standard Webhooks signature (webhook-id, webhook-timestamp,
webhook-signature), refuses anything unsigned, badly signed or older than five minutes with 401,
and answers before_token: users of @blocked.example are denied; everyone else gets a "plan" claim.

    HOOK_SECRET=whsec_... PORT=9000 python3 receiver.py
"""
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["HOOK_SECRET"]
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
TOLERANCE = 5 * 60


def verified(headers, body: bytes) -> bool:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    try:
        if abs(time.time() - int(timestamp)) > TOLERANCE:
            return False
    except ValueError:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in signatures.split(" "))


def decide(event: dict) -> dict:
    if event.get("type") != "before_token":
        return {"decision": "allow"}
    email = (event.get("user") or {}).get("email") or ""
    if email.endswith("@blocked.example"):
        return {"decision": "deny", "message": "This address may not sign in here."}
    return {"decision": "allow", "claims": {"plan": "gold"}}


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(min(length, 1 << 20))
        if not verified(self.headers, body):
            self.send_response(401)
            self.end_headers()
            return
        answer = json.dumps(decide(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Hook).serve_forever()
