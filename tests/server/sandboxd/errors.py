"""HRESULTs the sandbox reports, with the names AD CS uses (values from MS-WCCE / winerror.h)."""

from __future__ import annotations

CERTSRV_E_BAD_REQUESTSUBJECT = 0x80094001
CERTSRV_E_PROPERTY_EMPTY = 0x80094004
CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE = 0x8009400E
CERTSRV_E_ENROLL_DENIED = 0x80094011
CERTSRV_E_TEMPLATE_DENIED = 0x80094012
CERTSRV_E_ADMIN_DENIED_REQUEST = 0x80094014
CERTSRV_E_UNSUPPORTED_CERT_TYPE = 0x80094800
CERTSRV_E_NO_CERT_TYPE = 0x80094801
CERTSRV_E_TEMPLATE_CONFLICT = 0x80094802
CERTSRV_E_KEY_LENGTH = 0x80094811
CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY = 0x80094816
CRYPT_E_NO_SIGNER = 0x8009200E
CRYPT_E_INVALID_MSG_TYPE = 0x80091004
CRYPT_E_ASN1_BADTAG = 0x8009310B
NTE_BAD_SIGNATURE = 0x80090006
NTE_BAD_ALGID = 0x80090008
CERT_E_EXPIRED = 0x800B0101
CERT_E_UNTRUSTEDROOT = 0x800B0109
CERT_E_REVOKED = 0x800B010C
E_INVALIDARG = 0x80070057
E_ACCESSDENIED = 0x80070005
RPC_S_SERVER_UNAVAILABLE = 0x800706BA  # HRESULT_FROM_WIN32(1722)


class CaError(Exception):
    """A refusal by the CA or CES: becomes a SOAP fault carrying the HRESULT."""

    def __init__(self, hresult: int, message: str, request_id: int | None = None,
                 invalid_request: bool = True):
        super().__init__(message)
        self.hresult = hresult
        self.message = message
        self.request_id = request_id
        self.invalid_request = invalid_request

    def __str__(self) -> str:
        return f"{self.message} 0x{self.hresult:08x}"


def signed(hresult: int) -> int:
    """HRESULT as the xs:int the fault detail carries (e.g. -2146877422)."""
    return hresult - (1 << 32) if hresult & 0x80000000 else hresult
