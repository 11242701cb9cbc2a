"""A real browser for the tests: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading

import pytest

# Debian's chromium; CHROMIUM_PATH points elsewhere (GitHub's runners have Chrome).
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium():
    """Skip locally without a browser; in CI a missing browser is a failure."""
    if os.path.exists(CHROMIUM):
        return
    message = (
        "the browser tests need Chromium: `apt-get install chromium` (Debian); "
        "Playwright drives it, so never run `playwright install`"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder):
    """Serve `folder` on 127.0.0.1 in a thread; returns (base_url, server)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server
