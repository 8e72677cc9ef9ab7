#pragma once
/// RAII ownership of OpenSSL objects, and OpenSSL failures turned into certenroll::Error.

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "encoding/base64.hpp"
#include "error.hpp"

namespace certenroll::crypto {

using encoding::Bytes;

/// A deleter that calls the OpenSSL free function `Free`.
template <auto Free>
struct OsslDeleter {
    template <typename T>
    void operator()(T* object) const {
        Free(object);
    }
};

/// unique_ptr owning an OpenSSL object freed by `Free`.
template <typename T, auto Free>
using OsslPtr = std::unique_ptr<T, OsslDeleter<Free>>;

using PkeyPtr = OsslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OsslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = OsslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using MdPtr = OsslPtr<EVP_MD, EVP_MD_free>;
using X509Ptr = OsslPtr<X509, X509_free>;
using X509ReqPtr = OsslPtr<X509_REQ, X509_REQ_free>;
using X509NamePtr = OsslPtr<X509_NAME, X509_NAME_free>;
using X509ExtensionPtr = OsslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509AttributePtr = OsslPtr<X509_ATTRIBUTE, X509_ATTRIBUTE_free>;
using X509StorePtr = OsslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OsslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using GeneralNamesPtr = OsslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = OsslPtr<GENERAL_NAME, GENERAL_NAME_free>;
using CmsPtr = OsslPtr<CMS_ContentInfo, CMS_ContentInfo_free>;
using BioPtr = OsslPtr<BIO, BIO_free_all>;
using Pkcs12Ptr = OsslPtr<PKCS12, PKCS12_free>;
using BignumPtr = OsslPtr<BIGNUM, BN_free>;
using Asn1ObjectPtr = OsslPtr<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1IntegerPtr = OsslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1StringPtr = OsslPtr<ASN1_STRING, ASN1_STRING_free>;
using Asn1OctetStringPtr = OsslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1BitStringPtr = OsslPtr<ASN1_BIT_STRING, ASN1_BIT_STRING_free>;
using Asn1TypePtr = OsslPtr<ASN1_TYPE, ASN1_TYPE_free>;
using Asn1TimePtr = OsslPtr<ASN1_TIME, ASN1_TIME_free>;
using DecoderCtxPtr = OsslPtr<OSSL_DECODER_CTX, OSSL_DECODER_CTX_free>;
using EncoderCtxPtr = OsslPtr<OSSL_ENCODER_CTX, OSSL_ENCODER_CTX_free>;

/// Frees a STACK_OF(X509) and the certificates in it.
struct X509StackDeleter {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_pop_free(stack, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

/// Frees a STACK_OF(X509_EXTENSION) and the extensions in it.
struct X509ExtensionStackDeleter {
    void operator()(STACK_OF(X509_EXTENSION) * stack) const {
        sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
    }
};
using X509ExtensionStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), X509ExtensionStackDeleter>;

/// Frees an ASN1_SEQUENCE_ANY (STACK_OF(ASN1_TYPE)) and its elements.
struct Asn1SequenceDeleter {
    void operator()(ASN1_SEQUENCE_ANY* stack) const {
        sk_ASN1_TYPE_pop_free(stack, ASN1_TYPE_free);
    }
};
using Asn1SequencePtr = std::unique_ptr<ASN1_SEQUENCE_ANY, Asn1SequenceDeleter>;

/// Throws Error(kind, "<what>: <first OpenSSL reason>") and clears the OpenSSL error queue.
[[noreturn]] void throw_openssl(ErrorKind kind, std::string what, std::string hint = {});

/// A property query that prefers the provider holding `key` ("?provider=tpm2"), so that a key
/// living in a device signs there instead of being exported to another provider; "" for keys of
/// the built-in provider and for legacy (engine/libp11) keys.
std::string provider_query_for(EVP_PKEY* key);

/// The first reason in the OpenSSL error queue ("" when empty); clears the queue.
std::string take_openssl_error();

/// A read-only memory BIO over `data` (which must outlive it).
BioPtr memory_bio(const void* data, std::size_t size);

/// Everything written to a memory BIO so far.
Bytes bio_contents(BIO* bio);

/// Parses a dotted OID ("1.3.6.1.4.1.311.20.2"); throws Internal on a malformed literal.
Asn1ObjectPtr oid(const char* dotted);

/// Dotted text of an OID ("1.3.6.1.4.1.311.21.7").
std::string oid_text(const ASN1_OBJECT* object);

/// Lower-case hex of `size` bytes, no separators.
std::string hex(const unsigned char* data, std::size_t size);

/// DER of `object` through its OpenSSL i2d function; throws Internal when encoding fails.
template <typename T, typename I2d>
Bytes der_of(const T* object, I2d i2d) {
    const int length = i2d(object, nullptr);
    if (length <= 0) {
        throw_openssl(ErrorKind::Internal, "cannot DER-encode an ASN.1 value");
    }
    Bytes out(static_cast<std::size_t>(length));
    unsigned char* cursor = out.data();
    i2d(object, &cursor);
    return out;
}

}  // namespace certenroll::crypto
