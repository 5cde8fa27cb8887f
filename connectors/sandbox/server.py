"""The sandbox partner's HTTP server.

Partner endpoints, under any partner name (`/marketplace/…`, `/web/…`, `/wms/…`, `/erp/…`):

    POST /{partner}/availability        {"items": [{"sku", "location", "available", "version", …}]}
    POST /{partner}/documents/{type}    any JSON document
    GET  /{partner}/snapshot            {"as_of", "lines": [{"sku", "location", "on_hand"}]}
    GET  /{partner}/snapshot.csv        the same as CSV

Every POST must carry `Idempotency-Key`; a key seen before gets the first answer again
with `Idempotent-Replayed: true` and no second effect. Availability is applied by
`version`, so an older value arriving late does not overwrite a newer one.

Control endpoints, for tests and demos:

    GET  /_received[?partner=P]   what was accepted (once per key), and counters
    GET  /_state                  the availability each partner holds now
    POST /_config                 {"latency_ms", "error_rate", "fail_next", "throttle_next",
                                   "retry_after", "rate_limit_per_second", "down", "seed",
                                   "snapshot": {"as_of", "lines"}, "snapshot_lag_seconds",
                                   "snapshot_variance_every", "snapshot_variance_units"}
                                  (merged into the config)
    POST /_reset                  forget everything, default config
    GET  /_health
"""

import csv
import io
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

logger = logging.getLogger("sandbox")

DEFAULT_CONFIG = {
    "latency_ms": 0.0,          # added to every partner request
    "error_rate": 0.0,          # share of partner POSTs answered 500 at random
    "fail_next": 0,             # the next N partner POSTs are answered 500
    "throttle_next": 0,         # the next N partner POSTs are answered 429
    "retry_after": 1,           # Retry-After of those 429s, in seconds
    "rate_limit_per_second": 0,  # beyond this many POSTs in a second: 429 (0: no limit)
    "down": False,              # close every partner connection without an answer
    "seed": None,
    "snapshot": None,           # {"as_of", "lines"}; None: mirror the on_hand pushed to us
    # Drift of the mirrored snapshot, for reconciliation demos and tests:
    "snapshot_lag_seconds": 0,  # as of this long ago, with the on_hand held then (newer pushes: timing)
    "snapshot_variance_every": 0,  # every Nth line (by sku, location) is off by…
    "snapshot_variance_units": 1,  # …this many units: a true variance
}


