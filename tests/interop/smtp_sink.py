"""A real SMTP server for the delivery tests: aiosmtpd, saving each message's raw DATA bytes, as
received, to DIR/new/N.eml (a DKIM signature is checked over exactly those bytes).

    python3 tests/interop/smtp_sink.py HOST:PORT DIR
"""
import asyncio
import os
import sys

from aiosmtpd.controller import Controller


class RawSink:
    def __init__(self, directory):
        self.directory = os.path.join(directory, "new")
        os.makedirs(self.directory, exist_ok=True)
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.directory, f"{self.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    controller = Controller(RawSink(sys.argv[2]), hostname=host, port=int(port))
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
