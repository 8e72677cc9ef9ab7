"""The sandbox as one object: configuration, PKI, database, users, URLs, log and faults."""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import os
import secrets
import urllib.parse
from dataclasses import dataclass

from . import ca as ca_mod
from . import config as config_mod
from . import soap
from .faults import FaultQueue
from .issuer import Issuer
from .kdc import Kdc
from .state import Database, RequestLog

PROXIED_PREFIX = "/proxied/"
# Extended Protection for Authentication (EPA) on the Kerberos endpoints, chosen by a path
# prefix: none = EPA off (IIS tokenChecking "None"); /epa-always/ = "Always"/"Required"
# (tokenChecking "Require"): the authenticator must carry the RFC 5929 tls-server-end-point
# binding of the sandbox's HTTPS certificate; /epa-wrong/ = the acceptor expects the binding of
# another certificate (as behind a TLS-terminating front end), so a client that sends its
# binding is refused: the proof that it sends one.
EPA_PREFIXES = {"/epa-always/": "always", "/epa-wrong/": "wrong"}
# The same endpoints behind a front end that answers every request carrying no credential at all
# (no Authorization header, no UsernameToken, no client certificate) with 401 Negotiate, before
# the service sees it: an independent CEP/CES server did this (issue 22), and a password in the
# message still worked there.
CHALLENGING_PREFIX = "/challenging/"
CLOCK_SKEW = datetime.timedelta(minutes=5)  # WCF's default MaxClockSkew


@dataclass
class Route:
    """What a URL path is: CEP or CES, which authentication, which CA."""

    endpoint: str  # "CEP" | "CES"
    # "password" | "certificate" | "kerberos"; CES also "keybasedrenewal" (certificate
    # authentication, no account needed); CEP also "keybasedrenewal" (certificate) and
    # "keybasedrenewal_password": the -KeyBasedRenewal policy service.
    auth: str
    ca: str | None = None
    epa: str = "off"  # "off" | "always" | "wrong" (see EPA_PREFIXES)
    prefix: str = ""  # the EPA prefix it was reached under ("/epa-always"), for the URLs it lists

    @property
    def key_based(self) -> bool:
        return self.auth.startswith("keybasedrenewal")

    @property
    def credential(self) -> str:
        """How the client proves itself: password, certificate or kerberos."""
        if self.auth == "keybasedrenewal_password":
            return "password"
        return "certificate" if self.auth == "keybasedrenewal" else self.auth


class AuthError(Exception):
    """Missing or wrong credentials: HTTP 401."""


