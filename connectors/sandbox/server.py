"""The sandbox partner's HTTP server.

Partner endpoints, under any partner name (`/marketplace/…`, `/web/…`, `/wms/…`, `/erp/…`):

    POST /{partner}/availability        {"items": [{"sku", "location", "available", "version", …}]}
    POST /{partner}/documents/{type}    any JSON document
    GET  /{partner}/snapshot            {"as_of", "lines": [{"sku", "location", "on_hand"}]}
    GET  /{partner}/snapshot.csv        the same as CSV

Every POST must carry `Idempotency-Key`; a key seen before gets the first answer again
with `Idempotent-Replayed: true` and no second effect. Availability is applied by
`version`, so an older value arriving late does not overwrite a newer one.

The web shop's customers send some parcels back: with `returns` configured
(`{"api_url", "token", "partner"?: "web", "every"?: 5}`), every `every`-th shipment
accepted for that partner (`documents/shipment`, once per key) is followed by a return
authorisation for one unit of its first line, `POST {api_url}/api/v1/returns` with the
token (a web system's, scope `returns`) and an Idempotency-Key of its own, sent from a
background thread so the shipment's answer never waits for it. What came of each is in
`/_received` under "returns".

As the demo supplier it also sends: `POST /_supplier/asns` makes it announce a delivery
to RetailOps, the way a supplier's system does (below).

Control endpoints, for tests and demos:

    GET  /_received[?partner=P]   what was accepted (once per key), and counters
    GET  /_state                  the availability each partner holds now
    POST /_config                 {"latency_ms", "latency_ms_by_partner", "error_rate", "fail_next", "throttle_next",
                                   "retry_after", "rate_limit_per_second", "down", "seed",
                                   "snapshot": {"as_of", "lines"}, "snapshot_lag_seconds",
                                   "snapshot_variance_every", "snapshot_variance_units"}
                                  (merged into the config)
    POST /_reset                  forget everything, default config
    GET  /_health
    POST /_supplier/asns          {"api": RetailOps' base URL, "token": a `receipts` token,
                                   "asn": the notice (API.md "Supplier receipts")}: the
                                  supplier posts it to {api}/api/v1/asns with the token and an
                                  Idempotency-Key of its external id (a resend is safe), and
                                  answers {"status", "body"} as RetailOps answered it
    GET  /_supplier/sent          what the supplier sent, with each answer's status
"""

import csv
import io
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

logger = logging.getLogger("sandbox")

