#pragma once
/// The state directory: pending requests (what retrieve-pending polls) and managed certificates
/// (what renew walks), one JSON file per record, each written atomically.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace certenroll::store {

class FileSetReplacement;

using TimePoint = std::chrono::system_clock::time_point;

/// Where the files of one certificate live. Empty paths are not written.
struct OutputPaths {
    std::filesystem::path key;
    std::filesystem::path certificate;
    std::filesystem::path chain;      ///< issuing CA certificates, leaf excluded
    std::filesystem::path fullchain;  ///< leaf followed by the chain
    std::filesystem::path pfx;
    std::filesystem::path certificate_der;  ///< the certificate in DER (--format der)
    std::filesystem::path p7b{};            ///< certificate and chain, certs-only PKCS#7, PEM
    std::filesystem::path p7b_der{};        ///< the same in DER
    /// The PFX protected with 3DES and a SHA-1 MAC (--pfx-legacy) instead of AES-256/PBKDF2.
    bool pfx_legacy = false;
};

/// Where a secret is read from: a file (its first line) or an environment variable. Records keep
/// these references, never the secret itself.
struct SecretSource {
    std::string file;
    std::string environment;  ///< the variable's name
    bool empty() const { return file.empty() && environment.empty(); }
};

/// How to reach the servers again for this certificate (renewal, retrieval): URLs, the
/// authentication and where its secrets are, TLS trust and proxy. Empty fields are unknown: the
/// command line, else the profile, supplies them (see flows/connection_settings.hpp).
struct Endpoint {
    std::string cep_url;
    std::string ces_url;
    std::string auth;  ///< "password", "kerberos", "certificate", "anonymous"
    std::string username;
    std::string ca_name;
    /// The CA's key-based renewal CES URL from the policy, if it offers one: renew --key-based
    /// then needs no other credential than the certificate itself.
    std::string renewal_url;
    /// Kerberos settings given at enroll, so that unattended renewal uses the same ones.
    std::string spn;
    std::string keytab;
    std::string principal;
    /// Renewed key-based before (renew --key-based): later renewals are key-based too, from
    /// `cep_url` (the key-based renewal CEP, when one was used) or `renewal_url`.
    bool key_based = false;
    /// References to the credentials used at enroll, so that renew and retrieve-pending run
    /// unattended, each certificate with its own.
    SecretSource password;
    std::string client_certificate;  ///< --client-cert: PEM/DER file or PFX
    std::string client_key;          ///< --client-key: file, TPM key file or pkcs11: URI
    SecretSource client_key_passphrase;
    std::string ca_bundle;
    std::string proxy;  ///< proxy URL, never with credentials in it
    std::string proxy_user;
    std::string proxy_auth;  ///< basic, ntlm, negotiate, any; empty = basic
    SecretSource proxy_password;
    SecretSource pfx_password;    ///< of the PFX output
    SecretSource key_passphrase;  ///< of the key file
    /// "rsa-pss" after enroll --signature rsa-pss: renewals sign (CSR and CMS) the same way even
    /// when the template does not ask for it. Empty: as the template says.
    std::string signature;
};

/// How the last attempt on a record ended (enroll, renew, retrieve-pending), shown by `list`.
/// The same outcome again is not rewritten: `at` is when the record first ended this way.
struct Outcome {
    TimePoint at{};
    std::string result;   ///< "issued", "renewed", "pending", or the error category ("auth", ...)
    std::string message;  ///< what happened; for a failure the error's message
};

/// A request the CA took under submission; enough to retrieve it later without the user's help.
struct PendingRequest {
    std::string name;  ///< the managed-certificate name it will become
    std::string request_id;
    std::string template_name;
    Endpoint endpoint;
    std::string key_backend;
    std::string key_reference;
    OutputPaths outputs;
    long long renewal_period_seconds = 0;  ///< from the template, for the managed record
    TimePoint submitted_at{};
    std::string deploy_hook;  ///< carried over to the managed record
    bool renewal = false;     ///< a renewal of the managed certificate `name`
    std::string denied;       ///< the CA's reason once denied; the record is then final
    /// A request made elsewhere (enroll --csr) without a key certenroll-cli holds: its public key
    /// (PEM), which the issued certificate must carry; key_reference is then empty.
    std::string public_key{};
    bool renewable = true;  ///< false: see ManagedCertificate::renewable
    std::optional<Outcome> last_outcome;
    /// The key was made for this request (not given with --key): removed when the CA denies it.
    bool key_generated = false;
};

