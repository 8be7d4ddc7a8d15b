"""An in-process fake of the few Stripe API calls the clinic uses, in Stripe's documented JSON
shapes, so the official `stripe` library can be tested without the internet.

- `POST /v1/customers`, `POST /v1/checkout/sessions` (`mode=payment` or `mode=setup`),
  `GET /v1/checkout/sessions/{id}`, `GET /v1/setup_intents/{id}` (`expand[]=payment_method`),
  `GET /v1/payment_methods/{id}`, `POST /v1/payment_intents` (off-session, confirmed at once;
  a payment method in `declines` is refused as Stripe refuses a card, 402 `card_declined`),
  `POST /v1/refunds`, `GET /v1/balance_transactions`: form-encoded requests as the library sends
  them, answered as Stripe answers them; an `Idempotency-Key` seen before returns the first
  answer (as Stripe does for 24 h).
- A hosted payment page at `GET /pay/{session_id}` with a "Pay" button (what Stripe Checkout is
  to the patient; "Save card" for a set-up session, which then carries a SetupIntent whose
  PaymentMethod is a Visa ending 4242, expiring 12/2030), which completes the session and sends
  `checkout.session.completed` to the webhook URL, signed the way Stripe signs
  (`t=<unix time>,v1=<HMAC-SHA256 of "t.payload">`), then redirects to the session's success URL.

Tests can also build and sign events themselves (`event`, `sign`) to replay, reorder or forge."""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_test_{next(_ids):08d}"


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`line_items[0][price_data][unit_amount]=100` → nested dicts and lists, as Stripe reads."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _lists(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def sign(payload: bytes, secret: str, *, at: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for this payload."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class FakeStripe:
    webhook_secret: str
    webhook_url: str = ""
    customers: dict[str, dict] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    intents: dict[str, dict] = field(default_factory=dict)
    setup_intents: dict[str, dict] = field(default_factory=dict)
    payment_methods: dict[str, dict] = field(default_factory=dict)
    declines: set[str] = field(default_factory=set)
    balance_transactions: list[dict] = field(default_factory=list)
    sources: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    _idempotent: dict[str, tuple[int, dict]] = field(default_factory=dict)
    deliveries: list[tuple[str, int]] = field(default_factory=list)

    # --- the API ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict, key: str | None) -> tuple[int, dict]:
        self.requests.append((method, path, params))
        if key and method == "POST" and key in self._idempotent:
            return self._idempotent[key]
        answer = self._route(method, path, params)
        if key and method == "POST" and answer[0] < 500:
            self._idempotent[key] = answer
        return answer

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if (method, path) == ("POST", "/v1/customers"):
            customer = {
                "id": _id("cus"),
                "object": "customer",
                "email": params.get("email"),
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
            self.customers[customer["id"]] = customer
            return 200, customer
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            return self._session_create(params)
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(path.rsplit("/", 1)[1])
            return (200, session) if session else self._missing("checkout.session")
        if method == "GET" and path.startswith("/v1/setup_intents/"):
            intent = self.setup_intents.get(path.rsplit("/", 1)[1])
            if intent is None:
                return self._missing("setup_intent")
            if "payment_method" in params.get("expand", []):
                intent = dict(intent, payment_method=self.payment_methods[intent["payment_method"]])
            return 200, intent
        if method == "GET" and path.startswith("/v1/payment_methods/"):
            found = self.payment_methods.get(path.rsplit("/", 1)[1])
            return (200, found) if found else self._missing("payment_method")
        if (method, path) == ("POST", "/v1/payment_intents"):
            return self._payment_intent_create(params)
        if (method, path) == ("POST", "/v1/refunds"):
            return self._refund_create(params)
        if (method, path) == ("GET", "/v1/balance_transactions"):
            return 200, self._balance_list(params)
        return self._missing("resource")

    def _balance_list(self, params: dict) -> dict:
        """Newest first, `created[gte]`/`created[lt]`, `limit`, `starting_after`, and
        `expand[]=data.source` (the charge or refund, with its payment intent) as Stripe does."""
        created = params.get("created", {})
        rows = [
            t
            for t in sorted(self.balance_transactions, key=lambda t: t["created"], reverse=True)
            if int(created.get("gte", 0)) <= t["created"] < int(created.get("lt", 2**40))
        ]
        if "starting_after" in params:
            ids = [t["id"] for t in rows]
            rows = rows[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        page, more = rows[:limit], len(rows) > limit
        if "data.source" in params.get("expand", []):
            page = [dict(t, source=self.sources[t["source"]]) for t in page]
        return {
            "object": "list",
            "url": "/v1/balance_transactions",
            "has_more": more,
            "data": page,
        }

    @staticmethod
    def _missing(what: str) -> tuple[int, dict]:
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such {what}",
            }
        }

    def _session_create(self, params: dict) -> tuple[int, dict]:
        items = params.get("line_items", [])
        total = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items)
        session_id = _id("cs")
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode", "payment"),
            "status": "open",
            "payment_status": "no_payment_required" if params.get("mode") == "setup" else "unpaid",
            "amount_total": total,
            "currency": items[0]["price_data"]["currency"] if items else "usd",
            "customer": params.get("customer"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "payment_intent": None,
            "setup_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"{self.base_url}/pay/{session_id}",
            "created": now,
            "expires_at": int(params.get("expires_at", now + 24 * 3600)),
            "livemode": False,
        }
        self.sessions[session_id] = session
        return 200, session

    def _payment_intent_create(self, params: dict) -> tuple[int, dict]:
        """An off-session charge of a saved card (`off_session=true`, `confirm=true`)."""
        method = self.payment_methods.get(params.get("payment_method", ""))
        if method is None or method["customer"] != params.get("customer"):
            return self._missing("payment_method")
        if params.get("confirm") != "true" or params.get("off_session") != "true":
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "message": "This fake confirms off-session charges only.",
                }
            }
        amount = int(params["amount"])
        intent = {
            "id": _id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "refunded": 0,
            "currency": params.get("currency", "usd"),
            "customer": params["customer"],
            "payment_method": method["id"],
            "metadata": params.get("metadata", {}),
            "status": "requires_payment_method",
            "created": int(time.time()),
        }
        self.intents[intent["id"]] = intent
        if method["id"] in self.declines:
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "payment_intent": intent,
                }
            }
        intent.update(status="succeeded", amount_received=amount)
        self._charge(intent["id"], amount)
        return 200, intent

    def _charge(self, intent_id: str, amount: int) -> None:
        charge = {
            "id": _id("ch"),
            "object": "charge",
            "amount": amount,
            "payment_intent": intent_id,
            "currency": "usd",
        }
        self.sources[charge["id"]] = charge
        self.balance_transactions.append(
            {
                "id": _id("txn"),
                "object": "balance_transaction",
                "amount": amount,
                "currency": "usd",
                "type": "charge",
                "source": charge["id"],
                "created": int(time.time()),
            }
        )

    def _refund_create(self, params: dict) -> tuple[int, dict]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None:
            return self._missing("payment_intent")
        amount = int(params.get("amount", intent["amount_received"] - intent["refunded"]))
        if amount > intent["amount_received"] - intent["refunded"]:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "amount_too_large",
                    "message": "Refund amount is greater than unrefunded amount",
                }
            }
        intent["refunded"] += amount
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "currency": "usd",
            "payment_intent": intent["id"],
            "status": "succeeded",
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        self.sources[refund["id"]] = refund
        self.balance_transactions.append(
            {
                "id": _id("txn"),
                "object": "balance_transaction",
                "amount": -amount,
                "currency": "usd",
                "type": "refund",
                "source": refund["id"],
                "created": refund["created"],
            }
        )
        return 200, refund

    # --- the hosted page and its webhook -------------------------------------------------------
    def complete(self, session_id: str) -> dict:
        """The patient pays on the hosted page: the session completes, a payment intent exists."""
        session = self.sessions[session_id]
        if session["mode"] == "setup":
            return self._complete_setup(session)
        if session["status"] != "complete":
            intent = {
                "id": _id("pi"),
                "object": "payment_intent",
                "amount_received": session["amount_total"],
                "refunded": 0,
            }
            self.intents[intent["id"]] = intent
            session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
            charge = {
                "id": _id("ch"),
                "object": "charge",
                "amount": session["amount_total"],
                "payment_intent": intent["id"],
                "currency": "usd",
            }
            self.sources[charge["id"]] = charge
            self.balance_transactions.append(
                {
                    "id": _id("txn"),
                    "object": "balance_transaction",
                    "amount": session["amount_total"],
                    "currency": "usd",
                    "type": "charge",
                    "source": charge["id"],
                    "created": int(time.time()),
                }
            )
        return session

    def _complete_setup(self, session: dict) -> dict:
        if session["status"] != "complete":
            method = {
                "id": _id("pm"),
                "object": "payment_method",
                "type": "card",
                "customer": session["customer"],
                "card": {
                    "brand": "visa",
                    "last4": "4242",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "funding": "credit",
                    "country": "US",
                },
                "billing_details": {"name": None, "email": None},
                "created": int(time.time()),
            }
            self.payment_methods[method["id"]] = method
            intent = {
                "id": _id("seti"),
                "object": "setup_intent",
                "status": "succeeded",
                "usage": "off_session",
                "customer": session["customer"],
                "payment_method": method["id"],
                "metadata": session["metadata"],
            }
            self.setup_intents[intent["id"]] = intent
            session.update(status="complete", setup_intent=intent["id"])
        return session

    def event(self, event_type: str, obj: dict) -> bytes:
        return json.dumps(
            {
                "id": _id("evt"),
                "object": "event",
                "api_version": "2025-01-01",
                "created": int(time.time()),
                "type": event_type,
                "livemode": False,
                "data": {"object": json.loads(json.dumps(obj))},
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
            }
        ).encode()

    def deliver(self, payload: bytes, *, signature: str | None = None) -> int:
        """POST a webhook to the clinic as Stripe would; returns the HTTP status."""
        request = urllib.request.Request(  # noqa: S310 (a test's own local URL)
            self.webhook_url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": signature or sign(payload, self.webhook_secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        self.deliveries.append((json.loads(payload)["type"], status))
        return status

    base_url: str = ""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe

    def log_message(self, *args: object) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _params(self) -> dict:
        url = urlparse(self.path)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            pairs += parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
        return _nest(pairs)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        if url.path.startswith("/pay/"):
            session = self.fake.sessions.get(url.path.rsplit("/", 1)[1])
            if session is None:
                self._send(404, b"No such checkout", "text/plain")
                return
            amount = f"{session['amount_total'] / 100:.2f}"
            setup = session["mode"] == "setup"
            page = (
                "<!doctype html><html lang='en'><head><title>Stripe Checkout (test)</title></head>"
                f"<body><h1>{'Save a card' if setup else f'Pay ${amount}'}</h1>"
                f"<form method='post' action='/pay/{html.escape(session['id'])}'>"
                f"<button type='submit'>{'Save card' if setup else 'Pay'}</button></form>"
                "</body></html>"
            )
            self._send(200, page.encode(), "text/html; charset=utf-8")
            return
        status, body = self.fake.handle("GET", url.path, self._params(), None)
        self._send(status, json.dumps(body).encode(), "application/json")

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        if url.path.startswith("/pay/"):
            session = self.fake.complete(url.path.rsplit("/", 1)[1])
            self.fake.deliver(self.fake.event("checkout.session.completed", session))
            self._send(303, b"", "text/plain", {"Location": session["success_url"]})
            return
        key = self.headers.get("Idempotency-Key")
        status, body = self.fake.handle("POST", url.path, self._params(), key)
        self._send(
            status,
            json.dumps(body).encode(),
            "application/json",
            {"Idempotency-Key": key} if key else None,
        )


def start(fake: FakeStripe) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    return server, fake.base_url
