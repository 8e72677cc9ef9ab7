"""MS-XCEP GetPolicies: the policy response built from the template configuration."""

from __future__ import annotations

import dataclasses
import datetime
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

from . import soap
from .config import ENROLL_ALLOW_KEY_BASED_RENEWAL, Config, Template
from .soap import XCEP, XSI, q

GET_POLICIES = XCEP + "/IPolicy/GetPolicies"
GET_POLICIES_RESPONSE = XCEP + "/IPolicy/GetPoliciesResponse"
MAX_CLIENT_VERSION = 5  # Windows Server 2012 R2 and later (MS-XCEP 7, note 3)
MAX_SERVER_VERSION = 5
OID_NAMES = {"1.3.6.1.4.1.311.21.7": "Certificate Template Information",
             "2.5.29.37": "Enhanced Key Usage", "2.5.29.15": "Key Usage",
             "1.2.840.10045.2.1": "ECC", "1.2.840.113549.1.1.1": "RSA",
             "2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384"}


@dataclass
class PolicyRequest:
    last_update: datetime.datetime | None
    policy_oids: list[str] | None
    client_version: int
    server_version: int


@dataclass
class PolicyResult:
    body: str
    outcome: str  # "policy" | "notchanged"
    templates: list[str]


def _nil(el: ET.Element | None) -> bool:
    return el is None or el.get(q(XSI, "nil"), "false").strip() in ("true", "1")


def _version(el: ET.Element | None, maximum: int) -> int:
    if _nil(el):
        return 3
    try:
        value = int((el.text or "").strip())
    except ValueError:
        raise soap.deserialization_fault(f"'{el.text}' is not a valid xs:int")
    return maximum if value == 0 or value > maximum else value


def parse_request(body: ET.Element) -> PolicyRequest:
    if body.tag != q(XCEP, "GetPolicies"):
        raise soap.deserialization_fault(f"expected GetPolicies in namespace {XCEP}, got {body.tag}")
    client = body.find(q(XCEP, "client"))
    if _nil(client):
        raise soap.SoapFault("GetPolicies has no client element (MS-XCEP 3.1.4.1.2.1 requires it).",
                             "s:Receiver")
    last_update = None
    lu = client.find(q(XCEP, "lastUpdate"))
    if not _nil(lu):
        try:
            last_update = soap.parse_datetime(lu.text or "")
        except ValueError:
            raise soap.deserialization_fault(f"lastUpdate '{lu.text}' is not a valid xs:dateTime")
    filt = body.find(q(XCEP, "requestFilter"))
    if _nil(filt):
        # No filter: Z = 3, Y = the server maximum (MS-XCEP 3.1.4.1.3.22).
        return PolicyRequest(last_update, None, 3, MAX_SERVER_VERSION)
    oids_el = filt.find(q(XCEP, "policyOIDs"))
    oids = None
    if not _nil(oids_el):
        oids = [(o.text or "").strip() for o in oids_el.findall(q(XCEP, "oid"))] or None
    return PolicyRequest(last_update, oids,
                         _version(filt.find(q(XCEP, "clientVersion")), MAX_CLIENT_VERSION),
                         _version(filt.find(q(XCEP, "serverVersion")), MAX_SERVER_VERSION))


def _passes_filter(t: Template, req: PolicyRequest) -> bool:
    if req.policy_oids is not None and t.oid not in req.policy_oids:
        return False
    return ((t.private_key_flags & 0x0F000000) <= (req.client_version << 24)
            and (t.private_key_flags & 0x000F0000) <= (req.server_version << 16))


def _el(name: str, value) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