/// A certificate this tool issued and keeps renewed.
struct ManagedCertificate {
    std::string name;
    std::string template_name;
    Endpoint endpoint;
    std::string key_backend;
    std::string key_reference;
    OutputPaths outputs;
    std::string serial;
    TimePoint not_before{};
    TimePoint not_after{};
    long long renewal_period_seconds = 0;  ///< from the template; 0 = unknown
    TimePoint updated_at{};
    std::string deploy_hook;  ///< shell command run after each renewal (renew --deploy-hook)
    /// false: enrolled from a CSR made elsewhere (enroll --csr) without --key, so there is no
    /// key to renew with; renew leaves it alone and it is shown as "not renewable by
    /// certenroll-cli".
    bool renewable = true;
    std::string subject;  ///< of the current certificate; empty in older records
    std::optional<Outcome> last_outcome;
};

class StateDirectory {
  public:
    explicit StateDirectory(std::filesystem::path root);

    const std::filesystem::path& root() const { return root_; }
    std::filesystem::path policy_cache_dir() const { return root_ / "policy-cache"; }
    std::filesystem::path keys_dir() const { return root_ / "keys"; }
    /// Journals of file-set replacements in flight (see store/replacement.hpp).
    std::filesystem::path journal_dir() const { return root_ / "journal"; }
    /// Default place for a certificate's files when the user names no paths.
    std::filesystem::path live_dir(const std::string& name) const { return root_ / "live" / name; }

    void save_pending(const PendingRequest& request) const;
    std::vector<PendingRequest> list_pending() const;
    /// By request ID, optionally narrowed to one CES URL (IDs are per CA).
    std::optional<PendingRequest> find_pending(const std::string& request_id) const;
    void remove_pending(const PendingRequest& request) const;

    /// Writes the record; with `replacement`, stages it there instead, so it is switched in
    /// together with the certificate files it describes (one journal, one roll-forward).
    void save_certificate(const ManagedCertificate& record,
                          FileSetReplacement* replacement = nullptr) const;
    std::vector<ManagedCertificate> list_certificates() const;
    std::optional<ManagedCertificate> find_certificate(const std::string& name) const;
    /// Names of all managed-certificate records, without reading them (a corrupt record must
    /// not hide the others).
    std::vector<std::string> certificate_names() const;

    /// A key generated for an enrollment whose request the CA has not accepted yet: written before
    /// the key file, removed once the request is pending or issued. It lets the next identical
    /// enroll reuse (or replace) that key instead of refusing an existing file.
    void save_key_attempt(const std::string& name, const std::filesystem::path& key) const;
    /// The key file an unfinished attempt for `name` made, if one is recorded.
    std::optional<std::filesystem::path> find_key_attempt(const std::string& name) const;
    void remove_key_attempt(const std::string& name) const;

    /// Refuses (local Error, exit 9) a state directory, or one of its subdirectories, that
    /// another user owns or may write, and makes ours 0700 where others may only read them;
    /// every reader and writer of records calls it first (see platform/trust.hpp). Checked once
    /// per StateDirectory: a directory found to be ours and closed to others can afterwards be
    /// changed only by us or root (and a missing one created only by us, inside it), while a
    /// cron run over 1,000 records had repeated the seven checks for each record.
    void require_trusted() const;

  private:
    std::filesystem::path pending_path(const PendingRequest& request) const;
    std::filesystem::path root_;
    mutable bool trusted_ = false;  // require_trusted() passed
};

/// A record's JSON text to its struct, without touching the file system (what the StateDirectory
/// readers and the fuzz target use). Throws a local Error naming `where` for corrupt JSON or a
/// missing, mistyped or out-of-range field.
PendingRequest parse_pending_record(std::string_view text, const std::string& where);
ManagedCertificate parse_certificate_record(std::string_view text, const std::string& where);

/// The default state directory: $CERTENROLL_STATE_DIR, else /var/lib/certenroll for root, else
/// $XDG_STATE_HOME/certenroll or ~/.local/state/certenroll.
std::filesystem::path default_state_dir();

/// A name usable as a file name: letters, digits, '.', '-', '_'; anything else is a usage error.
void check_record_name(const std::string& name);

}  // namespace certenroll::store
