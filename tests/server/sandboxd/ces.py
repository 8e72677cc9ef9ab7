"""MS-WSTEP RequestSecurityToken: Issue (new and renewal) and QueryTokenStatus."""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from . import cmc, soap
from .errors import CaError, E_INVALIDARG
from .issuer import Issuer
from .soap import AUTH, WSSE, WST, WSTEP, XSI, q
from .submission import decode

RST_ACTION = WSTEP + "/RST/wstep"
RSTRC_ACTION = WSTEP + "/RSTRC/wstep"
KET_ACTION = WST + "/RST/KET"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
ISSUE = WST + "/Issue"
QUERY = WSTEP + "/QueryTokenStatus"
KET = WST + "/KET"
BASE64 = WSSE + "#base64binary"
PKCS7_WSSE = WSSE + "#PKCS7"
VALUE_TYPES = {WSTEP + "#PKCS10", PKCS7_WSSE, WSTEP + "#PKCS7", WSTEP + "#CMC"}


@dataclass
class Rst:
    request_type: str
    token: bytes | None
    value_type: str | None
    context: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None


@dataclass
class CesResult:
    body: str
    outcome: str
    request_id: int | None
    template: str | None = None
    serial: str | None = None
    request_type: str | None = None


def _invalid(message: str) -> soap.SoapFault:
    return soap.ces_fault(CaError(E_INVALIDARG, message, invalid_request=False))


def parse_rst(body: ET.Element) -> Rst:
    if body.tag != q(WST, "RequestSecurityToken"):
        raise soap.deserialization_fault(f"expected RequestSecurityToken in namespace {WST}, got {body.tag}")
    token_type = body.find(q(WST, "TokenType"))
    if token_type is not None and (token_type.text or "").strip() != X509V3:
        raise _invalid(f"The TokenType '{token_type.text}' is invalid; it must be {X509V3}.")
    request_type_el = body.find(q(WST, "RequestType"))
    request_type = "" if request_type_el is None else (request_type_el.text or "").strip()
    if request_type not in (ISSUE, QUERY, KET):
        raise _invalid(f"The RequestType '{request_type}' is invalid.")
    token = None
    value_type = None
    bst = body.find(q(WSSE, "BinarySecurityToken"))
    if bst is not None:
        for key in bst.attrib:
            if key.startswith("{") and key.split("}", 1)[1] in ("EncodingType", "ValueType"):
                raise _invalid(f"The {key.split('}', 1)[1]} is invalid.")
        encoding = bst.get("EncodingType")
        if encoding is not None and encoding != BASE64:
            raise _invalid("The EncodingType is invalid.")
        value_type = bst.get("ValueType")
        text = "".join((bst.text or "").split())
        if text:
            if value_type not in VALUE_TYPES:
                raise _invalid("The ValueType is invalid.")
            try:
                token = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise _invalid("The BinarySecurityToken is not valid base64.")
    context = {}
    ac = body.find(q(AUTH, "AdditionalContext"))
    if ac is not None:
        for item in ac.findall(q(AUTH, "ContextItem")):
            value = item.find(q(AUTH, "Value"))
            context[item.get("Name", "")] = "" if value is None else (value.text or "").strip()
    rid_el = body.find(q(WSTEP, "RequestID"))
    request_id = None
    if rid_el is not None and rid_el.get(q(XSI, "nil"), "false") not in ("true", "1"):
        request_id = (rid_el.text or "").strip() or None
    return Rst(request_type, token, value_type, context, request_id)


@dataclass
class Answer:
    """How this request is answered beyond the CA's decision: a pending reply's Reference URI
    (fault mode reference:<URI>, "{id}" = the request ID), an issued reply's RequestID shown as 0
    (fault mode requestid0), and the TLS client certificate (key-based renewal)."""

    reference: str | None = None
    request_id_zero: bool = False
    client_cert: bytes | None = None


def _bst(value_type: str, data: bytes, wrap: bool) -> str:
    return (f'<BinarySecurityToken ValueType="{value_type}" EncodingType="{BASE64}" '
            f'xmlns="{WSSE}">{soap.b64(data, wrap)}</BinarySecurityToken>')


def _rstrc(message: str, pkcs7: bytes, requested: str, request_id: int) -> str:
    return (f'<RequestSecurityTokenResponseCollection xmlns="{WST}"><RequestSecurityTokenResponse>'
            f"<TokenType>{X509V3}</TokenType>"
            f'<DispositionMessage xml:lang="en-US" xmlns="{WSTEP}">{escape(message)}</DispositionMessage>'
            f"{_bst(PKCS7_WSSE, pkcs7, True)}<RequestedSecurityToken>{requested}</RequestedSecurityToken>"
            f'<RequestID xmlns="{WSTEP}">{request_id}</RequestID>'
            f"</RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection>")