class SandboxState:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = dict(DEFAULT_CONFIG)
            self.random = random.Random()
            self.received: list[dict] = []
            self.responses: dict[tuple[str, str], tuple[int, dict]] = {}
            self.availability: dict[str, dict[str, dict]] = {}
            # (wall time, item) per key as applied, so a lagging snapshot can state the past.
            self.applied_history: dict[str, list[tuple[float, dict]]] = {}
            self.counts = {"requests": 0, "accepted": 0, "duplicates": 0, "injected_errors": 0, "throttled": 0,
                           "dropped": 0, "stale_ignored": 0}
            self.recent_posts: deque[float] = deque()

    def configure(self, changes: dict) -> dict:
        with self.lock:
            unknown = sorted(set(changes) - set(DEFAULT_CONFIG))
            if unknown:
                raise ValueError(f"Unknown settings: {', '.join(unknown)}")
            self.config.update(changes)
            if "seed" in changes:
                self.random.seed(changes["seed"])
            return dict(self.config)

    def fault_for_post(self) -> tuple[str, int] | None:
        """Decide, under the lock, whether this POST meets an injected fault."""
        with self.lock:
            self.counts["requests"] += 1
            config = self.config
            if config["down"]:
                self.counts["dropped"] += 1
                return ("drop", 0)
            if config["throttle_next"] > 0:
                config["throttle_next"] -= 1
                self.counts["throttled"] += 1
                return ("throttle", config["retry_after"])
            limit = config["rate_limit_per_second"]
            if limit:
                now = time.monotonic()
                while self.recent_posts and self.recent_posts[0] < now - 1:
                    self.recent_posts.popleft()
                if len(self.recent_posts) >= limit:
                    self.counts["throttled"] += 1
                    return ("throttle", 1)
                self.recent_posts.append(now)
            if config["fail_next"] > 0:
                config["fail_next"] -= 1
                self.counts["injected_errors"] += 1
                return ("error", 500)
            if config["error_rate"] and self.random.random() < config["error_rate"]:
                self.counts["injected_errors"] += 1
                return ("error", 500)
        return None

    def accept(self, partner: str, path: str, key: str, body: dict, apply) -> tuple[int, dict, bool]:
        """Apply a POST once per (partner, key); a resend gets the first answer."""
        with self.lock:
            earlier = self.responses.get((partner, key))
            if earlier is not None:
                self.counts["duplicates"] += 1
                return (*earlier, True)
            status, answer = apply(partner, body)
            if status >= 400:  # refused: nothing was applied, a corrected resend may be
                return status, answer, False
            self.responses[(partner, key)] = (status, answer)
            self.counts["accepted"] += 1
            self.received.append({"partner": partner, "path": path, "idempotency_key": key, "body": body,
                                  "received_at": time.time()})
            return status, answer, False

    # Called under the lock by `accept`.
    def apply_availability(self, partner: str, body: dict) -> tuple[int, dict]:
        items = body.get("items")
        if not isinstance(items, list):
            return 400, {"error": "items must be a list"}
        held = self.availability.setdefault(partner, {})
        applied = 0
        for item in items:
            key = f"{item['sku']}|{item['location']}"
            current = held.get(key)
            if current is not None and current.get("version", 0) >= item.get("version", 0):
                self.counts["stale_ignored"] += 1
                continue
            held[key] = item
            self.applied_history.setdefault(key, []).append((time.time(), item))
            applied += 1
        return 200, {"applied": applied, "ignored": len(items) - applied}

    def apply_document(self, partner: str, body: dict) -> tuple[int, dict]:
        return 201, {"id": f"{partner}-doc-{self.counts['accepted'] + 1}"}

    def snapshot(self) -> dict:
        with self.lock:
            if self.config["snapshot"] is not None:
                return self.config["snapshot"]
            as_of = time.time() - float(self.config["snapshot_lag_seconds"])
            every, off_by = int(self.config["snapshot_variance_every"]), int(self.config["snapshot_variance_units"])
            merged: dict[str, dict] = {}
            for key, applied in self.applied_history.items():
                held_then = [item for applied_at, item in applied if applied_at <= as_of]
                if held_then:
                    merged[key] = max(held_then, key=lambda item: item.get("version", 0))
            lines = [{"sku": item["sku"], "location": item["location"], "on_hand": item.get("on_hand", 0)}
                     for item in merged.values()]
        lines.sort(key=lambda line: (line["sku"], line["location"]))
        if every:
            for line in lines[every - 1::every]:
                line["on_hand"] = max(0, line["on_hand"] + off_by)
        return {"as_of": datetime.fromtimestamp(as_of, UTC).isoformat(), "lines": lines}


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: with Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the headers (about 40 ms on Linux) on every
    # kept-alive connection, a stall no real partner has.
    disable_nagle_algorithm = True
    server: "SandboxServer"

    def log_message(self, format, *args):
        if self.server.verbose:
            logger.info("%s " + format, self.address_string(), *args)

    # --- helpers ---

    def _send_json(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str, content_type: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def _drop(self) -> None:
        """Downtime: the connection closes without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- routes ---

    def do_GET(self):
        url = urlparse(self.path)
        state = self.server.state
        if url.path == "/_health":
            return self._send_json(200, {"status": "ok"})
        if url.path == "/_received":
            partner = parse_qs(url.query).get("partner", [None])[0]
            with state.lock:
                received = [r for r in state.received if partner is None or r["partner"] == partner]
                counts = dict(state.counts)
            return self._send_json(200, {"received": received, "counts": counts})
        if url.path == "/_state":
            with state.lock:
                return self._send_json(200, {"availability": state.availability})
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[1] in ("snapshot", "snapshot.csv"):
            if state.config["down"]:
                return self._drop()
            self._wait()
            snapshot = state.snapshot()
            if parts[1] == "snapshot":
                return self._send_json(200, snapshot)
            out = io.StringIO()
            out.write(f"# as_of: {snapshot['as_of']}\n")
            writer = csv.DictWriter(out, fieldnames=["sku", "location", "on_hand"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(snapshot["lines"])
            return self._send_text(200, out.getvalue(), "text/csv")
        return self._send_json(404, {"error": "not found"})

    def do_POST(self):
        url = urlparse(self.path)
        state = self.server.state
        try:
            body = self._body()
        except (ValueError, UnicodeDecodeError):
            return self._send_json(400, {"error": "the body is not JSON"})
        if url.path == "/_config":
            try:
                return self._send_json(200, state.configure(body))
            except ValueError as exc:
                return self._send_json(400, {"error": str(exc)})
        if url.path == "/_reset":
            state.reset()
            return self._send_json(200, {"status": "reset"})
        parts = url.path.strip("/").split("/")
        if len(parts) < 2 or parts[1] not in ("availability", "documents"):
            return self._send_json(404, {"error": "not found"})
        partner = parts[0]
        key = self.headers.get("Idempotency-Key", "")
        if not key:
            return self._send_json(400, {"error": "Idempotency-Key is required"})
        self._wait()
        fault = state.fault_for_post()
        if fault is not None:
            kind, value = fault
            if kind == "drop":
                return self._drop()
            if kind == "throttle":
                return self._send_json(429, {"error": "slow down"}, {"Retry-After": str(value)})
            return self._send_json(500, {"error": "injected failure"})
        apply = state.apply_availability if parts[1] == "availability" else state.apply_document
        try:
            status, answer, replayed = state.accept(partner, url.path, key, body, apply)
        except (KeyError, TypeError, AttributeError) as exc:
            return self._send_json(400, {"error": f"malformed: {exc!r}"})
        return self._send_json(status, answer, {"Idempotent-Replayed": "true"} if replayed else None)

    def _wait(self) -> None:
        latency = self.server.state.config["latency_ms"]
        if latency:
            time.sleep(latency / 1000)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address=("127.0.0.1", 0), *, verbose: bool = False):
        self.state = SandboxState()
        self.verbose = verbose
        super().__init__(address, SandboxHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """Serve in a background thread (tests); stop with `server.shutdown(); server.server_close()`."""
    server = SandboxServer((host, port))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                     name="sandbox-partner").start()
    return server
