"""A small HTTP proxy for end-to-end tests that only tunnels (the CONNECT method, RFC 9110
9.3.6), which is all an https:// client asks of a proxy. Python standard library only.

    with ConnectProxy(username="u", password="p") as proxy:   # credentials optional
        run(..., "--proxy", proxy.url())                      # http://127.0.0.1:PORT
        proxy.records()                                       # one Connect per CONNECT received

It listens on 127.0.0.1 on an ephemeral port. With credentials it answers 407 with
`Proxy-Authenticate: Basic realm="x"` to a CONNECT without the right `Proxy-Authorization:
Basic`, keeping the connection open for the client's retry. With `negotiate_keytab` it wants
`Proxy-Authorization: Negotiate` instead (RFC 4559; Kerberos accepted with python3-gssapi and
that keytab, under the krb5.conf of KRB5_CONFIG), and records the client's principal. `offer`
replaces the schemes a 407 advertises (to play a proxy that wants NTLM, say). Otherwise it
connects to the target
(502 if it cannot) and relays bytes both ways until either side closes. It records each CONNECT
whatever its outcome, so a test can tell "not used" from "used and refused". stop() closes every
socket and joins every thread; it raises if a thread outlives it.
"""

import base64
import binascii
import selectors
import socket
import threading
import urllib.parse
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
POLL = 0.1          # seconds between checks of the stop flag
IO_TIMEOUT = 30     # a blocked send, an upstream connect


@dataclass
class Connect:
    """One CONNECT request as the proxy saw it and answered it."""
    target: str                 # "host:port" as sent
    authorization: str | None   # the Proxy-Authorization header, None when absent
    credentials: str | None     # "user:password" decoded from Basic, None when absent or not Basic
    status: int                 # what the proxy answered: 200, 407, 502 ...
    principal: str | None = None  # the Kerberos client of an accepted Negotiate exchange
    bytes_up: int = 0           # relayed client -> target
    bytes_down: int = 0         # relayed target -> client


