"""SOAP 1.2 the way WCF speaks it: strict request checks, s:/a: prefixed responses, faults."""

from __future__ import annotations

import base64
import datetime
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from . import errors

S = "http://www.w3.org/2003/05/soap-envelope"
S11 = "http://schemas.xmlsoap.org/soap/envelope/"
A = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XCEP = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"
WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
WSTEP = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
AUTH = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
DIAG = "http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-username-token-profile-1.0#PasswordText")
WCF_FAULT_ACTION = "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher/fault"
UNDERSTOOD_HEADERS = {(A, "Action"), (A, "To"), (A, "MessageID"), (A, "ReplyTo"), (WSSE, "Security")}
MAX_BODY = 1 << 20


class SoapFault(Exception):
    """A fault to send back: HTTP status, SOAP code/subcode/reason, optional detail XML."""

    def __init__(self, reason: str, code: str = "s:Sender", subcode: str | None = None,
                 detail: str | None = None, status: int = 500, action: str = WCF_FAULT_ACTION,
                 hresult: int | None = None, outcome: str = "fault"):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.subcode = subcode
        self.detail = detail
        self.status = status
        self.action = action
        self.hresult = hresult
        self.outcome = outcome


class PlainHttpError(Exception):
    """An error answered below SOAP (e.g. 415 for the wrong content type), like IIS/WCF do."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class UsernameToken:
    username: str
    password: str
    password_type: str | None


@dataclass
class Envelope:
    """What the handlers need from a request envelope."""

    action: str
    message_id: str | None
    to: str | None
    token: UsernameToken | None
    timestamp: tuple[datetime.datetime, datetime.datetime | None] | None
    body: ET.Element


def q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    value = value or ""
    media, _, rest = value.partition(";")
    params = {}
    for item in rest.split(";"):
        key, sep, val = item.strip().partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


def parse_datetime(text: str) -> datetime.datetime:
    """xs:dateTime; no zone means UTC (the spec example sends 0001-01-01T00:00:00)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def parse_request(body: bytes, content_type: str | None) -> Envelope:
    media, params = parse_content_type(content_type)
    if media != "application/soap+xml":
        # WCF's SOAP 1.2 binding answers any other content type (text/xml = SOAP 1.1) this way.
        raise PlainHttpError(415, f"Cannot process the message because the content type "
                                  f"'{content_type}' was not the expected type "
                                  f"'application/soap+xml; charset=utf-8'.")
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise PlainHttpError(415, f"The charset '{charset}' is not supported; use utf-8.")
    if b"<!DOCTYPE" in body[:4096].upper():
        raise SoapFault("DTDs are not allowed in SOAP messages.", "s:Sender")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise SoapFault(f"The message is not well-formed XML: {e}.", "s:Sender")
    if root.tag == q(S11, "Envelope"):
        raise SoapFault("The envelope version of the incoming message (Soap11) does not match "
                        "that of the encoder (Soap12).", "s:VersionMismatch")
    if root.tag != q(S, "Envelope"):
        raise SoapFault(f"The root element {root.tag} is not a SOAP 1.2 Envelope.", "s:Sender")
    header = root.find(q(S, "Header"))
    body_el = root.find(q(S, "Body"))
    if body_el is None or len(body_el) != 1:
        raise SoapFault("The SOAP Body must contain exactly one element.", "s:Sender")
    headers = list(header) if header is not None else []
    for h in headers:
        must = h.get(q(S, "mustUnderstand"), "0").strip()
        key = _split(h.tag)
        if must in ("1", "true") and key not in UNDERSTOOD_HEADERS:
            raise SoapFault(f"The header '{key[1]}' from the namespace '{key[0]}' was not "
                            f"understood by the recipient of this message, causing the message "
                            f"to not be processed.", "s:MustUnderstand")
    action_el = header.find(q(A, "Action")) if header is not None else None
    if action_el is None or not (action_el.text or "").strip():
        raise SoapFault("The message has no a:Action header; WS-Addressing 1.0 requires one.",
                        "s:Sender", "a:MessageAddressingHeaderRequired")
    action = action_el.text or ""
    if action != action.strip():
        # WCF compares the header text exactly, whitespace included.
        raise _action_not_supported(action)
    if "action" in params and params["action"] != action:
        raise SoapFault(f"The SOAP action specified on the message, '{action}', does not match "
                        f"the HTTP SOAP Action, '{params['action']}'.", "s:Sender", "a:ActionMismatch")
    token, timestamp = _read_security(header)
    return Envelope(action, _text(header, q(A, "MessageID")), _text(header, q(A, "To")), token,
                    timestamp, body_el[0])


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return ns, local
    return "", tag