def issued_body(issuer: Issuer, ca_name: str, request_id: int, cert: x509.Certificate,
                answer: Answer | None = None) -> str:
    authority = issuer.pki.issuing[ca_name]
    pkcs7 = cmc.signed_response(authority, issuer.pki.chain_for(ca_name), cert)
    leaf = _bst(X509V3, cert.public_bytes(Encoding.DER), False)
    # A server seen in the field answered an approved request with the certificate and
    # RequestID 0.
    shown_id = 0 if answer is not None and answer.request_id_zero else request_id
    return _rstrc("Issued", pkcs7, leaf, shown_id)


def pending_body(issuer: Issuer, ca_name: str, request_id: int, ces_url: str,
                 answer: Answer | None = None) -> str:
    authority = issuer.pki.issuing[ca_name]
    pkcs7 = cmc.signed_response(authority, issuer.pki.chain_for(ca_name), None, cmc.STATUS_PENDING,
                                "Taken Under Submission")
    # MS-WSTEP 3.1.4.1.3.4: the URI to send QueryTokenStatus to; servers seen in the field also
    # put a bare request ID ("61") there.
    uri = ces_url
    if answer is not None and answer.reference is not None:
        uri = answer.reference.replace("{id}", str(request_id))
    ref = (f'<SecurityTokenReference xmlns="{WSSE}"><Reference URI={soap.attr(uri)}/>'
           f"</SecurityTokenReference>")
    return _rstrc("Taken Under Submission", pkcs7, ref, request_id)


def handle(env: soap.Envelope, identity: str | None, auth: str, ca_name: str, ces_url: str,
           issuer: Issuer, answer: Answer | None = None) -> CesResult:
    """Runs one RST; CA refusals come back as SoapFault with the CES fault detail."""
    if env.action == KET_ACTION:
        raise soap.ces_fault(CaError(E_INVALIDARG, "Key exchange token requests (KET) are not "
                                     "supported by this sandbox.", invalid_request=False))
    if env.action != RST_ACTION:
        raise soap.action_not_supported(env.action)
    rst = parse_rst(env.body)
    try:
        if rst.request_type == QUERY:
            return _query(rst, identity, auth, ca_name, ces_url, issuer, answer)
        if rst.request_type == KET:
            raise CaError(E_INVALIDARG, "KET is only valid with the KET action.", invalid_request=False)
        if rst.token is None:
            raise CaError(E_INVALIDARG, "An Issue request needs a BinarySecurityToken.",
                          invalid_request=False)
        sub = decode(rst.token)
        outcome = issuer.submit(sub, identity, auth, ca_name, rst.context,
                                answer.client_cert if answer is not None else None)
    except CaError as e:
        fault = soap.ces_fault(e)
        fault.request_id = e.request_id
        raise fault
    if outcome.status == "pending":
        return CesResult(pending_body(issuer, ca_name, outcome.request_id, ces_url, answer),
                         "pending", outcome.request_id, outcome.template, request_type="Issue")
    return CesResult(issued_body(issuer, ca_name, outcome.request_id, outcome.cert, answer), "issued",
                     outcome.request_id, outcome.template, format(outcome.cert.serial_number, "x"),
                     "Issue")


def _query(rst: Rst, identity, auth, ca_name, ces_url, issuer: Issuer,
           answer: Answer | None) -> CesResult:
    if auth == "keybasedrenewal":
        raise CaError(E_INVALIDARG, "QueryTokenStatus is not accepted on the renewal-only "
                      "key-based renewal endpoint.", invalid_request=False)
    if rst.request_id is None or not rst.request_id.isdigit():
        raise CaError(E_INVALIDARG, f"QueryTokenStatus needs a numeric RequestID, got "
                      f"'{rst.request_id}'.", invalid_request=False)
    request_id = int(rst.request_id)
    record, cert = issuer.query(ca_name, request_id, identity)
    if cert is None:
        return CesResult(pending_body(issuer, ca_name, request_id, ces_url, answer), "pending",
                         request_id, record.get("template"), request_type="QueryTokenStatus")
    return CesResult(issued_body(issuer, ca_name, request_id, cert, answer), "issued", request_id,
                     record.get("template"), record.get("serial"), "QueryTokenStatus")
