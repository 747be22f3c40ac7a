"""A webhook receiver for tests: a real HTTP server that keeps what it is sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """An HTTP server on a free port that keeps every POST and answers from a script:
    a status code per request (the last one repeats), or "hang" to never answer."""

    def __init__(self, script=(200,)):
        self.script, self.requests, self.release = list(script), [], threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                step = receiver.script[min(len(receiver.requests), len(receiver.script)) - 1]
                if step == "hang":
                    receiver.release.wait(30)
                    return
                self.send_response(step)
                self.end_headers()
                self.wfile.write(b"ok" if step < 300 else b"receiver broke")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
