"""The CA's policy and exit modules: pick the template, check the request, issue or pend."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from . import ca as pki_mod
from . import config as cfg
from .ca import Pki
from .config import Config, Template
from .errors import (CaError, CERTSRV_E_ADMIN_DENIED_REQUEST, CERTSRV_E_BAD_REQUESTSUBJECT,
                     CERTSRV_E_KEY_LENGTH, CERTSRV_E_NO_CERT_TYPE, CERTSRV_E_PROPERTY_EMPTY,
                     CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY, CERTSRV_E_TEMPLATE_CONFLICT,
                     CERTSRV_E_TEMPLATE_DENIED, CERTSRV_E_UNSUPPORTED_CERT_TYPE, CERT_E_EXPIRED,
                     CERT_E_REVOKED, CERT_E_UNTRUSTEDROOT, E_ACCESSDENIED, NTE_BAD_ALGID)
from .state import Database
from .submission import OID_TEMPLATE_V2, Submission, public_key_der
from . import der
from . import openssl_cli


@dataclass
class Outcome:
    """What the CA decided: "issued" (cert set) or "pending"."""

    status: str
    request_id: int
    template: str
    cert: x509.Certificate | None = None


class Issuer:
    """One object for all issuing CAs: the configuration, the keys and the database."""

    def __init__(self, config: Config, pki: Pki, db: Database):
        self.config = config
        self.pki = pki
        self.db = db
        # Fault "wrongkey": the next issuance certifies a key the client does not hold.
        self.wrong_key_issuances = 0

    # Template identification (MS-WCCE 3.1.2.4.2.3).
    def resolve_template(self, sub: Submission, context: dict[str, str], ca_name: str) -> Template:
        hint = sub.hint
        candidates = []
        if hint.v2_oid:
            t = self.config.template_by_oid(hint.v2_oid)
            if t is None:
                raise CaError(CERTSRV_E_UNSUPPORTED_CERT_TYPE,
                              f"The requested certificate template OID {hint.v2_oid} is unknown to the CA.")
            candidates.append(t)
        names = [hint.v1_name, hint.pairs.get("CertificateTemplate"),
                 context.get("CertificateTemplate")]
        for name in filter(None, names):
            t = self.config.template(name)
            if t is None:
                raise CaError(CERTSRV_E_UNSUPPORTED_CERT_TYPE,
                              f"The requested certificate template '{name}' is not supported by this CA.")
            candidates.append(t)
        if not candidates and sub.renewal_cert is not None:
            t = _template_of_cert(sub.renewal_cert, self.config)
            if t:
                candidates.append(t)
        if not candidates:
            raise CaError(CERTSRV_E_NO_CERT_TYPE,
                          "The request contains no certificate template information.")
        if any(c.name != candidates[0].name for c in candidates):
            raise CaError(CERTSRV_E_TEMPLATE_CONFLICT, "The request contains conflicting template "
                          f"information: {sorted({c.name for c in candidates})}.")
        template = candidates[0]
        if ca_name not in template.cas:
            raise CaError(CERTSRV_E_UNSUPPORTED_CERT_TYPE,
                          f"The requested certificate template '{template.name}' is not supported "
                          f"by this CA ({ca_name}).")
        return template

    def submit(self, sub: Submission, identity: str | None, auth: str, ca_name: str,
               context: dict[str, str], client_cert: bytes | None = None) -> Outcome:
        """Processes an Issue request end to end; raises CaError on any refusal."""
        key_based = auth == "keybasedrenewal"
        if key_based and sub.renewal_cert is None:
            raise CaError(E_ACCESSDENIED, "The key-based renewal endpoint accepts only renewal "
                          "requests signed with the certificate being renewed.")
        if key_based and client_cert != sub.renewal_cert.public_bytes(Encoding.DER):
            # Key-based renewal: the TLS client certificate is the certificate being renewed.
            raise CaError(E_ACCESSDENIED, "The TLS client certificate is not the certificate "
                          "being renewed.")
        template = self.resolve_template(sub, context, ca_name)
        renewal_identity = self._check_renewal(sub, template, key_based) if sub.renewal_cert else None
        if key_based:
            identity = renewal_identity
        record = {"template": template.name, "identity": identity, "auth": auth, "kind": sub.kind,
                  "renewal": sub.renewal_cert is not None,
                  "csr": base64.b64encode(sub.csr_der).decode("ascii"), "status": "submitted"}
        request_id = self.db.new_request(ca_name, record)
        try:
            if not key_based and not template.may_enroll(identity or ""):
                raise CaError(CERTSRV_E_TEMPLATE_DENIED,
                              f"Denied by Policy Module: the permissions on the certificate template "
                              f"'{template.name}' do not allow {identity} to enroll for this type of "
                              f"certificate.")
            _check_key(template, sub)
            if sub.renewal_cert is not None and template.private_key_flags & cfg.PRIVATE_KEY_REQUIRE_SAME_KEY_RENEWAL:
                if openssl_cli.csr_spki(sub.csr_der) != openssl_cli.cert_spki(sub.renewal_cert):
                    raise CaError(CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY, f"Template '{template.name}' "
                                  "requires same-key renewal, but the request has a new key.")
            subject, sans = self._subject_and_san(template, sub, identity or "")
        except CaError as e:
            e.request_id = request_id
            self.db.update(ca_name, request_id, status="denied", hresult=f"0x{e.hresult:08x}",
                           reason=e.message)
            raise
        pend = (template.enrollment_flags & cfg.ENROLL_PEND_ALL_REQUESTS and not (
            sub.renewal_cert is not None
            and template.enrollment_flags & cfg.ENROLL_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT))
        if pend:
            self.db.update(ca_name, request_id, status="pending")
            return Outcome("pending", request_id, template.name)
        public_key = _subject_key(sub)
        if self.wrong_key_issuances > 0:
            self.wrong_key_issuances -= 1
            from cryptography.hazmat.primitives.asymmetric import ec
            public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        cert = self._issue(ca_name, request_id, template, public_key, subject, sans)
        return Outcome("issued", request_id, template.name, cert)

    def _check_renewal(self, sub: Submission, template: Template, key_based: bool) -> str:
        old = sub.renewal_cert
        authority = self.pki.find_issuer(old)
        if authority is None:
            raise CaError(CERT_E_UNTRUSTEDROOT, "The certificate being renewed was not issued by "
                          "a CA of this sandbox.")
        now = datetime.datetime.now(datetime.timezone.utc)
        if not (old.not_valid_before.replace(tzinfo=datetime.timezone.utc) <= now
                <= old.not_valid_after.replace(tzinfo=datetime.timezone.utc)):
            raise CaError(CERT_E_EXPIRED, "The certificate being renewed is not within its validity period.")
        if self.db.is_revoked(old.serial_number):
            raise CaError(CERT_E_REVOKED, "The certificate being renewed has been revoked.")
        if key_based and not template.enrollment_flags & cfg.ENROLL_ALLOW_KEY_BASED_RENEWAL:
            raise CaError(CERTSRV_E_TEMPLATE_DENIED, f"Template '{template.name}' does not allow "
                          "key-based renewal (enrollmentFlags 0x10000 is not set).")
        record = self.db.by_serial(format(old.serial_number, "x"))
        return (record or {}).get("identity") or pki_mod.identity_of(old) or ""

    def _subject_and_san(self, template: Template, sub: Submission, identity: str):
        flags = template.subject_name_flags
        old = sub.renewal_cert
        if old is not None and flags & cfg.SUBJECT_OLD_CERT_SUPPLIES:
            try:
                sans = list(old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
            except x509.ExtensionNotFound:
                sans = []
            return old.subject, sans
        csr_sans = []
        try:
            csr_sans = list(sub.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            pass
        if flags & cfg.SUBJECT_ENROLLEE_SUPPLIES:
            if len(sub.csr.subject) == 0:
                raise CaError(CERTSRV_E_BAD_REQUESTSUBJECT, f"Template '{template.name}' requires the "
                              "enrollee to supply the subject, and the request has none.")
            return sub.csr.subject, csr_sans
        domain = self.config.domain
        cn = f"{identity}.{domain}" if flags & cfg.SUBJECT_REQUIRE_DNS_AS_CN else identity
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        sans = csr_sans if flags & cfg.SUBJECT_ENROLLEE_SUPPLIES_SAN else []
        if flags & cfg.SUBJECT_ALT_REQUIRE_DNS:
            sans.append(x509.DNSName(f"{identity}.{domain}"))
        if flags & cfg.SUBJECT_ALT_REQUIRE_UPN:
            sans.append(pki_mod.upn_general_name(f"{identity}@{domain}"))
        return subject, sans

    def _issue(self, ca_name: str, request_id: int, template: Template, public_key, subject,
               sans) -> x509.Certificate:
        authority = self.pki.issuing[ca_name]
        if (isinstance(public_key, bytes) or isinstance(authority.key, openssl_cli.MlDsaKey)
                or template.private_key_flags & cfg.PRIVATE_KEY_ALTERNATE_SIGNATURE):
            cert = self._issue_with_openssl(authority, template, public_key, subject, sans)
            return self._record_issued(ca_name, request_id, cert)
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
        builder = (x509.CertificateBuilder().subject_name(subject).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(seconds=template.validity_seconds))
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
                   .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_TEMPLATE_V2),
                                                             template.template_ext_der()), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if template.eku_ext():
            builder = builder.add_extension(template.eku_ext(), critical=False)
        if template.key_usage_ext():
            builder = builder.add_extension(template.key_usage_ext(), critical=True)
        return self._record_issued(ca_name, request_id, authority.sign(builder))

    def _record_issued(self, ca_name: str, request_id: int, cert: x509.Certificate) -> x509.Certificate:
        self.db.update(ca_name, request_id, status="issued", serial=format(cert.serial_number, "x"),
                       subject=cert.subject.rfc4514_string(),
                       cert=base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii"))
        return cert

    @staticmethod
    def _issue_with_openssl(authority, template: Template, public_key, subject, sans) -> x509.Certificate:
        """ML-DSA leaves, any leaf of the ML-DSA CA, and RSASSA-PSS-signed leaves (templates with
        the alternate signature flag): python cryptography (38 and 43) cannot encode or sign
        them, the openssl command line can (ML-DSA: 3.5+). Same extensions as the python path."""
        spki = public_key if isinstance(public_key, bytes) else public_key_der(public_key)
        extensions = [(OID_TEMPLATE_V2, False, template.template_ext_der())]
        if sans:
            extensions.append(("2.5.29.17", False, x509.SubjectAlternativeName(sans).public_bytes()))
        if template.eku_ext():
            extensions.append(("2.5.29.37", False, template.eku_ext().public_bytes()))
        if template.key_usage_ext():
            extensions.append(("2.5.29.15", True, template.key_usage_ext().public_bytes()))
        ml_dsa_ca = isinstance(authority.key, openssl_cli.MlDsaKey)
        return openssl_cli.issue(authority.cert, authority.key_file, spki, subject,
                                 x509.random_serial_number(), template.validity_seconds / 86400,
                                 extensions,
                                 None if ml_dsa_ca else pki_mod.signing_hash(authority.key).name,
                                 rsa_pss=bool(template.private_key_flags
                                              & cfg.PRIVATE_KEY_ALTERNATE_SIGNATURE)
                                 and isinstance(authority.key, rsa.RSAPrivateKey))

    # CA manager actions and retrieval.
    def approve(self, ca_name: str, request_id: int) -> dict:
        record = self._pending(ca_name, request_id)
        from .submission import decode
        sub = decode(base64.b64decode(record["csr"]))
        template = self.config.template(record["template"])
        subject, sans = self._subject_and_san(template, sub, record.get("identity") or "")
        self._issue(ca_name, request_id, template, _subject_key(sub), subject, sans)
        return self.db.get(ca_name, request_id)

    def deny(self, ca_name: str, request_id: int) -> dict:
        self._pending(ca_name, request_id)
        return self.db.update(ca_name, request_id, status="denied",
                              hresult=f"0x{CERTSRV_E_ADMIN_DENIED_REQUEST:08x}",
                              reason="Denied by the CA manager")

    def _pending(self, ca_name: str, request_id: int) -> dict:
        record = self.db.get(ca_name, request_id)
        if record is None:
            raise KeyError(f"no request {request_id} at {ca_name}")
        if record["status"] != "pending":
            raise ValueError(f"request {request_id} at {ca_name} is {record['status']}, not pending")
        return record

    def query(self, ca_name: str, request_id: int, identity: str | None) -> tuple[dict, x509.Certificate | None]:
        """QueryTokenStatus: the record and its certificate, or CaError as AD CS reports it."""
        record = self.db.get(ca_name, request_id)
        if record is None:
            raise CaError(CERTSRV_E_PROPERTY_EMPTY, f"Request {request_id} is unknown to {ca_name}: "
                          "the requested property value is empty.", invalid_request=False)
        if identity is not None and record.get("identity") != identity:
            raise CaError(E_ACCESSDENIED, f"Request {request_id} was submitted by another identity.",
                          request_id=request_id, invalid_request=False)
        if record["status"] == "denied":
            hresult = int(record.get("hresult") or f"0x{CERTSRV_E_ADMIN_DENIED_REQUEST:08x}", 16)
            raise CaError(hresult, record.get("reason") or "The request was denied.", request_id=request_id)
        cert = None
        if record["status"] == "issued":
            cert = x509.load_der_x509_certificate(base64.b64decode(record["cert"]))
        return record, cert


def _template_of_cert(cert: x509.Certificate, config: Config) -> Template | None:
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(OID_TEMPLATE_V2))
        return config.template_by_oid(der.decode_oid(der.parse(ext.value.value).children()[0]))
    except (x509.ExtensionNotFound, der.DerError, IndexError):
        return None


def _subject_key(sub: Submission):
    """The key to certify: a python key, or the SPKI DER of an ML-DSA key python cannot load."""
    spki = openssl_cli.csr_spki(sub.csr_der)
    return spki if openssl_cli.ml_dsa_name(spki) else sub.csr.public_key()


def _check_key(template: Template, sub: Submission) -> None:
    # ML-DSA (Windows Server 2025 AD CS): the request's key must be the template's parameter set.
    wanted = openssl_cli.ML_DSA_OIDS.get(template.key_algorithm or "")
    got = openssl_cli.ml_dsa_name(openssl_cli.csr_spki(sub.csr_der))
    if wanted and openssl_cli.has_ml_dsa():
        if got != wanted:
            raise CaError(NTE_BAD_ALGID, f"Template '{template.name}' requires an {wanted} key; "
                          f"the request has {got or 'another algorithm'}.")
        return
    if got:
        raise CaError(NTE_BAD_ALGID, f"Template '{template.name}' does not take {got} keys.")
    key = sub.csr.public_key()
    wants_ec = template.wants_ec()
    if template.key_algorithm not in (None, cfg.OID_RSA) and not wants_ec:
        raise CaError(NTE_BAD_ALGID, f"Template '{template.name}' requires "
                      f"{template.key_algorithm_name or template.key_algorithm} keys, which this CA "
                      "cannot certify.")
    if wants_ec and not isinstance(key, ec.EllipticCurvePublicKey):
        raise CaError(NTE_BAD_ALGID, f"Template '{template.name}' requires an ECC key "
                      f"({template.key_algorithm}); the request has {type(key).__name__}.")
    if not wants_ec and not isinstance(key, rsa.RSAPublicKey):
        raise CaError(NTE_BAD_ALGID, f"Template '{template.name}' requires an RSA key; the request "
                      f"has {type(key).__name__}.")
    curve = template.required_curve()
    if wants_ec and curve and key.curve.name != curve:
        raise CaError(NTE_BAD_ALGID, f"Template '{template.name}' requires curve {curve}; "
                      f"the request uses {key.curve.name}.")
    if key.key_size < template.min_key:
        raise CaError(CERTSRV_E_KEY_LENGTH, f"The public key length {key.key_size} is below the "
                      f"minimum {template.min_key} of template '{template.name}'.")
