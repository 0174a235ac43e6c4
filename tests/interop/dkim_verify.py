"""Checks the DKIM signature (RFC 6376) of a raw message with dkimpy, taking the selector's public
key from the command line instead of DNS. Exit status 0 when the signature verifies.

    python3 tests/interop/dkim_verify.py MESSAGE.eml SELECTOR DOMAIN PUBLIC_KEY_BASE64
"""
import sys

import dkim


def main():
    path, selector, domain, public_key = sys.argv[1:5]
    expected = f"{selector}._domainkey.{domain}.".encode()

    def dnsfunc(name, timeout=5):
        if name != expected:
            print(f"unexpected DNS name {name!r}, wanted {expected!r}", file=sys.stderr)
            return None
        return b"v=DKIM1; k=rsa; p=" + public_key.encode()

    raw = open(path, "rb").read()
    if b"\nDKIM-Signature:" not in b"\n" + raw:
        print("no DKIM-Signature header", file=sys.stderr)
        sys.exit(2)
    ok = dkim.verify(raw, dnsfunc=dnsfunc)
    print("DKIM signature verifies" if ok else "DKIM signature does NOT verify")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