class OidTable:
    """Assigns oIDReferenceIDs so every reference in the response resolves."""

    def __init__(self):
        self.entries: dict[tuple[str, int], tuple[int, str]] = {}

    def ref(self, value: str, group: int, name: str | None = None) -> int:
        key = (value, group)
        if key not in self.entries:
            self.entries[key] = (len(self.entries) + 1, name or OID_NAMES.get(value, value))
        return self.entries[key][0]

    def xml(self) -> str:
        items = "".join(f"<oID><value>{v}</value><group>{g}</group><oIDReferenceID>{ref}"
                        f"</oIDReferenceID><defaultName>{escape(name)}</defaultName></oID>"
                        for (v, g), (ref, name) in self.entries.items())
        return f"<oIDs>{items}</oIDs>"


# Fault "partialpolicy" (tests/server/README.md): what a real policy server has been seen to send
# for one template or CA while the rest of its policy is sound.
PARTIAL_NIL_FLAGS = "Machine"  # its four flag words are sent as xsi:nil (MS-XCEP 3.1.4.1.3.1)
PARTIAL_DANGLING_REFERENCE = 9999  # an oIDReferenceID no oID has


def _policy_xml(t: Template, enroll: bool, oids: OidTable, ca_refs: dict[str, int],
                nil_flags: bool = False, extra_ca_refs: tuple[int, ...] = ()) -> str:
    policy_ref = oids.ref(t.oid, 9, t.display_name)
    alg = (oids.ref(t.key_algorithm, 3, t.key_algorithm_name)
           if t.key_algorithm and t.schema >= 3 else None)
    hash_ref = oids.ref(t.hash_algorithm, 1) if t.hash_algorithm and t.schema >= 3 else None
    providers = ("<cryptoProviders>" + "".join(f"<provider>{escape(p)}</provider>"
                                               for p in t.crypto_providers) + "</cryptoProviders>"
                 if t.crypto_providers else '<cryptoProviders xsi:nil="true"/>')
    extensions = "".join(
        f"<extension><oIDReference>{oids.ref(o, 6)}</oIDReference><critical>"
        f"{'true' if crit else 'false'}</critical><value>{soap.b64(value)}</value></extension>"
        for o, crit, value in t.policy_extensions())
    cas = "".join(f"<cAReference>{r}</cAReference>"
                  for r in [ca_refs[c] for c in t.cas if c in ca_refs] + list(extra_ca_refs))
    flags = ((None,) * 4 if nil_flags else
             (t.private_key_flags, t.subject_name_flags, t.enrollment_flags, t.general_flags))
    return (f"<policy><policyOIDReference>{policy_ref}</policyOIDReference><cAs>{cas}</cAs>"
            f"<attributes><commonName>{escape(t.name)}</commonName>"
            f"<policySchema>{t.schema}</policySchema>"
            f"<certificateValidity><validityPeriodSeconds>{t.validity_seconds}</validityPeriodSeconds>"
            f"<renewalPeriodSeconds>{t.renewal_seconds}</renewalPeriodSeconds></certificateValidity>"
            f"<permission>{_el('enroll', enroll)}{_el('autoEnroll', False)}</permission>"
            f"<privateKeyAttributes>{_el('minimalKeyLength', t.min_key)}{_el('keySpec', t.key_spec)}"
            f'<keyUsageProperty xsi:nil="true"/><permissions xsi:nil="true"/>'
            f"{_el('algorithmOIDReference', alg)}{providers}</privateKeyAttributes>"
            f"<revision><majorRevision>{t.major}</majorRevision><minorRevision>{t.minor}"
            f'</minorRevision></revision><supersededPolicies xsi:nil="true"/>'
            f"{_el('privateKeyFlags', flags[0])}{_el('subjectNameFlags', flags[1])}"
            f"{_el('enrollmentFlags', flags[2])}{_el('generalFlags', flags[3])}"
            f"{_el('hashAlgorithmOIDReference', hash_ref)}"
            f'<rARequirements xsi:nil="true"/><keyArchivalAttributes xsi:nil="true"/>'
            f"<extensions>{extensions}</extensions></attributes></policy>")