class ConnectProxy:
    def __init__(self, username=None, password=None, negotiate_keytab=None, offer=None):
        self.username = username
        self.password = password
        self.negotiate_keytab = negotiate_keytab
        if offer is None:
            offer = ["Negotiate"] if negotiate_keytab else ['Basic realm="x"']
        self.offer = offer
        self._lock = threading.Lock()
        self._records = []
        self._sockets = set()
        self._threads = []
        self._stop = threading.Event()
        self._listener = None
        self.port = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(32)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def stop(self):
        """Closes the listener and every connection, joins every thread."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        if threads:
            threads[0].join(timeout=10)  # the accept loop: no connection thread starts after it
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)
        with self._lock:
            leftovers = list(self._sockets)
            self._sockets.clear()
        for sock in leftovers:
            sock.close()
        if self._listener is not None:
            self._listener.close()
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"proxy threads still running after stop(): {alive}")

    scheme = "http"

    def url(self, username=None, password=None, host="127.0.0.1"):
        """http://[user:password@]127.0.0.1:PORT, user and password percent-encoded."""
        userinfo = ""
        if username is not None:
            userinfo = urllib.parse.quote(username, safe="")
            if password is not None:
                userinfo += ":" + urllib.parse.quote(password, safe="")
            userinfo += "@"
        return f"{self.scheme}://{userinfo}{host}:{self.port}"

    def records(self):
        with self._lock:
            return list(self._records)

    def clear(self):
        with self._lock:
            self._records.clear()

    # Internals.
    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"connect-proxy-{self.port}-{len(self._threads)}")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock):
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _close(self, sock):
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    def _accept_loop(self):
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not sel.select(POLL):
                    continue
                try:
                    client, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return
                client.setblocking(True)
                client.settimeout(IO_TIMEOUT)
                self._spawn(self._serve, self._track(client))

    def _wait_readable(self, sock):
        """True once `sock` has data (or EOF); False when the proxy is stopping."""
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if sel.select(POLL):
                    return True
        return False

    def _read_head(self, sock, buffered):
        """(request head, bytes after it), or (None, b"") on EOF, stop or an oversized head."""
        while b"\r\n\r\n" not in buffered:
            if len(buffered) > MAX_HEAD or not self._wait_readable(sock):
                return None, b""
            chunk = sock.recv(65536)
            if not chunk:
                return None, b""
            buffered += chunk
        head, _, rest = buffered.partition(b"\r\n\r\n")
        return head.decode("latin-1"), rest

    def _authorized(self, record):
        if self.negotiate_keytab is not None:
            return record.principal is not None
        if self.username is None:
            return True
        return record.credentials == f"{self.username}:{self.password}"

    def _accept_negotiate(self, authorization):
        """The client's principal if `authorization` is a Kerberos ticket for our keytab."""
        import gssapi  # python3-gssapi, as the sandbox's own Negotiate endpoints
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "negotiate" or not token.strip():
            return None
        try:
            creds = gssapi.Credentials(usage="accept", store={"keytab": self.negotiate_keytab})
            ctx = gssapi.SecurityContext(usage="accept", creds=creds)
            ctx.step(base64.b64decode(token.strip(), validate=True))
            return str(ctx.initiator_name) if ctx.complete else None
        except (gssapi.exceptions.GSSError, binascii.Error, ValueError):
            return None

    @staticmethod
    def _reply(sock, status, reason, headers=()):
        lines = [f"HTTP/1.1 {status} {reason}", *headers, "Content-Length: 0", "", ""]
        sock.sendall("\r\n".join(lines).encode("latin-1"))

    def _serve(self, client):
        upstream = None
        try:
            buffered = b""
            while not self._stop.is_set():
                head, buffered = self._read_head(client, buffered)
                if head is None:
                    return
                request_line, *header_lines = head.split("\r\n")
                parts = request_line.split()
                if len(parts) != 3 or parts[0].upper() != "CONNECT":
                    self._reply(client, 405, "Method Not Allowed", ["Allow: CONNECT",
                                                                     "Connection: close"])
                    return
                target = parts[1]
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                authorization = headers.get("proxy-authorization")
                credentials = None
                if authorization and authorization[:6].lower() == "basic ":
                    try:
                        credentials = base64.b64decode(authorization[6:].strip(),
                                                       validate=True).decode("utf-8")
                    except (binascii.Error, UnicodeDecodeError):
                        credentials = None
                record = Connect(target, authorization, credentials, 0)
                if self.negotiate_keytab is not None:
                    record.principal = self._accept_negotiate(authorization)
                with self._lock:
                    self._records.append(record)
                if not self._authorized(record):
                    record.status = 407
                    # Keep-alive: the client may retry with credentials on this connection.
                    self._reply(client, 407, "Proxy Authentication Required",
                                [f"Proxy-Authenticate: {scheme}" for scheme in self.offer])
                    continue
                host, _, port = target.rpartition(":")
                try:
                    upstream = self._track(socket.create_connection(
                        (host.strip("[]"), int(port)), timeout=IO_TIMEOUT))
                except (OSError, ValueError):
                    record.status = 502
                    self._reply(client, 502, "Bad Gateway", ["Connection: close"])
                    return
                record.status = 200
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if buffered:  # a client that did not wait for the 200
                    upstream.sendall(buffered)
                    record.bytes_up += len(buffered)
                self._relay(client, upstream, record)
                return
        except OSError:
            return
        finally:
            if upstream is not None:
                self._close(upstream)
            self._close(client)

    def _relay(self, client, upstream, record):
        """Copies bytes both ways until either side closes (or the proxy stops)."""
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(POLL):
                    source = key.fileobj
                    data = source.recv(65536)
                    if not data:
                        return
                    peer[source].sendall(data)
                    if source is client:
                        record.bytes_up += len(data)
                    else:
                        record.bytes_down += len(data)


def refusing_port(test):
    """A loopback TCP port that refuses connections until `test` ends: bound (so no other
    process can take it meanwhile, as one could a port bound and released) but never
    listening. Returns the port number."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    test.addCleanup(s.close)
    return s.getsockname()[1]
