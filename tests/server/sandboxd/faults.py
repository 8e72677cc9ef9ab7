"""Fault injection: the next N matching requests fail in a chosen way (admin API)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

MODES = ("http500", "cut", "truncate", "hang", "http401", "wrongkey", "manyattributes",
         "manyelements", "badmutual", "partialpolicy", "requestid0", "manyheaders", "manyboth",
         "twobodies", "twopayloads", "escapes", "nearcap")
# A hostile server (or whatever answers in its name) sending a response built to exhaust the
# client's XML parser: well-formed SOAP, HTTP 200, whose body holds one element with 100,000
# attributes (about 1 MB; quadratic in a parser that checks each new attribute against the
# previous ones) or 4,000,000 empty elements (16 MB, under the client's 16 MiB response cap; a
# node each in a DOM parser). Issue 21: one such response stalled a cron `renew --all`.
# Issue 23 adds: `manyheaders` (100,000 header fields, about 2 MB of head, over the client's caps
# of 256 fields and 64 KiB), `manyboth` (240 header fields of 200 bytes, within those caps, then
# the `manyelements` body), `twobodies` (an Envelope with a second s:Body) and `twopayloads` (a
# Body with a second response element), and `escapes` (an HTTP 500 whose 1 MiB text body starts
# with terminal escape sequences: window title, screen clear, an 8-bit CSI), and `nearcap`
# (119,900 empty elements: just under the client's cap of 120,000 nodes per SOAP response, so the
# whole tree is built: the most memory one response can take).
HOSTILE_PAYLOADS = ("manyattributes", "manyelements", "manyheaders", "manyboth", "twobodies",
                    "twopayloads", "escapes", "nearcap")
MATCHES = ("CES", "CEP", "any")

# Issue 28: cafault:0xHHHHHHHH[:<seconds>] is CES failing behind itself: the client's HTTP and
# message authentication are checked first (a wrong password still gets its 401), then CES waits
# <seconds> (for its call to the CA) and answers with that HRESULT in the CES fault detail, with
# the text AD CS gives it. See tests/server/README.md ("Failures behind CES") for what each models.
CA_FAULT_TEXT = {
    0x800706BA: "The RPC server is unavailable.",
    0x80070005: "Access is denied.",
    0x80094800: "The requested certificate template is not supported by this CA.",
    0x80094012: "Denied by Policy Module. The permissions on the certificate template do not "
                "allow the current user to enroll for this type of certificate.",
}


@dataclass
class Injection:
    mode: str
    match: str
    remaining: int

    @property
    def hresult(self) -> int | None:
        if self.mode.startswith("fault:"):
            return int(self.mode.split(":", 1)[1], 16)
        return None

    @property
    def retry_after(self) -> str | None:
        """http503:<seconds>: the Retry-After header of the 503 ("" for a bare http503)."""
        if self.mode == "http503":
            return ""
        if self.mode.startswith("http503:"):
            return self.mode.split(":", 1)[1]
        return None

    @property
    def reference(self) -> str | None:
        """reference:<URI>: a pending reply's SecurityTokenReference/Reference URI, verbatim
        ("{id}" becomes the request ID), instead of this CES URL."""
        if self.mode.startswith("reference:"):
            return self.mode.split(":", 1)[1]
        return None

    @property
    def delay(self) -> float | None:
        if self.mode.startswith("slow:"):
            return float(self.mode.split(":", 1)[1])
        return None

    @property
    def ca_fault(self) -> tuple[int, float] | None:
        """cafault:0xHHHHHHHH[:<seconds>]: (HRESULT, seconds CES waits before answering)."""
        if not self.mode.startswith("cafault:"):
            return None
        parts = self.mode.split(":")
        return int(parts[1], 16), float(parts[2]) if len(parts) > 2 else 0.0


def validate(mode: str, match: str, count: int) -> None:
    if match not in MATCHES:
        raise ValueError(f"match must be one of {MATCHES}, got {match!r}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if mode in MODES:
        return
    if re.fullmatch(r"fault:0x[0-9a-fA-F]{8}", mode):
        return
    if re.fullmatch(r"slow:\d+(\.\d+)?", mode):
        return
    if re.fullmatch(r"cafault:0x[0-9a-fA-F]{8}(:\d+(\.\d+)?)?", mode):
        return
    if re.fullmatch(r"http503(:\d+)?", mode):
        return
    if re.fullmatch(r"reference:[\x21-\x7e]{1,1000}", mode):
        return
    raise ValueError(f"unknown fault mode {mode!r}: use {', '.join(MODES)}, fault:0xHHHHHHHH, "
                     f"slow:<seconds>, http503[:<seconds>], reference:<URI> or "
                     f"cafault:0xHHHHHHHH[:<seconds>]")


class FaultQueue:
    """Injections are consumed in order; each applies to `remaining` more matching requests."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queue: list[Injection] = []

    def add(self, mode: str, match: str, count: int) -> None:
        validate(mode, match, count)
        with self.lock:
            self.queue.append(Injection(mode, match, count))

    def clear(self) -> None:
        with self.lock:
            self.queue.clear()

    def take(self, endpoint: str) -> Injection | None:
        with self.lock:
            for injection in self.queue:
                if injection.match in ("any", endpoint):
                    injection.remaining -= 1
                    if injection.remaining == 0:
                        self.queue.remove(injection)
                    return Injection(injection.mode, injection.match, injection.remaining)
        return None

    def pending(self) -> list[dict]:
        with self.lock:
            return [vars(i).copy() for i in self.queue]