def _ca_xml(name: str, ref: int, cert_der: bytes, urls: dict[str, str], entry, enroll: bool) -> str:
    uris = [(4, urls["password"], entry.password_priority, False),
            (8, urls["certificate"], entry.certificate_priority, False),
            # The key-based renewal CES (Install-AdcsEnrollmentWebService -AuthenticationType
            # Certificate -AllowKeyBasedRenewal -RenewalOnly): X.509 (8), renewal only.
            (8, urls["keybasedrenewal"], entry.keybasedrenewal_priority, True)]
    if "kerberos" in urls:  # only when the sandbox runs its KDC
        uris.insert(0, (2, urls["kerberos"], entry.kerberos_priority, False))
    uris += [(u["auth"], u["uri"], u["priority"], u.get("renewal_only", False))
             for u in entry.extra_uris]
    uri_xml = "".join(f"<cAURI><clientAuthentication>{auth}</clientAuthentication><uri>"
                      f"{escape(uri)}</uri><priority>{prio}</priority><renewalOnly>"
                      f"{'true' if renewal else 'false'}</renewalOnly></cAURI>"
                      for auth, uri, prio, renewal in uris)
    return (f"<cA><uris>{uri_xml}</uris><certificate>{soap.b64(cert_der, wrap=True)}</certificate>"
            f"{_el('enrollPermission', enroll)}<cAReferenceID>{ref}</cAReferenceID></cA>")


def _partial_policies(visible: list[Template], may_enroll, oids: OidTable,
                      ca_refs: dict[str, int], broken_ref: int) -> tuple[str, list[str]]:
    """The "partialpolicy" fault's extra templates: one whose policyOIDReference and one whose
    algorithmOIDReference point at no oID, one issued only by the broken CA."""
    by_name = {t.name: t for t in visible}
    rsa, ec = by_name.get("WebServer"), by_name.get("ECP256WebServer")
    out, names = [], []
    if rsa is not None:
        xml = _policy_xml(dataclasses.replace(rsa, name="BrokenTemplateOid"), may_enroll(rsa), oids,
                          ca_refs)
        out.append(re.sub(r"<policyOIDReference>\d+</policyOIDReference>",
                          f"<policyOIDReference>{PARTIAL_DANGLING_REFERENCE}</policyOIDReference>",
                          xml, count=1))
        only_broken_ca = dataclasses.replace(rsa, name="BrokenCaOnly", cas=[])
        out.append(_policy_xml(only_broken_ca, may_enroll(rsa), oids, ca_refs,
                               extra_ca_refs=(broken_ref,)))
        names += ["BrokenTemplateOid", "BrokenCaOnly"]
    if ec is not None:
        xml = _policy_xml(dataclasses.replace(ec, name="BrokenKeyAlgorithm"), may_enroll(ec), oids,
                          ca_refs)
        out.append(re.sub(r"<algorithmOIDReference>\d+</algorithmOIDReference>",
                          f"<algorithmOIDReference>{PARTIAL_DANGLING_REFERENCE}"
                          "</algorithmOIDReference>", xml, count=1))
        names.append("BrokenKeyAlgorithm")
    return "".join(out), names


def _broken_ca_xml(ref: int, cert_der: bytes, urls: dict[str, str]) -> str:
    """A cA entry whose certificate is cut short (not DER), reached like the RSA CA."""
    uris = "".join(f"<cAURI><clientAuthentication>{auth}</clientAuthentication><uri>"
                   f"{escape(urls[name])}</uri><priority>1</priority><renewalOnly>false"
                   "</renewalOnly></cAURI>"
                   for auth, name in ((4, "password"), (8, "certificate")))
    return (f"<cA><uris>{uris}</uris><certificate>{soap.b64(cert_der[:48])}</certificate>"
            f"<enrollPermission>true</enrollPermission><cAReferenceID>{ref}</cAReferenceID></cA>")


