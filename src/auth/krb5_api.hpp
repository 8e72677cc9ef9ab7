#pragma once
/// The GSS-API and krb5 entry points this module calls, reached through one table.
///
/// On Linux, libgssapi_krb5 and libkrb5 are loaded with dlopen on first use instead of being
/// linked: only Kerberos authentication and diagnose's
/// Kerberos checks need them, and their loading and relocation cost every other run (--version,
/// renew --all with nothing due) about 0.8 M instructions and 0.7 MB of RSS
/// (tests/bench/README.md). Elsewhere the table points at the linked functions.
///
/// kerberos.cpp and kerberos_inspect.cpp call the functions by their usual names: krb5_lazy.hpp,
/// included last, redirects those names to this table (the signatures come from the library's
/// own headers through decltype, so a mismatch does not compile). A function called without an
/// entry in the lists below fails to link on Linux, where the libraries are not linked.

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <profile.h>

// clang-format off
#define CERTENROLL_GSSAPI_FUNCTIONS(X) \
    X(gss_acquire_cred) \
    X(gss_acquire_cred_from) \
    X(gss_delete_sec_context) \
    X(gss_display_status) \
    X(gss_import_name) \
    X(gss_init_sec_context) \
    X(gss_release_buffer) \
    X(gss_release_cred) \
    X(gss_release_name)

#define CERTENROLL_KRB5_FUNCTIONS(X) \
    X(krb5_cc_cache_match) \
    X(krb5_cc_close) \
    X(krb5_cc_default) \
    X(krb5_cc_destroy) \
    X(krb5_cc_end_seq_get) \
    X(krb5_cc_get_name) \
    X(krb5_cc_get_principal) \
    X(krb5_cc_get_type) \
    X(krb5_cc_initialize) \
    X(krb5_cc_new_unique) \
    X(krb5_cc_next_cred) \
    X(krb5_cc_start_seq_get) \
    X(krb5_cc_store_cred) \
    X(krb5_copy_principal) \
    X(krb5_enctype_to_name) \
    X(krb5_free_context) \
    X(krb5_free_cred_contents) \
    X(krb5_free_creds) \
    X(krb5_free_default_realm) \
    X(krb5_free_error_message) \
    X(krb5_free_keytab_entry_contents) \
    X(krb5_free_principal) \
    X(krb5_free_unparsed_name) \
    X(krb5_get_credentials) \
    X(krb5_get_default_realm) \
    X(krb5_get_error_message) \
    X(krb5_get_init_creds_keytab) \
    X(krb5_get_init_creds_opt_alloc) \
    X(krb5_get_init_creds_opt_free) \
    X(krb5_get_init_creds_password) \
    X(krb5_get_profile) \
    X(krb5_init_context) \
    X(krb5_is_config_principal) \
    X(krb5_kt_close) \
    X(krb5_kt_end_seq_get) \
    X(krb5_kt_next_entry) \
    X(krb5_kt_resolve) \
    X(krb5_kt_start_seq_get) \
    X(krb5_parse_name) \
    X(krb5_sname_to_principal) \
    X(krb5_unparse_name) \
    X(profile_free_list) \
    X(profile_get_values) \
    X(profile_release)
// clang-format on

namespace certenroll::auth {

struct Krb5Api {
#define CERTENROLL_KRB5_SLOT(name) decltype(&::name) name;
    CERTENROLL_GSSAPI_FUNCTIONS(CERTENROLL_KRB5_SLOT)
    CERTENROLL_KRB5_FUNCTIONS(CERTENROLL_KRB5_SLOT)
#undef CERTENROLL_KRB5_SLOT
    // Name types and the mechanism: data in libgssapi_krb5, read once when it is loaded.
    gss_OID nt_hostbased_service;    ///< GSS_C_NT_HOSTBASED_SERVICE
    gss_OID krb5_nt_principal_name;  ///< GSS_KRB5_NT_PRINCIPAL_NAME
    gss_OID mech_krb5;               ///< gss_mech_krb5
};

/// The table, loading the libraries the first time; throws a Local Error when they are missing.
const Krb5Api& krb5_api();

}  // namespace certenroll::auth
