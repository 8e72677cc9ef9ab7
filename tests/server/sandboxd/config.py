"""The template configuration (templates.json): templates, CAs, users and permissions."""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from . import der

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "templates.json")

# MS-CRTD flag bits the sandbox acts on.
SUBJECT_ENROLLEE_SUPPLIES = 0x1
SUBJECT_OLD_CERT_SUPPLIES = 0x8
SUBJECT_ENROLLEE_SUPPLIES_SAN = 0x10000
SUBJECT_ALT_REQUIRE_UPN = 0x02000000
SUBJECT_ALT_REQUIRE_DNS = 0x08000000
SUBJECT_REQUIRE_DNS_AS_CN = 0x10000000
SUBJECT_REQUIRE_COMMON_NAME = 0x40000000
ENROLL_PEND_ALL_REQUESTS = 0x2
ENROLL_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT = 0x40
# MS-CRTD 2.26: CT_FLAG_ALLOW_PREVIOUS_APPROVAL_KEYBASEDRENEWAL_VALIDATE_REENROLLMENT.
ENROLL_ALLOW_KEY_BASED_RENEWAL = 0x10000
PRIVATE_KEY_REQUIRE_SAME_KEY_RENEWAL = 0x80
PRIVATE_KEY_ALTERNATE_SIGNATURE = 0x40  # CT_FLAG_REQUIRE_ALTERNATE_SIGNATURE_ALGORITHM

KEY_USAGE_BITS = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                  "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"]
OID_RSA = "1.2.840.113549.1.1.1"
OID_ECC = "1.2.840.10045.2.1"
# Windows names a CNG template's ECDSA_P256/ECDH_P256 (…P384, …P521) algorithm by the curve's
# OID in group 3 (certenroll.h ObjectIdGroupId, XCN_OID_ECC_CURVE_P256…), not by id-ecPublicKey.
CURVE_OIDS = {"1.2.840.10045.3.1.7": "secp256r1", "1.3.132.0.34": "secp384r1",
              "1.3.132.0.35": "secp521r1"}


@dataclass
class Template:
    """One certificate template as the CA and CEP see it."""

    name: str
    display_name: str
    oid: str
    schema: int
    major: int
    minor: int
    validity_seconds: int
    renewal_seconds: int
    min_key: int
    key_spec: int | None
    key_algorithm: str | None
    hash_algorithm: str | None
    private_key_flags: int
    subject_name_flags: int
    enrollment_flags: int
    general_flags: int
    eku: list[str]
    key_usage: list[str]
    crypto_providers: list[str] | None
    cas: list[str]
    enroll: list[str]
    read: list[str]
    curve: str | None = None
    # The oID's defaultName for key_algorithm as Windows writes it ("ECDSA_P256", "ML-DSA-65").
    key_algorithm_name: str | None = None

    def required_curve(self) -> str | None:
        """The curve a key must use: named by the algorithm OID, or set with "curve"."""
        return self.curve or CURVE_OIDS.get(self.key_algorithm or "")

    def wants_ec(self) -> bool:
        return self.key_algorithm == OID_ECC or self.key_algorithm in CURVE_OIDS

    def may_enroll(self, identity: str) -> bool:
        return identity in self.enroll or "*" in self.enroll

    def may_read(self, identity: str) -> bool:
        return self.may_enroll(identity) or identity in self.read or "*" in self.read

    def key_usage_ext(self) -> x509.KeyUsage | None:
        if not self.key_usage:
            return None
        flags = {bit: bit in self.key_usage for bit in KEY_USAGE_BITS}
        return x509.KeyUsage(**flags)

    def eku_ext(self) -> x509.ExtendedKeyUsage | None:
        return x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in self.eku]) if self.eku else None

    def template_ext_der(self) -> bytes:
        """szOID_CERTIFICATE_TEMPLATE value: SEQUENCE { OID, major, minor }."""
        return der.seq(der.oid(self.oid), der.integer(self.major), der.integer(self.minor))

    def policy_extensions(self) -> list[tuple[str, bool, bytes]]:
        """(OID, critical, DER value) of the extensions the CA adds: what CEP advertises."""
        out = [("1.3.6.1.4.1.311.21.7", False, self.template_ext_der())]
        if self.eku_ext():
            out.append(("2.5.29.37", False, self.eku_ext().public_bytes()))
        if self.key_usage_ext():
            out.append(("2.5.29.15", True, self.key_usage_ext().public_bytes()))
        return out


@dataclass
class CaEntry:
    name: str
    password_priority: int = 1
    certificate_priority: int = 2
    keybasedrenewal_priority: int = 1
    kerberos_priority: int = 1
    # More CES URIs to advertise, e.g. a dead one for failover tests:
    # [{"auth": 4, "uri": "https://127.0.0.1:1/x/CES", "priority": 0, "renewal_only": false}]
    extra_uris: list = field(default_factory=list)


@dataclass
class Config:
    """The whole configuration file, plus its mtime (the policy's LastUpdateTime)."""

    path: str
    policy_friendly_name: str
    next_update_hours: int
    domain: str
    users: list[str]
    cas: dict[str, CaEntry]
    templates: list[Template]
    last_update: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))

    def template(self, name: str) -> Template | None:
        lowered = name.lower()
        return next((t for t in self.templates if t.name.lower() == lowered), None)

    def template_by_oid(self, template_oid: str) -> Template | None:
        return next((t for t in self.templates if t.oid == template_oid), None)


def load(path: str | None = None) -> Config:
    path = path or DEFAULT_CONFIG
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    templates = [Template(**t) for t in doc["templates"]]
    cas = {name: CaEntry(name, **entry) for name, entry in doc["cas"].items()}
    for t in templates:
        unknown = [c for c in t.cas if c not in cas]
        if unknown:
            raise ValueError(f"{path}: template {t.name} names unknown CA(s) {unknown}")
    mtime = datetime.datetime.fromtimestamp(int(os.stat(path).st_mtime), datetime.timezone.utc)
    return Config(path, doc.get("policy_friendly_name", "Sandbox Enrollment Policy"),
                  int(doc.get("next_update_hours", 8)), doc.get("domain", "sandbox.test"),
                  list(doc["users"]), cas, templates, mtime)