def get_policies(req: PolicyRequest, identity: str | None, config: Config, policy_id: str,
                 ca_certs: dict[str, bytes], ces_urls: dict[str, dict[str, str]],
                 key_based_renewal: bool = False, partial: bool = False) -> PolicyResult:
    """Builds the GetPoliciesResponse body for one identity. A key-based renewal CEP
    (Install-AdcsEnrollmentPolicyWebService -KeyBasedRenewal) offers only the templates that allow
    key-based renewal (enrollmentFlags 0x10000); its client certificate need not map to an
    account (identity None), and then every such template is shown as enrollable: the CES checks
    the certificate being renewed. `partial` adds the broken template and CA entries of the
    "partialpolicy" fault."""
    head = (f'<GetPoliciesResponse xmlns="{XCEP}" xmlns:xsi="{XSI}"><response>'
            f"<policyID>{escape(policy_id)}</policyID>"
            f"<policyFriendlyName>{escape(config.policy_friendly_name)}</policyFriendlyName>"
            f"<nextUpdateHours>{config.next_update_hours}</nextUpdateHours>")
    nil_tail = '<policies xsi:nil="true"/></response><cAs xsi:nil="true"/><oIDs xsi:nil="true"/>'
    if req.last_update is not None and req.last_update >= config.last_update:
        return PolicyResult(head + "<policiesNotChanged>true</policiesNotChanged>" + nil_tail
                            + "</GetPoliciesResponse>", "notchanged", [])
    def may_read(t: Template) -> bool:
        return identity is None or t.may_read(identity)

    def may_enroll(t: Template) -> bool:
        return identity is None or t.may_enroll(identity)

    offered = [t for t in config.templates
               if not key_based_renewal or t.enrollment_flags & ENROLL_ALLOW_KEY_BASED_RENEWAL]
    visible = [t for t in offered if may_read(t) and _passes_filter(t, req)]
    if not any(may_enroll(t) for t in offered):
        # A real capture: an identity with no enrollable template gets all-nil collections.
        return PolicyResult(head + '<policiesNotChanged xsi:nil="true"/>' + nil_tail
                            + "</GetPoliciesResponse>", "policy", [])
    ca_names = [c for c in config.cas if any(c in t.cas for t in visible)]
    ca_refs = {c: i for i, c in enumerate(ca_names)}
    oids = OidTable()
    partial = partial and bool(visible) and "Sandbox-RSA-CA" in ca_refs
    broken_ref = len(ca_names)
    policies = "".join(
        _policy_xml(t, may_enroll(t), oids, ca_refs,
                    nil_flags=partial and t.name == PARTIAL_NIL_FLAGS,
                    # WebServer is also offered by the broken CA: it must still work via the other
                    extra_ca_refs=(broken_ref,) if partial and t.name == "WebServer" else ())
        for t in visible)
    names = [t.name for t in visible]
    cas = "".join(_ca_xml(c, ca_refs[c], ca_certs[c], ces_urls[c], config.cas[c],
                          any(c in t.cas and may_enroll(t) for t in visible))
                  for c in ca_names)
    if partial:
        extra, extra_names = _partial_policies(visible, may_enroll, oids, ca_refs, broken_ref)
        policies += extra
        names += extra_names
        cas += _broken_ca_xml(broken_ref, ca_certs["Sandbox-RSA-CA"], ces_urls["Sandbox-RSA-CA"])
    policies_xml = f"<policies>{policies}</policies>" if visible else '<policies xsi:nil="true"/>'
    cas_xml = f"<cAs>{cas}</cAs>" if cas else '<cAs xsi:nil="true"/>'
    oids_xml = oids.xml() if oids.entries else '<oIDs xsi:nil="true"/>'
    body = (head + "<policiesNotChanged>false</policiesNotChanged>" + policies_xml + "</response>"
            + cas_xml + oids_xml + "</GetPoliciesResponse>")
    return PolicyResult(body, "policy", names)