class Sandbox:
    def __init__(self, state_dir: str, config_path: str | None = None, kerberos: bool = False):
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.config = config_mod.load(config_path)
        self.pki = ca_mod.Pki(self.state_dir)
        self.db = Database(self.state_dir, list(self.config.cas))
        self.issuer = Issuer(self.config, self.pki, self.db)
        self.log = RequestLog(os.path.join(self.state_dir, "requests.jsonl"))
        self.faults = FaultQueue()
        self.users_dir = os.path.join(self.state_dir, "users")
        os.makedirs(self.users_dir, exist_ok=True)
        self.passwords = {}
        self.user_files = {}
        for user in self.config.users:
            self.passwords[user] = self._password(user)
            crt, key = self.pki.ensure_user_cert(user, self.users_dir)
            self.user_files[user] = {"username": user,
                                     "password_file": os.path.join(self.users_dir, user + ".password"),
                                     "client_cert": crt, "client_key": key}
        self.server_cert, self.server_key = self.pki.ensure_server_cert()
        self.client_trust = self.pki.trust_pem_path()
        # The realm is made and the KDC started by kdc.start() (sandbox run), before serving.
        self.kdc = Kdc(self.state_dir, self.passwords) if kerberos else None
        self.cep_auths = ["password", "certificate", "keybasedrenewal",
                          "keybasedrenewal_password"] + (["kerberos"] if kerberos else [])
        self.ces_auths = ["password", "certificate", "keybasedrenewal"] + (
            ["kerberos"] if kerberos else [])
        self.routes = self._routes()
        self.base_url = ""

    def _password(self, user: str) -> str:
        path = os.path.join(self.users_dir, user + ".password")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        password = f"{user}-{secrets.token_urlsafe(12)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(password + "\n")
        return password

    @staticmethod
    def cep_path(auth: str) -> str:
        # Install-AdcsEnrollmentPolicyWebService -KeyBasedRenewal names its IIS application
        # KeyBasedRenewal_ADPolicyProvider_CEP_<authentication>.
        return {"password": "/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP",
                "certificate": "/ADPolicyProvider_CEP_Certificate/service.svc/CEP",
                "keybasedrenewal": "/KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP",
                "keybasedrenewal_password":
                    "/KeyBasedRenewal_ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP",
                "kerberos": "/ADPolicyProvider_CEP_Kerberos/service.svc/CEP"}[auth]

    @staticmethod
    def ces_path(ca_name: str, auth: str) -> str:
        if auth == "keybasedrenewal":
            # A CES installed with -AuthenticationType Certificate -AllowKeyBasedRenewal
            # -RenewalOnly is named <CA>_CES_Certificate like any certificate CES; it cannot share
            # a server with the ordinary one, so the sandbox serves it under /keybased/, as if it
            # were a second server.
            return f"/keybased/{ca_name}_CES_Certificate/service.svc/CES"
        suffix = {"password": "UsernamePassword", "certificate": "Certificate",
                  "kerberos": "Kerberos"}[auth]
        return f"/{ca_name}_CES_{suffix}/service.svc/CES"

    def _routes(self) -> dict[str, Route]:
        routes = {self.cep_path(a).lower(): Route("CEP", a) for a in self.cep_auths}
        for ca_name in self.config.cas:
            for auth in self.ces_auths:
                routes[self.ces_path(ca_name, auth).lower()] = Route("CES", auth, ca_name)
        return routes

    def route(self, path: str) -> Route | None:
        # IIS matches paths case-insensitively (the spec's example uses lower case).
        path = path.split("?", 1)[0].lower()
        epa, prefix = "off", ""
        for epa_prefix, mode in EPA_PREFIXES.items():
            if path.startswith(epa_prefix):
                epa, prefix = mode, epa_prefix[:-1]
                path = path[len(prefix):]
        # The same endpoints as published behind a reverse proxy under names that do not reveal
        # the authentication mode: /proxied/ADPolicyProvider_CEP_Kerberos/... and so on.
        for front_prefix in (PROXIED_PREFIX, CHALLENGING_PREFIX):
            if path.startswith(front_prefix):
                path = path[len(front_prefix) - 1:]
        route = self.routes.get(path)
        if route is None:
            return None
        return Route(route.endpoint, route.auth, route.ca, epa, prefix)

    def base(self, auth: str) -> str:
        """The URL prefix for an endpoint: Kerberos clients must name the server "localhost",
        the host of the SPN HTTP/localhost (the HTTPS certificate has SAN localhost too)."""
        if auth != "kerberos":
            return self.base_url
        return f"https://localhost:{urllib.parse.urlsplit(self.base_url).port}"

    def cep_urls(self) -> dict[str, str]:
        return {a: self.base(a) + self.cep_path(a) for a in self.cep_auths}

    def ces_urls(self, ca_name: str, prefix: str = "") -> dict[str, str]:
        return {a: self.base(a) + prefix + self.ces_path(ca_name, a) for a in self.ces_auths}

    def channel_binding(self, epa: str) -> bytes | None:
        """The RFC 5929 tls-server-end-point application data the acceptor expects: of the HTTPS
        certificate ("always"), of the issuing CA's certificate instead ("wrong"), none ("off")."""
        if epa == "off":
            return None
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        if epa == "always":
            with open(self.server_cert, "rb") as f:
                cert = x509.load_pem_x509_certificate(f.read())  # the first block: the leaf
        else:
            cert = self.pki.issuing["Sandbox-RSA-CA"].cert
        # RFC 5929 4.1: the certificate's signature hash, SHA-256 for MD5 and SHA-1 (and none).
        algorithm = cert.signature_hash_algorithm
        if algorithm is None or isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
            algorithm = hashes.SHA256()
        return b"tls-server-end-point:" + cert.fingerprint(algorithm)

    def ca_certs_der(self) -> dict[str, bytes]:
        return {name: authority.der for name, authority in self.pki.issuing.items()}

    def info(self, pid: int, port: int) -> dict:
        return {"pid": pid, "port": port, "base_url": self.base_url, "state_dir": self.state_dir,
                "ca_bundle": os.path.join(self.state_dir, "ca-bundle.pem"),
                "cep": self.cep_urls(),
                "ces": {name: self.ces_urls(name) for name in self.config.cas},
                "users": self.user_files, "admin_url": self.base_url + "/admin",
                "log": self.log.path, "server_log": os.path.join(self.state_dir, "server.log"),
                "config": self.config.path, "policy_id": self.db.policy_id,
                "kerberos": self.kdc.info() if self.kdc else None}

    # Authentication.
    def normalize_user(self, name: str) -> str:
        name = name.strip()
        if "\\" in name:
            name = name.split("\\", 1)[1]
        if name.lower().endswith("@" + self.config.domain):
            name = name[: -len(self.config.domain) - 1]
        return name.lower()

    def check_password(self, env: soap.Envelope) -> str:
        if env.timestamp is not None:
            now = datetime.datetime.now(datetime.timezone.utc)
            created, expires = env.timestamp
            if expires is not None and expires + CLOCK_SKEW < now:
                raise AuthError("The security timestamp is stale because its expiration time "
                                f"('{expires.isoformat()}') is in the past.")
            if created - CLOCK_SKEW > now:
                raise AuthError("The security timestamp is invalid because its creation time "
                                f"('{created.isoformat()}') is in the future.")
        token = env.token
        if token is None:
            raise AuthError("The message has no WS-Security UsernameToken.")
        if token.password_type not in (None, soap.PASSWORD_TEXT):
            raise AuthError(f"The password type '{token.password_type}' is not supported; use "
                            "PasswordText.")
        user = self.normalize_user(token.username)
        expected = self.passwords.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), token.password.encode()):
            raise AuthError(f"The username or password is incorrect for '{token.username}'.")
        return user

    def check_certificate(self, cert_der: bytes | None, mapped: bool = True) -> str | None:
        """The TLS client certificate's account. The TLS layer has already checked that it chains
        to a sandbox CA. With `mapped` False (key-based renewal: "valid client certificates
        for authentication that do not directly map to a security principal") a certificate
        that maps to no account is accepted too, as None."""
        if not cert_der:
            raise AuthError("This endpoint requires a TLS client certificate.")
        from cryptography import x509
        identity = ca_mod.identity_of(x509.load_der_x509_certificate(cert_der))
        if identity is None or self.normalize_user(identity) not in self.passwords:
            if not mapped:
                return None
            raise AuthError(f"The client certificate identity '{identity}' is not a sandbox user.")
        return self.normalize_user(identity)

    def check_negotiate(self, authorization: str | None,
                        epa: str = "off") -> tuple[str, bytes | None, bool, bool]:
        """HTTP Negotiate (RFC 4559) with the KDC's HTTP/localhost key, under Extended Protection
        `epa` (see EPA_PREFIXES). Returns (identity, mutual-authentication token or None,
        credentials were delegated, the authenticator carried the expected channel binding)."""
        import gssapi  # python3-gssapi: only needed when Kerberos is on
        import gssapi.raw

        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "negotiate" or not token.strip():
            raise AuthError("The request has no Authorization: Negotiate header.")
        try:
            data = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("The Negotiate token is not base64.")
        try:
            expected = self.channel_binding(epa)
            # An MIT acceptor given bindings refuses an authenticator with other ones
            # (GSS_S_BAD_BINDINGS), but accepts one without any; it then leaves out the
            # channel-bound flag, which is how "always" refuses those too.
            bindings = (gssapi.raw.ChannelBindings(application_data=expected)
                        if expected is not None else None)
            ctx = gssapi.SecurityContext(usage="accept", creds=gssapi.Credentials(usage="accept"),
                                         channel_bindings=bindings)
            out = ctx.step(data)
            # python-gssapi keeps a failed step's error for the next attribute access.
            complete = ctx.complete
            principal = str(ctx.initiator_name) if complete else ""
            delegated = complete and ctx.delegated_creds is not None
            bound = complete and expected is not None and bool(
                ctx.actual_flags & gssapi.RequirementFlag.channel_bound)
        except gssapi.exceptions.GSSError as e:
            raise AuthError(f"GSS-API: {e}")
        if not complete:  # Kerberos finishes in one leg; anything else is not supported
            raise AuthError("The Negotiate exchange needs more than one leg (not Kerberos?).")
        if epa == "always" and not bound:
            raise AuthError("Extended Protection: the Kerberos authenticator carries no channel "
                            "binding of this TLS connection.")
        user = principal.split("@", 1)[0].split("/", 1)[0].lower()
        if user not in self.passwords:
            raise AuthError(f"The Kerberos principal '{principal}' is not a sandbox user.")
        return user, out, delegated, bound
