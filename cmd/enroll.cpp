// `enroll`: a template name in, a key and an issued certificate on disk out.

#include <fstream>
#include <iostream>
#include <iterator>

#include "common_options.hpp"
#include "crypto/external_csr.hpp"
#include "flows/enroll.hpp"
#include "flows/external_csr.hpp"
#include "render_outcome.hpp"

namespace certenroll::cli {

namespace {

struct EnrollOptions {
    ConnectionOptions connection;
    std::string template_name;
    std::string name;
    std::string key_type;
    std::string existing_key;
    std::string key_backend = "software";
    bool store_on_token = false;
    std::string key_passphrase_file;
    std::string subject;
    std::string common_name;
    std::vector<std::string> dns, ip, email, upn, uri;
    std::string key_out, cert_out, chain_out, fullchain_out, pfx_out;
    std::string pfx_password_file;
    bool pfx_legacy = false;
    std::string csr_file;
    std::string out_dir;
    std::vector<std::string> formats;
    bool refresh = false;
    bool force = false;
    bool dry_run = false;
    std::string signature;
};

flows::OutputFormats parse_formats(const std::vector<std::string>& names, bool pfx_out) {
    if (names.empty())
        return {true, false, pfx_out};
    flows::OutputFormats formats{false, false, pfx_out};
    for (const auto& name : names) {
        if (name == "pem") {
            formats.pem = true;
        } else if (name == "der") {
            formats.der = true;
        } else if (name == "pfx") {
            formats.pfx = true;
        } else if (name == "p7b") {
            formats.p7b = true;
        } else if (name == "p7b-der") {
            formats.p7b_der = true;
        } else {
            throw Error(ErrorKind::Usage, "unknown --format '" + name + "'",
                        "use pem, der, pfx, p7b or p7b-der (repeat --format for several)");
        }
    }
    return formats;
}

flows::EnrollRequest make_request(const EnrollOptions& o) {
    flows::EnrollRequest request;
    request.connection = make_connection(o.connection);
    request.template_name = o.template_name;
    request.name = o.name;
    if (!o.key_type.empty()) {
        request.key_spec = keys::parse_key_type(o.key_type);
    }
    request.existing_key = o.existing_key;
    request.key_backend = std::string(keys::checked_backend_name(o.key_backend));
    request.store_on_token = o.store_on_token;
    if (!o.key_passphrase_file.empty()) {
        request.key_passphrase =
            read_secret(o.key_passphrase_file, nullptr, "", "--key-passphrase-file");
    }
    if (!o.subject.empty() && !o.common_name.empty()) {
        throw Error(ErrorKind::Usage, "--subject and --cn both given", "use one of them");
    }
    request.subject = o.common_name.empty() ? o.subject : "CN=" + o.common_name;
    request.sans = {o.dns, o.ip, o.email, o.upn, o.uri};
    request.outputs = {o.key_out, o.cert_out, o.chain_out, o.fullchain_out, o.pfx_out, {}};
    request.out_dir = o.out_dir;
    request.formats = parse_formats(o.formats, !o.pfx_out.empty() || o.pfx_legacy);
    request.outputs.pfx_legacy = o.pfx_legacy;
    request.dry_run = o.dry_run;
    request.rsa_pss = o.signature == "rsa-pss";
    // A device key cannot go into a PFX: the flow says so, without asking for a password first.
    if (request.formats.pfx && !o.dry_run && !keys::is_hardware_backend(request.key_backend)) {
        request.pfx_password = read_secret(o.pfx_password_file, "CERTENROLL_PFX_PASSWORD",
                                           "PFX password: ", "--pfx-password-file");
    }
    request.refresh_policy = o.refresh;
    request.force = o.force;
    // Kept with the certificate, by reference, for renew and retrieve-pending: only what this
    // authentication uses.
    auto& settings = request.settings;
    settings = recorded_settings(o.connection, true);
    const auto mode = request.connection.credentials.mode;
    if (mode != xcep::AuthMode::UsernamePassword)
        settings.password = {};
    if (mode != xcep::AuthMode::Certificate) {
        settings.client_certificate.clear();
        settings.client_key.clear();
        settings.client_key_passphrase = {};
    }
    if (request.formats.pfx)
        settings.pfx_password = secret_source(o.pfx_password_file, "CERTENROLL_PFX_PASSWORD", true);
    settings.key_passphrase = secret_source(o.key_passphrase_file, nullptr, false);
    return request;
}

// A CSR is a few KiB; anything much larger is not one.
constexpr std::size_t kMaxCsrBytes = 1024 * 1024;

encoding::Bytes read_csr_input(const std::string& file) {
    const bool from_stdin = file == "-";
    std::ifstream stream;
    if (!from_stdin) {
        stream.open(file, std::ios::binary);
        if (!stream) {
            throw Error(ErrorKind::Usage, "cannot read the CSR file " + file,
                        "pass the path of a PEM or DER PKCS#10 request, or - for standard input");
        }
    }
    std::istream& in = from_stdin ? std::cin : stream;
    encoding::Bytes data;
    for (std::istreambuf_iterator<char> it(in), end; it != end; ++it) {
        if (data.size() == kMaxCsrBytes) {
            throw Error(ErrorKind::Usage,
                        (from_stdin ? std::string("standard input") : file) +
                            " is larger than 1 MiB, which no certificate request is",
                        "pass the PKCS#10 request file");
        }
        data.push_back(static_cast<std::uint8_t>(*it));
    }
    return data;
}

// enroll --csr: the key is not ours, so the options that make or describe one do not apply.
flows::CsrEnrollRequest make_csr_request(const EnrollOptions& o) {
    const std::vector<std::pair<bool, const char*>> conflicts = {
        {!o.key_type.empty(), "--key-type"},
        {o.key_backend != "software", "--key-backend"},
        {o.store_on_token, "--store-on-token"},
        {!o.subject.empty() || !o.common_name.empty(), "--subject/--cn"},
        {!o.dns.empty() || !o.ip.empty() || !o.email.empty() || !o.upn.empty() || !o.uri.empty(),
         "--dns/--ip/--email/--upn/--uri"},
        {!o.key_out.empty(), "--key-out"},
        {!o.pfx_out.empty() || o.pfx_legacy, "--pfx-out/--pfx-legacy"},
        {o.dry_run, "--dry-run"}};
    for (const auto& [given, flag] : conflicts) {
        if (given) {
            throw Error(ErrorKind::Usage, std::string(flag) + " does not apply with --csr",
                        "the request is made already: its key, subject and SANs are in the CSR "
                        "file, and no key or PFX is written");
        }
    }
    flows::CsrEnrollRequest request;
    auto& submit = request.submit;
    submit.connection = make_connection(o.connection);
    submit.template_name = o.template_name;
    submit.csr = crypto::read_external_csr(
        read_csr_input(o.csr_file), o.csr_file == "-" ? "the CSR on standard input" : o.csr_file);
    submit.refresh_policy = o.refresh;
    submit.force = o.force;
    request.name = o.name;
    request.key_reference = o.existing_key;
    if (!o.key_passphrase_file.empty()) {
        request.key_passphrase =
            read_secret(o.key_passphrase_file, nullptr, "", "--key-passphrase-file");
    }
    request.outputs = {{}, o.cert_out, o.chain_out, o.fullchain_out, {}, {}};
    request.out_dir = o.out_dir;
    request.formats = parse_formats(o.formats, false);
    return request;
}

// The options of `enroll`, declared only when it is the subcommand being run (see Command).
void declare_options(CLI::App* sub, const std::shared_ptr<EnrollOptions>& o) {
    add_connection_options(*sub, o->connection, true);
    const std::string request = "Request";
    sub->add_option("-t,--template", o->template_name, "Certificate template (its common name)")
        ->required()
        ->group(request);
    sub->add_option("--name", o->name,
                    "Name of this certificate for renew and the default file location "
                    "(default: the template name)")
        ->group(request);
    sub->add_option("--subject", o->subject, "Subject DN, e.g. \"CN=web1.example.com,O=Example\"")
        ->group(request);
    sub->add_option("--cn", o->common_name, "Shortcut for --subject CN=VALUE")->group(request);
    sub->add_option("--dns", o->dns, "DNS name for the subject alternative name (repeatable)")
        ->group(request);
    sub->add_option("--ip", o->ip, "IP address SAN (repeatable)")->group(request);
    sub->add_option("--email", o->email, "E-mail SAN (repeatable)")->group(request);
    sub->add_option("--upn", o->upn, "User principal name SAN (repeatable)")->group(request);
    sub->add_option("--uri", o->uri, "URI SAN (repeatable)")->group(request);
    sub->add_flag("--refresh-policy", o->refresh, "Fetch the policy even if the cache is fresh")
        ->group(request);
    sub->add_flag("--force", o->force, "Submit even if the policy says enrollment is not permitted")
        ->group(request);
    sub->add_option("--csr", o->csr_file,
                    "Submit this PKCS#10 request (PEM or DER; - for standard input) made "
                    "elsewhere instead of generating a key; no key or PFX is written")
        ->group(request);
    sub->add_flag("--dry-run", o->dry_run,
                  "Print the CSR and the request that would be sent; send and write nothing")
        ->group(request);
    const std::string key = "Key";
    sub->add_option("--key-type", o->key_type,
                    "rsa[:BITS], ec[:P-256|P-384|P-521] or ml-dsa-44|65|87 (OpenSSL 3.5+) "
                    "(default: what the template asks for)")
        ->group(key);
    sub->add_option("--signature", o->signature,
                    "rsa-pss: sign the request with RSASSA-PSS (default: PKCS#1 v1.5, or PSS "
                    "when the template asks for the alternate signature format)")
        ->check(CLI::IsMember({"rsa-pss"}))
        ->group(key);
    sub->add_option("--key-backend", o->key_backend,
                    "Where the new key is generated: software (a PEM file), pkcs11 (on the "
                    "token; see --pkcs11-token) or tpm (a TPM-wrapped key file)")
        ->group(key)
        ->capture_default_str();
    sub->add_option("--key", o->existing_key,
                    "Use this existing key (file, TPM key file or pkcs11: URI) instead of "
                    "generating one (e.g. to retry)")
        ->group(key);
    sub->add_flag("--store-on-token", o->store_on_token,
                  "Also store the issued certificate on the token beside its key")
        ->group(key);
    sub->add_option("--key-passphrase-file", o->key_passphrase_file,
                    "Encrypt the key file with the passphrase in this file")
        ->group(key);
    const std::string out = "Output files (default: <state-dir>/live/<name>/)";
    sub->add_option("--key-out", o->key_out, "Private key (PEM, mode 0600)")->group(out);
    sub->add_option("--cert-out", o->cert_out, "Certificate (PEM)")->group(out);
    sub->add_option("--chain-out", o->chain_out, "Issuing CA chain (PEM)")->group(out);
    sub->add_option("--fullchain-out", o->fullchain_out, "Certificate followed by its chain (PEM)")
        ->group(out);
    sub->add_option("--pfx-out", o->pfx_out, "PKCS#12 file with key, certificate and chain")
        ->group(out);
    sub->add_option("--out-dir", o->out_dir,
                    "Write the files here as NAME.key.pem, NAME.cert.pem, ... instead")
        ->group(out);
    sub->add_option("--format", o->formats,
                    "pem (key, cert, chain, fullchain), der (certificate), pfx, p7b (certificate "
                    "and chain as PKCS#7, PEM) or p7b-der; repeatable (default: pem)")
        ->group(out);
    sub->add_flag("--pfx-legacy", o->pfx_legacy,
                  "Write the PFX with 3DES and a SHA-1 MAC (weaker) for importers that cannot "
                  "read AES PFX files (Windows Server 2016 and older); implies --format pfx")
        ->group(out);
    sub->add_option("--pfx-password-file", o->pfx_password_file,
                    "File holding the PFX password (else $CERTENROLL_PFX_PASSWORD, else a prompt)")
        ->group(out);
}

}  // namespace

Command add_enroll(CLI::App& app, const GlobalOptions& global) {
    auto o = std::make_shared<EnrollOptions>();
    auto* sub = app.add_subcommand("enroll",
                                   "Generate a key, request a certificate from CES, and save both");
    return {sub, [sub, o]() { declare_options(sub, o); },
            [o, &global]() {
                const auto context = make_context(global, o->connection, "enroll");
                if (!o->csr_file.empty())
                    return render_enroll_outcome(flows::enroll_csr(context, make_csr_request(*o)));
                return render_enroll_outcome(flows::enroll(context, make_request(*o)));
            }};
}

}  // namespace certenroll::cli
