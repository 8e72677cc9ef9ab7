#include "auth/krb5_api.hpp"

#include <string>

#include "error.hpp"

#if CERTENROLL_LAZY_KRB5
#include <dlfcn.h>
#endif

namespace certenroll::auth {

namespace {

#if CERTENROLL_LAZY_KRB5

Error load_error(const std::string& library, const std::string& what) {
    return Error(ErrorKind::Local, "cannot load " + library + " for Kerberos: " + what,
                 "install MIT Kerberos's libraries (Debian: libgssapi-krb5-2 libkrb5-3, Fedora: "
                 "krb5-libs)");
}

void* open_library(const char* name) {
    // Never unloaded: GSS-API keeps mechanism state until exit.
    void* library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char* detail = dlerror();
        throw load_error(name, detail != nullptr ? detail : "dlopen failed");
    }
    return library;
}

void* symbol(void* library, const char* library_name, const char* name) {
    void* address = dlsym(library, name);
    if (address == nullptr)
        throw load_error(library_name, std::string("no symbol ") + name);
    return address;
}

template <typename F>
void bind(void* library, const char* library_name, F& slot, const char* name) {
    slot = reinterpret_cast<F>(symbol(library, library_name, name));
}

Krb5Api load() {
    constexpr const char* kGssapi = "libgssapi_krb5.so.2";
    constexpr const char* kKrb5 = "libkrb5.so.3";
    void* gssapi = open_library(kGssapi);
    void* krb5 = open_library(kKrb5);
    Krb5Api api{};
#define CERTENROLL_BIND_GSSAPI(name) bind(gssapi, kGssapi, api.name, #name);
#define CERTENROLL_BIND_KRB5(name) bind(krb5, kKrb5, api.name, #name);
    CERTENROLL_GSSAPI_FUNCTIONS(CERTENROLL_BIND_GSSAPI)
    CERTENROLL_KRB5_FUNCTIONS(CERTENROLL_BIND_KRB5)
#undef CERTENROLL_BIND_GSSAPI
#undef CERTENROLL_BIND_KRB5
    // The OID variables: dlsym gives the address of each gss_OID.
    api.nt_hostbased_service =
        *static_cast<gss_OID*>(symbol(gssapi, kGssapi, "GSS_C_NT_HOSTBASED_SERVICE"));
    api.krb5_nt_principal_name =
        *static_cast<gss_OID*>(symbol(gssapi, kGssapi, "GSS_KRB5_NT_PRINCIPAL_NAME"));
    api.mech_krb5 = *static_cast<gss_OID*>(symbol(gssapi, kGssapi, "gss_mech_krb5"));
    return api;
}

#else

Krb5Api load() {
    Krb5Api api{};
#define CERTENROLL_TAKE(name) api.name = &::name;
    CERTENROLL_GSSAPI_FUNCTIONS(CERTENROLL_TAKE)
    CERTENROLL_KRB5_FUNCTIONS(CERTENROLL_TAKE)
#undef CERTENROLL_TAKE
    api.nt_hostbased_service = GSS_C_NT_HOSTBASED_SERVICE;
    api.krb5_nt_principal_name = const_cast<gss_OID>(GSS_KRB5_NT_PRINCIPAL_NAME);
    api.mech_krb5 = const_cast<gss_OID>(gss_mech_krb5);
    return api;
}

#endif

}  // namespace

const Krb5Api& krb5_api() {
    // A failed load throws and is retried on the next call (static initialisation rules).
    static const Krb5Api api = load();
    return api;
}

}  // namespace certenroll::auth
