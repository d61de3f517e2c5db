"""Webhook + SMTP receivers for alert tests, run as their own process.

    python -m tests.receivers --http-port P --smtp-port Q --out DIR

Each webhook POST body is saved as DIR/webhook-<n>.json (a path ending in
/fail answers 503); each e-mail as DIR/mail-<n>.eml. Stop it by process group.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_counter = itertools.count()
_lock = threading.Lock()


def _next() -> int:
    with _lock:
        return next(_counter)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.endswith("/fail"):
                self.send_response(503)
                self.end_headers()
                return
            (out / f"webhook-{_next()}.json").write_bytes(body)
            self.send_response(204)
            self.end_headers()

        def do_GET(self) -> None:  # health
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    from aiosmtpd.controller import Controller

    class MailHandler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            (out / f"mail-{_next()}.eml").write_bytes(envelope.original_content or envelope.content)
            return "250 OK"

    smtp = Controller(MailHandler(), hostname="127.0.0.1", port=args.smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", args.http_port), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        while True:
            time.sleep(3600)
    finally:
        http.shutdown()
        smtp.stop()


if __name__ == "__main__":
    main()
