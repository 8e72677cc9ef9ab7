"""A small SOCKS5 proxy for end-to-end tests (RFC 1928, CONNECT only), with the optional
username/password authentication of RFC 1929. Python standard library only; the listener,
threads, relay and records are ConnectProxy's.

    with Socks5Proxy() as proxy:                        # or Socks5Proxy(username=.., password=..)
        run(..., "--proxy", proxy.url())                # socks5h://127.0.0.1:PORT
        proxy.records()                                 # one SocksConnect per request received

A record says how the client named the target: by name (socks5h://, the proxy resolves it) or by
address (socks5://, the client resolved it). The proxy resolves a name with the system resolver,
connects, and answers 0 (succeeded), 4 (host unreachable) or 5 (connection refused).

Chosen over Debian's dante-server, which needs a configuration file, a privileged start and a
fixed port; this one runs inside the test process on an ephemeral loopback port.
"""

import ipaddress
import socket
import struct
from dataclasses import dataclass

from connect_proxy import ConnectProxy, IO_TIMEOUT


@dataclass
class SocksConnect:
    """One SOCKS5 CONNECT request as the proxy saw it and answered it."""
    target: str                 # "host:port" as the client named it
    by_name: bool               # the client sent a domain name (ATYP 3), not an address
    credentials: str | None     # "user:password" from RFC 1929, None without authentication
    status: int                 # 0 succeeded, 2 credentials refused, 5 connection refused
    bytes_up: int = 0
    bytes_down: int = 0


class Socks5Proxy(ConnectProxy):
    scheme = "socks5h"

    def _recv_exact(self, sock, count):
        data = b""
        while len(data) < count:
            if not self._wait_readable(sock):
                raise OSError("stopping")
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _serve(self, client):
        upstream = None
        try:
            version, count = self._recv_exact(client, 2)
            methods = self._recv_exact(client, count)
            if version != 5:
                return
            wanted = 2 if self.username is not None else 0
            if wanted not in methods:
                client.sendall(b"\x05\xff")  # no acceptable method
                return
            client.sendall(bytes([5, wanted]))
            credentials = None
            if wanted == 2:  # RFC 1929
                _, user_length = self._recv_exact(client, 2)
                user = self._recv_exact(client, user_length).decode("utf-8", "replace")
                (password_length,) = self._recv_exact(client, 1)
                password = self._recv_exact(client, password_length).decode("utf-8", "replace")
                credentials = f"{user}:{password}"
                accepted = credentials == f"{self.username}:{self.password}"
                client.sendall(b"\x01\x00" if accepted else b"\x01\x01")
                if not accepted:
                    with self._lock:
                        self._records.append(SocksConnect("", False, credentials, 2))
                    return
            _, command, _, address_type = self._recv_exact(client, 4)
            if address_type == 1:
                host = str(ipaddress.IPv4Address(self._recv_exact(client, 4)))
            elif address_type == 4:
                host = str(ipaddress.IPv6Address(self._recv_exact(client, 16)))
            elif address_type == 3:
                (length,) = self._recv_exact(client, 1)
                host = self._recv_exact(client, length).decode("idna")
            else:
                return
            (port,) = struct.unpack("!H", self._recv_exact(client, 2))
            shown = f"[{host}]" if ":" in host else host
            record = SocksConnect(f"{shown}:{port}", address_type == 3, credentials, 0)
            with self._lock:
                self._records.append(record)
            if command != 1:  # CONNECT only
                record.status = 7
                client.sendall(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
                return
            try:
                upstream = self._track(socket.create_connection((host, port), timeout=IO_TIMEOUT))
            except OSError:
                record.status = 5
                client.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
                return
            client.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", 0))
            self._relay(client, upstream, record)
        except OSError:
            return
        finally:
            if upstream is not None:
                self._close(upstream)
            self._close(client)