DEFAULT_CONFIG = {
    "latency_ms": 0.0,          # added to every partner request
    "latency_ms_by_partner": {},  # {partner: ms}: instead of latency_ms for that partner's requests
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
    "returns": None,            # {"api_url", "token", "partner", "every"}: the web shop's returns (above)
}
RETURN_REASONS = ["did not fit", "changed mind", "not as pictured", "arrived damaged"]


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
                           "dropped": 0, "stale_ignored": 0, "shipments": 0}
            self.returns: list[dict] = []  # the return authorisations asked for, and their answers
            self.recent_posts: deque[float] = deque()
            self.supplier_sent: list[dict] = []

    def configure(self, changes: dict) -> dict:
        with self.lock:
            unknown = sorted(set(changes) - set(DEFAULT_CONFIG))
            if unknown:
                raise ValueError(f"Unknown settings: {', '.join(unknown)}")
            self.config.update(changes)
            if "seed" in changes:
                self.random.seed(changes["seed"])
            shown = dict(self.config)
            if shown["returns"]:  # the token is the web shop's secret: not echoed
                shown["returns"] = {**shown["returns"], "token": "…"}
            return shown

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

    def return_for(self, partner: str, path: str, body: dict) -> tuple[dict, dict] | None:
        """Whether this newly accepted document brings a parcel back: (the returns
        settings, the authorisation to ask for), or None."""
        with self.lock:
            settings = self.config["returns"]
            if not settings or not path.endswith("/documents/shipment") or partner != settings.get("partner", "web"):
                return None
            self.counts["shipments"] += 1
            every = max(1, int(settings.get("every", 5)))
            lines = body.get("lines") or []
            if self.counts["shipments"] % every or not lines or body.get("order_id") is None:
                return None
            first = lines[0]
            order = body.get("order") or body["order_id"]
            authorisation = {
                "external_id": f"RA-{order}", "order": body["order_id"], "location": first["location"],
                "lines": [{"sku": first["sku"], "quantity": 1,
                           "reason": RETURN_REASONS[self.counts["shipments"] // every % len(RETURN_REASONS)]}],
            }
            return settings, authorisation

    def request_return(self, settings: dict, authorisation: dict) -> None:
        """Ask the app for the return authorisation, as the web shop would; record the answer."""
        url = settings["api_url"].rstrip("/") + "/api/v1/returns"
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"returns.api_url must be an http(s) address, not {url!r}")
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {settings['token']}",
                   "Idempotency-Key": f"sandbox-return-{authorisation['order']}"}
        request = urllib.request.Request(  # noqa: S310 (checked above: http or https only)
            url, data=json.dumps(authorisation).encode(), method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the configured app)
                status, answer = response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            status, answer = error.code, {"error": error.read()[:500].decode(errors="replace")}
        except OSError as error:
            status, answer = 0, {"error": str(error)}
        if status >= 400 or status == 0:
            logger.warning("return authorisation %s refused: %s %s", authorisation["external_id"], status, answer)
        with self.lock:
            self.returns.append({"request": authorisation, "status": status, "answer": answer})

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


SUPPLIER_TIMEOUT_SECONDS = 10


def supplier_send_asn(state: SandboxState, *, api: str, token: str, asn: dict) -> tuple[int, object]:
    """Play the demo supplier: announce a delivery to RetailOps through its partner API.
    Called outside the state's lock (it waits on the network)."""
    if urlparse(api).scheme not in ("http", "https"):
        raise ValueError("api must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        api.rstrip("/") + "/api/v1/asns", data=json.dumps(asn).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                 "Idempotency-Key": f"asn-{asn.get('external_id', '')}"[:255]})
    try:
        with urllib.request.urlopen(request, timeout=SUPPLIER_TIMEOUT_SECONDS) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as refused:  # RetailOps said no: pass its problem on
        status, raw = refused.code, refused.read()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = raw.decode(errors="replace")
    with state.lock:
        state.supplier_sent.append({"external_id": asn.get("external_id"), "status": status,
                                    "sent_at": time.time()})
    return status, body


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
                returns = list(state.returns)
            return self._send_json(200, {"received": received, "counts": counts, "returns": returns})
        if url.path == "/_supplier/sent":
            with state.lock:
                return self._send_json(200, {"sent": list(state.supplier_sent)})
        if url.path == "/_state":
            with state.lock:
                return self._send_json(200, {"availability": state.availability})
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[1] in ("snapshot", "snapshot.csv"):
            if state.config["down"]:
                return self._drop()
            self._wait(parts[0])
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
        if url.path == "/_supplier/asns":
            if not (isinstance(body, dict) and isinstance(body.get("api"), str) and isinstance(body.get("token"), str)
                    and isinstance(body.get("asn"), dict)):
                return self._send_json(400, {"error": "send {\"api\", \"token\", \"asn\"}"})
            try:
                status, answer = supplier_send_asn(state, api=body["api"], token=body["token"], asn=body["asn"])
            except ValueError as exc:
                return self._send_json(400, {"error": str(exc)})
            except (urllib.error.URLError, OSError) as exc:  # RetailOps did not answer
                return self._send_json(502, {"error": f"RetailOps did not answer: {exc}"})
            return self._send_json(200, {"status": status, "body": answer})
        parts = url.path.strip("/").split("/")
        if len(parts) < 2 or parts[1] not in ("availability", "documents"):
            return self._send_json(404, {"error": "not found"})
        partner = parts[0]
        key = self.headers.get("Idempotency-Key", "")
        if not key:
            return self._send_json(400, {"error": "Idempotency-Key is required"})
        self._wait(partner)
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
            comes_back = None if replayed or status >= 400 else state.return_for(partner, url.path, body)
        except (KeyError, TypeError, AttributeError) as exc:
            return self._send_json(400, {"error": f"malformed: {exc!r}"})
        if comes_back is not None:
            threading.Thread(target=state.request_return, args=comes_back, daemon=True,
                             name="sandbox-web-return").start()
        return self._send_json(status, answer, {"Idempotent-Replayed": "true"} if replayed else None)

    def _wait(self, partner: str | None = None) -> None:
        config = self.server.state.config
        latency = config["latency_ms_by_partner"].get(partner, config["latency_ms"])
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
