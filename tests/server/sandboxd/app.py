"""The sandbox as one object: configuration, PKI, database, users, URLs, log and faults."""

from __future__ import annotations

import datetime
import hmac
import os
import secrets
from dataclasses import dataclass

from . import ca as ca_mod
from . import config as config_mod
from . import soap
from .faults import FaultQueue
from .issuer import Issuer
from .state import Database, RequestLog

CLOCK_SKEW = datetime.timedelta(minutes=5)  # WCF's default MaxClockSkew


@dataclass
class Route:
    """What a URL path is: CEP or CES, which authentication, which CA."""

    endpoint: str  # "CEP" | "CES"
    auth: str  # "password" | "certificate" | "keybasedrenewal"
    ca: str | None = None


class AuthError(Exception):
    """Missing or wrong credentials: HTTP 401."""


class Sandbox:
    def __init__(self, state_dir: str, config_path: str | None = None):
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
        return {"password": "/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP",
                "certificate": "/ADPolicyProvider_CEP_Certificate/service.svc/CEP"}[auth]

    @staticmethod
    def ces_path(ca_name: str, auth: str) -> str:
        suffix = {"password": "UsernamePassword", "certificate": "Certificate",
                  "keybasedrenewal": "KeyBasedRenewal"}[auth]
        return f"/{ca_name}_CES_{suffix}/service.svc/CES"

    def _routes(self) -> dict[str, Route]:
        routes = {self.cep_path(a).lower(): Route("CEP", a) for a in ("password", "certificate")}
        for ca_name in self.config.cas:
            for auth in ("password", "certificate", "keybasedrenewal"):
                routes[self.ces_path(ca_name, auth).lower()] = Route("CES", auth, ca_name)
        return routes

    def route(self, path: str) -> Route | None:
        # IIS matches paths case-insensitively (the spec's example uses lower case).
        return self.routes.get(path.split("?", 1)[0].lower())

    def ces_urls(self, ca_name: str) -> dict[str, str]:
        return {a: self.base_url + self.ces_path(ca_name, a)
                for a in ("password", "certificate", "keybasedrenewal")}

    def ca_certs_der(self) -> dict[str, bytes]:
        return {name: authority.der for name, authority in self.pki.issuing.items()}

    def info(self, pid: int, port: int) -> dict:
        return {"pid": pid, "port": port, "base_url": self.base_url, "state_dir": self.state_dir,
                "ca_bundle": os.path.join(self.state_dir, "ca-bundle.pem"),
                "cep": {a: self.base_url + self.cep_path(a) for a in ("password", "certificate")},
                "ces": {name: self.ces_urls(name) for name in self.config.cas},
                "users": self.user_files, "admin_url": self.base_url + "/admin",
                "log": self.log.path, "server_log": os.path.join(self.state_dir, "server.log"),
                "config": self.config.path, "policy_id": self.db.policy_id}

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

    def check_certificate(self, cert_der: bytes | None) -> str:
        if not cert_der:
            raise AuthError("This endpoint requires a TLS client certificate.")
        from cryptography import x509
        identity = ca_mod.identity_of(x509.load_der_x509_certificate(cert_der))
        if identity is None or self.normalize_user(identity) not in self.passwords:
            raise AuthError(f"The client certificate identity '{identity}' is not a sandbox user.")
        return self.normalize_user(identity)