def _text(parent: ET.Element | None, tag: str) -> str | None:
    if parent is None:
        return None
    el = parent.find(tag)
    return None if el is None else (el.text or "").strip()


def _read_security(header: ET.Element | None):
    security = header.find(q(WSSE, "Security")) if header is not None else None
    if security is None:
        return None, None
    timestamp = None
    ts = security.find(q(WSU, "Timestamp"))
    if ts is not None:
        try:
            created = parse_datetime(_text(ts, q(WSU, "Created")) or "")
            expires_text = _text(ts, q(WSU, "Expires"))
            timestamp = (created, parse_datetime(expires_text) if expires_text else None)
        except ValueError:
            raise SoapFault("An error occurred when verifying security for the message: the "
                            "wsu:Timestamp is malformed.", "s:Sender", "a:InvalidSecurity", status=401,
                            outcome="unauthorized")
    ut = security.find(q(WSSE, "UsernameToken"))
    if ut is None:
        return None, timestamp
    pw = ut.find(q(WSSE, "Password"))
    token = UsernameToken(_text(ut, q(WSSE, "Username")) or "",
                          "" if pw is None else (pw.text or ""),
                          None if pw is None else pw.get("Type"))
    return token, timestamp


def _action_not_supported(action: str) -> SoapFault:
    return SoapFault(f"The message with Action '{action}' cannot be processed at the receiver, due "
                     f"to a ContractFilter mismatch at the EndpointDispatcher. This may be because "
                     f"of either a contract mismatch (mismatched Actions between sender and "
                     f"receiver) or a binding/security mismatch between the sender and the "
                     f"receiver.  Check that sender and receiver have the same contract and the "
                     f"same binding (including security requirements, e.g. Message, Transport, "
                     f"None).", "s:Sender", "a:ActionNotSupported")


def action_not_supported(action: str) -> SoapFault:
    return _action_not_supported(action)


def deserialization_fault(what: str) -> SoapFault:
    return SoapFault(f"The formatter threw an exception while trying to deserialize the message: "
                     f"{what}", "s:Sender", "a:DeserializationFailed")


# Writing.

def b64(data: bytes, wrap: bool = False) -> str:
    """base64; wrapped at 76 columns with CRLF (written as &#xD;) the way Windows sometimes does."""
    text = base64.b64encode(data).decode("ascii")
    if not wrap:
        return text
    return "&#xD;\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def envelope(action: str, relates_to: str | None, body: str) -> bytes:
    activity = str(uuid.uuid4())
    relates = f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>" if relates_to else ""
    return (f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}"><s:Header>'
            f'<a:Action s:mustUnderstand="1">{escape(action)}</a:Action>'
            f'<ActivityId CorrelationId="{uuid.uuid4()}" xmlns="{DIAG}">{activity}</ActivityId>'
            f"{relates}</s:Header><s:Body>{body}</s:Body></s:Envelope>").encode("utf-8")


def fault_envelope(fault: SoapFault, relates_to: str | None) -> bytes:
    subcode = ""
    if fault.subcode:
        subcode = (f'<s:Subcode><s:Value xmlns:a="{A}">{escape(fault.subcode)}</s:Value>'
                   f"</s:Subcode>")
    detail = f"<s:Detail>{fault.detail}</s:Detail>" if fault.detail else ""
    body = (f"<s:Fault><s:Code><s:Value>{fault.code}</s:Value>{subcode}</s:Code>"
            f'<s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
            f"{detail}</s:Fault>")
    return envelope(fault.action, relates_to, body)


def ces_fault(error: errors.CaError) -> SoapFault:
    """A CES refusal: s:Receiver with CertificateEnrollmentWSDetail (MS-WSTEP 3.1.4.1.3.7)."""
    request_id = (f"<RequestID>{error.request_id}</RequestID>" if error.request_id is not None
                  else '<RequestID xsi:nil="true"/>')
    detail = (f'<CertificateEnrollmentWSDetail xmlns="{WSTEP}" '
              f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="{XSI}">'
              f'<BinaryResponse xsi:nil="true"/>'
              f"<ErrorCode>{errors.signed(error.hresult)}</ErrorCode>"
              f"<InvalidRequest>{'true' if error.invalid_request else 'false'}</InvalidRequest>"
              f"{request_id}</CertificateEnrollmentWSDetail>")
    reason = f"{error.message} 0x{error.hresult:08x} ({errors.signed(error.hresult)})"
    return SoapFault(reason, "s:Receiver", None, detail,
                     action=WSTEP + "/RequestSecurityTokenCertificateEnrollmentWSDetailFault",
                     hresult=error.hresult, outcome="denied" if error.invalid_request else "fault")


def attr(value: str) -> str:
    return quoteattr(value)
