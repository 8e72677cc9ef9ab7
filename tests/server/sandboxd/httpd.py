"""HTTPS server: routing, authentication, fault injection and the admin API."""

from __future__ import annotations

import json
import re
import select
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import cep, ces, faults, soap
from .app import CHALLENGING_PREFIX, AuthError, Route, Sandbox
from .errors import CaError

SOAP_CT = "application/soap+xml; charset=utf-8"
HANG_LIMIT = 600.0
UNAUTHORIZED_PAGE = (b"<html><body>401 - Unauthorized: Access is denied due to invalid "
                     b"credentials.</body></html>")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, sandbox: Sandbox, family=socket.AF_INET):
        self.address_family = family
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self.tls.load_cert_chain(sandbox.server_cert, sandbox.server_key)
        # Client certificates are optional at the TLS layer and required by _Certificate paths.
        self.tls.verify_mode = ssl.CERT_OPTIONAL
        self.tls.load_verify_locations(sandbox.client_trust)
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request thread, so one slow client cannot block accept().
        request.settimeout(30)
        try:
            tls = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    timeout = 120

    def log_message(self, fmt, *args):  # server.log gets one line per request
        print(f"{self.address_string()} {fmt % args}", flush=True)

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    # Plumbing.
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        n = int(length)
        if n > soap.MAX_BODY:
            raise soap.PlainHttpError(413, "Request entity too large")
        return self.rfile.read(n)

    def _json(self, status: int, doc) -> None:
        self._send(status, json.dumps(doc, indent=1).encode() + b"\n", "application/json")

    # GET: admin reads and the WCF service page.
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/admin"):
            return self._admin_get(path)
        if self.sandbox.route(path):
            page = b"<html><body><h1>Service</h1><p>You have created a service.</p></body></html>"
            return self._send(200, page, "text/html; charset=UTF-8")
        return self._send(404, b"<html><body>404 - File or directory not found.</body></html>",
                          "text/html")

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        try:
            body = self._read_body()
        except (ValueError, soap.PlainHttpError):
            self.close_connection = True
            return self._send(413, b"Request entity too large", "text/plain")
        if path.startswith("/admin"):
            return self._admin_post(path, body)
        route = self.sandbox.route(path)
        if route is None:
            return self._send(404, b"<html><body>404 - File or directory not found.</body></html>",
                              "text/html")
        injection = self.sandbox.faults.take(route.endpoint)
        entry = {"endpoint": route.endpoint, "path": path, "auth": route.auth, "ca": route.ca,
                 # Which TCP connection carried it (the client's address and port), and whether
                 # its TLS session was resumed: tests count connections and handshakes.
                 "connection": "%s:%s" % self.client_address[:2],
                 "tls_resumed": bool(getattr(self.connection, "session_reused", False))}
        if injection is not None:
            entry["fault_injected"] = injection.mode
            # Logged even when the fault answers before SOAP processing, so that tests can count
            # which requests (Issue, QueryTokenStatus, GetPolicies) reached the server.
            entry["request_type"] = _sniff_request_type(body)
            if injection.delay:
                time.sleep(injection.delay)
            elif self._inject_early(injection, entry):
                return
        if path.lower().startswith(CHALLENGING_PREFIX) and not self._carries_credentials(body):
            entry.update(outcome="unauthorized", http_status=401,
                         error="no credentials: challenged for Negotiate")
            self.sandbox.log.write(**entry)
            return self._send(401, UNAUTHORIZED_PAGE, "text/html", {"WWW-Authenticate": "Negotiate"})
        status, payload, content_type, extra = self._process(route, body, entry, injection)
        self.sandbox.log.write(**entry)
        if injection is not None and injection.mode in ("cut", "truncate"):
            return self._send_broken(injection.mode, status, payload, content_type)
        self._send(status, payload, content_type, extra)

    def _carries_credentials(self, body: bytes) -> bool:
        return bool(self.headers.get("Authorization") or b"UsernameToken" in body
                    or self.connection.getpeercert(binary_form=True))

    def _inject_early(self, injection, entry) -> bool:
        mode = injection.mode
        if mode == "wrongkey":
            self.sandbox.issuer.wrong_key_issuances += 1
            return False
        if mode == "partialpolicy":  # changes the GetPolicies answer (see _cep)
            return False
        if mode == "http500":
            entry.update(outcome="fault", http_status=500)
            self.sandbox.log.write(**entry)
            page = (b"<!DOCTYPE html><html><head><title>Runtime Error</title></head><body>"
                    b"<h1>Server Error in '/' Application.</h1><p>Injected failure.</p></body></html>")
            self._send(500, page, "text/html; charset=utf-8")
            return True
        if injection.retry_after is not None:
            # IIS/HTTP.sys when the application pool is stopped or its queue is full: an HTML
            # 503 before any SOAP processing, optionally with Retry-After (delta-seconds).
            entry.update(outcome="fault", http_status=503)
            self.sandbox.log.write(**entry)
            page = (b"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"><HTML><HEAD>"
                    b"<TITLE>Service Unavailable</TITLE></HEAD><BODY><h2>Service Unavailable</h2>"
                    b"<hr><p>HTTP Error 503. The service is unavailable.</p></BODY></HTML>")
            extra = {"Retry-After": injection.retry_after} if injection.retry_after else {}
            self._send(503, page, "text/html; charset=us-ascii", extra)
            return True
        if mode == "escapes":
            entry.update(outcome="fault", http_status=500)
            self.sandbox.log.write(**entry)
            page = (b"\x1b]0;certenroll-pwned\x07\x1b[2J\x1b[H\x9b31mserver text"
                    + b"x" * (1 << 20))
            self._send(500, page, "text/plain")
            return True
        if mode in faults.HOSTILE_PAYLOADS:
            entry.update(outcome="fault", http_status=200)
            self.sandbox.log.write(**entry)
            self._send(200, _hostile_response(mode, entry["endpoint"]), SOAP_CT,
                       _hostile_headers(mode))
            return True
        if mode == "http401":
            entry.update(outcome="unauthorized", http_status=401)
            self.sandbox.log.write(**entry)
            self._send(401, UNAUTHORIZED_PAGE, "text/html")
            return True
        if mode == "hang":
            entry.update(outcome="fault", http_status=None)
            self.sandbox.log.write(**entry)
            self._hang()
            return True
        if injection.hresult is not None:
            error = CaError(injection.hresult, "Injected fault.", invalid_request=True)
            fault = soap.ces_fault(error)
            entry.update(outcome="fault", http_status=500, hresult=f"0x{injection.hresult:08x}")
            self.sandbox.log.write(**entry)
            self._send(500, soap.fault_envelope(fault, None), SOAP_CT)
            return True
        return False

    def _hang(self) -> None:
        """Never answer; return once the client goes away (or the server stops)."""
        self.close_connection = True
        deadline = time.monotonic() + HANG_LIMIT
        sock = self.connection
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.25)
            if readable:
                try:
                    if not sock.recv(1):
                        return
                except (OSError, ssl.SSLError):
                    return

    def _send_broken(self, mode: str, status: int, payload: bytes, content_type: str) -> None:
        half = payload[: len(payload) // 2]
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        # "cut": promise the whole body, send half, drop the connection.
        # "truncate": a complete HTTP message whose XML is cut in the middle.
        self.send_header("Content-Length", str(len(payload) if mode == "cut" else len(half)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(half)
        self.wfile.flush()
        if mode == "cut":
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _process(self, route: Route, body: bytes, entry: dict, injection):
        """Returns (status, payload, content type, extra headers) and fills the log entry."""
        relates = None
        extra = {}
        try:
            negotiated = None
            if route.auth == "kerberos":
                # IIS Windows authentication: HTTP-level, before any SOAP processing.
                entry["epa"] = route.epa
                negotiated, out_token, delegated, bound = self.sandbox.check_negotiate(
                    self.headers.get("Authorization"), route.epa)
                entry["delegated"] = delegated
                if route.epa != "off":
                    entry["channel_bound"] = bound
                if out_token:  # mutual authentication: the AP-REP goes back with the answer
                    if injection is not None and injection.mode == "badmutual":
                        # What a server without the service key would send: the token's last
                        # bytes (its encrypted part, or the SPNEGO mechListMIC) altered.
                        out_token = out_token[:-4] + bytes(b ^ 0xFF for b in out_token[-4:])
                    extra["WWW-Authenticate"] = "Negotiate " + soap.b64(out_token)
            env = soap.parse_request(body, self.headers.get("Content-Type"))
            relates = env.message_id
            entry["action"] = env.action
            _check_to(env.to, self.path)
            identity = negotiated if route.auth == "kerberos" else self._authenticate(route, env)
            entry["identity"] = identity
            if route.endpoint == "CEP":
                partial = injection is not None and injection.mode == "partialpolicy"
                payload = self._cep(route, env, identity, entry, partial)
            else:
                payload = self._ces(route, env, identity, entry, injection)
            entry["http_status"] = 200
            return 200, payload, SOAP_CT, extra
        except soap.PlainHttpError as e:
            entry.update(outcome="fault", http_status=e.status, error=e.text)
            return e.status, e.text.encode(), "text/plain; charset=utf-8", extra
        except AuthError as e:
            entry.update(outcome="unauthorized", http_status=401, error=str(e))
            if route.auth == "kerberos":
                return 401, UNAUTHORIZED_PAGE, "text/html", {"WWW-Authenticate": "Negotiate"}
            if route.credential == "certificate":
                return 401, (b"<html><body>401 - Unauthorized: a client certificate is "
                             b"required.</body></html>"), "text/html", {}
            fault = soap.SoapFault(f"An error occurred when verifying security for the message. "
                                   f"{e}", "s:Sender", "a:InvalidSecurity", status=401)
            return 401, soap.fault_envelope(fault, relates), SOAP_CT, {}
        except soap.SoapFault as fault:
            entry.update(outcome=fault.outcome, http_status=fault.status, error=fault.reason)
            if fault.hresult is not None:
                entry["hresult"] = f"0x{fault.hresult:08x}"
            if getattr(fault, "request_id", None) is not None:
                entry["request_id"] = str(fault.request_id)
            return fault.status, soap.fault_envelope(fault, relates), SOAP_CT, extra

    def _authenticate(self, route: Route, env: soap.Envelope) -> str | None:
        if route.credential == "password":
            return self.sandbox.check_password(env)
        # Key-based renewal accepts certificates that map to no account (identity None).
        return self.sandbox.check_certificate(self.connection.getpeercert(binary_form=True),
                                              mapped=not route.key_based)

    def _cep(self, route: Route, env: soap.Envelope, identity: str | None, entry: dict,
             partial: bool = False) -> bytes:
        entry["request_type"] = "GetPolicies"
        if env.action != cep.GET_POLICIES:
            raise soap.action_not_supported(env.action)
        req = cep.parse_request(env.body)
        sb = self.sandbox
        result = cep.get_policies(req, identity, sb.config, sb.db.policy_id, sb.ca_certs_der(),
                                  {name: sb.ces_urls(name, route.prefix) for name in sb.config.cas},
                                  key_based_renewal=route.key_based, partial=partial)
        entry.update(outcome=result.outcome, templates=result.templates)
        return soap.envelope(cep.GET_POLICIES_RESPONSE, env.message_id, result.body)

    def _ces(self, route: Route, env: soap.Envelope, identity, entry: dict, injection) -> bytes:
        url = self.sandbox.ces_urls(route.ca, route.prefix)[route.auth]
        if injection is not None and injection.ca_fault is not None:
            # CES, past the client's authentication, failing in its call to the CA.
            hresult, seconds = injection.ca_fault
            time.sleep(seconds)
            raise soap.ces_fault(CaError(hresult, faults.CA_FAULT_TEXT.get(hresult, "Injected fault."),
                                         invalid_request=False))
        answer = ces.Answer(
            reference=injection.reference if injection is not None else None,
            request_id_zero=injection is not None and injection.mode == "requestid0",
            client_cert=self.connection.getpeercert(binary_form=True))
        try:
            result = ces.handle(env, identity, route.auth, route.ca, url, self.sandbox.issuer,
                                answer)
        except soap.SoapFault:
            body = env.body
            rt = body.find(soap.q(soap.WST, "RequestType"))
            entry["request_type"] = _short_type(rt.text if rt is not None else None)
            raise
        entry.update(request_type=result.request_type, template=result.template,
                     outcome=result.outcome, request_id=str(result.request_id), serial=result.serial)
        if route.auth == "keybasedrenewal":
            record = self.sandbox.db.get(route.ca, result.request_id) or {}
            entry["identity"] = record.get("identity")
        return soap.envelope(ces.RSTRC_ACTION, env.message_id, result.body)

    # Admin API.
    def _admin_get(self, path: str) -> None:
        sb = self.sandbox
        if path == "/admin/ping":
            return self._json(200, {"ok": True, "policy_id": sb.db.policy_id})
        if path == "/admin/requests":
            records = [{k: v for k, v in r.items() if k != "csr"} for r in sb.db.all()]
            return self._json(200, {"requests": sorted(records, key=lambda r: (r["ca"], r["id"]))})
        if path == "/admin/faults":
            return self._json(200, {"faults": sb.faults.pending()})
        return self._json(404, {"error": f"unknown admin path {path}"})

    def _admin_post(self, path: str, body: bytes) -> None:
        sb = self.sandbox
        try:
            doc = json.loads(body or b"{}")
        except ValueError as e:
            return self._json(400, {"error": f"the body is not JSON: {e}"})
        parts = path.strip("/").split("/")
        try:
            if len(parts) == 5 and parts[1] == "requests" and parts[4] in ("approve", "deny"):
                ca_name, request_id = parts[2], int(parts[3])
                if ca_name not in sb.config.cas:
                    return self._json(404, {"error": f"unknown CA {ca_name}"})
                action = sb.issuer.approve if parts[4] == "approve" else sb.issuer.deny
                record = action(ca_name, request_id)
                sb.log.write(endpoint="admin", path=path, action=parts[4], ca=ca_name,
                             request_id=str(request_id), outcome=record["status"],
                             serial=record.get("serial"), template=record.get("template"))
                return self._json(200, {k: v for k, v in record.items() if k != "csr"})
            if path == "/admin/revoke":
                serial = str(doc["serial"]).lower().removeprefix("0x")
                int(serial, 16)
                sb.db.revoke(serial)
                sb.log.write(endpoint="admin", path=path, action="revoke", serial=serial,
                             outcome="revoked")
                return self._json(200, {"revoked": serial})
            if path == "/admin/faults":
                sb.faults.add(str(doc["mode"]), str(doc.get("match", "any")), int(doc.get("count", 1)))
                return self._json(200, {"faults": sb.faults.pending()})
            if path == "/admin/faults/clear":
                sb.faults.clear()
                return self._json(200, {"faults": []})
        except KeyError as e:
            return self._json(404 if "request" in str(e) else 400, {"error": str(e).strip("'\"")})
        except ValueError as e:
            return self._json(409 if "not pending" in str(e) else 400, {"error": str(e)})
        return self._json(404, {"error": f"unknown admin path {path}"})


def _check_to(to: str | None, path: str) -> None:
    """WCF's address filter: a:To must name this endpoint (host and port are not compared,
    the sandbox is reached under several names; the path is, case-insensitively like IIS)."""
    if not to:
        return
    to_path = urllib.parse.urlsplit(to).path
    if to_path.lower() != path.split("?", 1)[0].lower():
        raise soap.SoapFault(f"The message with To '{to}' cannot be processed at the receiver, due "
                             f"to an AddressFilter mismatch at the EndpointDispatcher.  Check that "
                             f"the sender and receiver's EndpointAddresses agree.", "s:Sender",
                             "a:DestinationUnreachable")


def _hostile_headers(mode: str) -> dict:
    """The extra header fields of a faults.HOSTILE_PAYLOADS mode."""
    if mode == "manyheaders":
        return {f"X-Filler-{i}": "x" for i in range(100_000)}
    if mode == "manyboth":
        return {f"X-Filler-{i}": "x" * 200 for i in range(240)}
    return {}


def _hostile_response(mode: str, endpoint: str) -> bytes:
    """A GetPoliciesResponse (CEP) or RSTR collection (CES) whose first element carries the
    payload of a faults.HOSTILE_PAYLOADS mode."""
    if endpoint == "CEP":
        action, outer, inner = cep.GET_POLICIES_RESPONSE, "GetPoliciesResponse", "response"
        ns = soap.XCEP
    else:
        action, outer = ces.RSTRC_ACTION, "RequestSecurityTokenResponseCollection"
        inner, ns = "RequestSecurityTokenResponse", soap.WST
    if mode == "manyattributes":
        payload = f"<{inner}" + "".join(f' a{i}="1"' for i in range(100_000)) + "/>"
    elif mode in ("manyelements", "manyboth"):
        payload = f"<{inner}>" + "<a/>" * 4_000_000 + f"</{inner}>"
    elif mode == "nearcap":
        payload = f"<{inner}>" + "<a/>" * 119_900 + f"</{inner}>"
    else:
        payload = f"<{inner}/>"
    element = f'<{outer} xmlns="{ns}">{payload}</{outer}>'
    if mode == "twopayloads":
        return soap.envelope(action, None, element + element)
    if mode == "twobodies":
        return soap.envelope(action, None, element).replace(
            b"</s:Body>", b"</s:Body><s:Body>" + element.encode() + b"</s:Body>", 1)
    return soap.envelope(action, None, element)


def _sniff_request_type(body: bytes) -> str | None:
    """GetPolicies, Issue or QueryTokenStatus, from the raw body without parsing it."""
    if b"GetPolicies" in body:
        return "GetPolicies"
    found = re.search(rb"RequestType[^>]*>\s*([^<]+?)\s*<", body)
    return _short_type(found.group(1).decode("ascii", "replace")) if found else None


def _short_type(request_type: str | None) -> str | None:
    if not request_type:
        return None
    return request_type.strip().rsplit("/", 1)[-1]
