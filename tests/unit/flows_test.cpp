// The decisions the flows make before any traffic: what to request, whether a template can be
// used, when a certificate is due, where files go; the audit events they record; and what they
// do once the CA has answered (the issuance tail).

#include <doctest/doctest.h>

#include <fstream>

#include "../support/memory_transport.hpp"
#include "audit/log.hpp"
#include "crypto/features.hpp"
#include "error.hpp"
#include "flows/audit_events.hpp"
#include "flows/connection_settings.hpp"
#include "flows/deploy_hook.hpp"
#include "flows/inventory.hpp"
#include "flows/issuance.hpp"
#include "flows/policy.hpp"
#include "flows/renew.hpp"
#include "flows/template_rules.hpp"
#include "keys/software_key.hpp"
#include "platform/platform.hpp"
#include "temp_dir.hpp"
#include "test_pki.hpp"
#include "xcep/endpoints.hpp"

using namespace certenroll;

namespace {

xcep::Policy sample_policy() {
    xcep::Policy policy;
    xcep::CertificateAuthority ca;
    ca.name = "Issuing-CA";
    ca.enroll_permission = true;
    ca.uris = {{xcep::AuthMode::UsernamePassword, "https://ces/pw", 1, false},
               {xcep::AuthMode::Anonymous, "https://ces/kbr", 1, true}};
    policy.cas.push_back(ca);

    xcep::Template web;
    web.common_name = "WebServer";
    web.schema = 2;
    web.permission_enroll = true;
    web.key.minimal_key_length = 3072;
    web.subject_name_flags = xcep::flag::subject_enrollee_supplies;
    web.template_oid.value = "1.3.6.1.4.1.311.21.8.1.2";
    web.revision_major = 100;
    web.revision_minor = 4;
    web.ca_indexes = {0};
    policy.templates.push_back(web);

    xcep::Template ec = web;
    ec.common_name = "ECWebServer";
    ec.schema = 3;
    ec.key.minimal_key_length = 384;
    ec.key.algorithm_oid = xcep::Oid{"1.2.840.10045.2.1", 3, 1, "ECC"};
    ec.hash_algorithm = xcep::Oid{"2.16.840.1.101.3.4.2.2", 1, 2, "sha384"};
    policy.templates.push_back(ec);

    xcep::Template machine = web;
    machine.common_name = "Machine";
    machine.key.minimal_key_length = 2048;
    machine.subject_name_flags = 0x48000000;  // the CA builds subject and DNS SAN
    machine.permission_enroll = false;
    policy.templates.push_back(machine);

    xcep::Template archived = web;
    archived.common_name = "Archived";
    archived.private_key_flags = xcep::flag::private_key_archival;
    policy.templates.push_back(archived);
    return policy;
}

template <typename F>
Error error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    FAIL("expected an Error");
    return Error(ErrorKind::Internal, "unreachable");
}

}  // namespace

TEST_CASE("the key and hash default to what the template asks for") {
    const auto policy = sample_policy();
    std::vector<std::string> warnings;
    const auto rsa = flows::plan_request(&policy.templates[0], "WebServer", std::nullopt, "CN=web1",
                                         {}, warnings);
    CHECK(rsa.key_spec.algorithm == keys::KeyAlgorithm::Rsa);
    CHECK(rsa.key_spec.rsa_bits == 3072);
    CHECK(rsa.csr.hash == "SHA256");
    CHECK(rsa.csr.template_name == "WebServer");
    CHECK(rsa.csr.template_oid == "1.3.6.1.4.1.311.21.8.1.2");
    CHECK(rsa.csr.template_major == 100);
    CHECK(rsa.csr.template_minor == 4);
    CHECK(warnings.empty());

    const auto ec = flows::plan_request(&policy.templates[1], "ECWebServer", std::nullopt, "CN=ec1",
                                        {}, warnings);
    CHECK(ec.key_spec.algorithm == keys::KeyAlgorithm::Ec);
    CHECK(ec.key_spec.ec_curve == "P-384");
    CHECK(ec.csr.hash == "SHA384");
}

TEST_CASE("a key the template would refuse is refused with the fix") {
    const auto policy = sample_policy();
    std::vector<std::string> warnings;
    auto small = error_of([&] {
        flows::plan_request(&policy.templates[0], "WebServer", keys::parse_key_type("rsa:2048"),
                            "CN=a", {}, warnings);
    });
    CHECK(small.kind() == ErrorKind::Usage);
    CHECK(small.message().find("at least 3072") != std::string::npos);
    CHECK(small.hint().find("rsa:3072") != std::string::npos);
    auto wrong = error_of([&] {
        flows::plan_request(&policy.templates[1], "ECWebServer", keys::parse_key_type("rsa:4096"),
                            "CN=a", {}, warnings);
    });
    CHECK(wrong.message().find("requires an EC key") != std::string::npos);
    auto archival = error_of([&] {
        flows::plan_request(&policy.templates[3], "Archived", std::nullopt, "CN=a", {}, warnings);
    });
    CHECK(archival.message().find("key archival") != std::string::npos);
}

TEST_CASE("a CSR made elsewhere is checked against the template, with fixes for the CSR") {
    const auto policy = sample_policy();
    const auto& web = policy.templates[0];  // RSA >= 3072, the request supplies the subject
    const auto csr_of = [](const crypto::CsrSpec& spec, const char* key_type) {
        auto key = keys::SoftwareKeyBackend().generate(keys::parse_key_type(key_type));
        return crypto::read_external_csr(crypto::build_csr(spec, key.get()), "test.csr");
    };
    crypto::CsrSpec named;
    named.subject = "CN=app.example.test";
    std::vector<std::string> warnings;
    flows::check_csr_against_template(csr_of(named, "rsa:3072"), web, warnings);
    CHECK(warnings.empty());

    auto small = error_of(
        [&] { flows::check_csr_against_template(csr_of(named, "rsa:2048"), web, warnings); });
    CHECK(small.kind() == ErrorKind::Usage);
    CHECK(small.message().find("at least 3072") != std::string::npos);
    CHECK(small.hint().find("make the request again") != std::string::npos);
    CHECK(small.hint().find("--key-type") == std::string::npos);  // not ours to make
    auto ec = error_of([&] {
        flows::check_csr_against_template(csr_of(named, "ec:P-256"), policy.templates[1], warnings);
    });
    CHECK(ec.message().find("at least 384") != std::string::npos);

    crypto::CsrSpec other = named;
    other.template_name = "Machine";
    auto wrong_name = error_of(
        [&] { flows::check_csr_against_template(csr_of(other, "rsa:3072"), web, warnings); });
    CHECK(wrong_name.message().find("names template 'Machine'") != std::string::npos);
    other.template_name = "webserver";  // template names compare without case, as AD CS does
    flows::check_csr_against_template(csr_of(other, "rsa:3072"), web, warnings);
    other.template_name = "";
    other.template_oid = "1.3.6.1.4.1.311.21.8.9.9";
    auto wrong_oid = error_of(
        [&] { flows::check_csr_against_template(csr_of(other, "rsa:3072"), web, warnings); });
    CHECK(wrong_oid.message().find("1.3.6.1.4.1.311.21.8.9.9") != std::string::npos);

    auto empty = error_of([&] {
        flows::check_csr_against_template(csr_of(crypto::CsrSpec{}, "rsa:3072"), web, warnings);
    });
    CHECK(empty.message().find("neither a subject nor") != std::string::npos);
    CHECK(warnings.empty());

    // The CA builds Machine's subject and SANs: the CSR's are only warned about.
    crypto::CsrSpec with_sans = named;
    with_sans.sans.dns = {"app.example.test"};
    flows::check_csr_against_template(csr_of(with_sans, "rsa:2048"), policy.templates[2], warnings);
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[0].find("ignore the CSR's subject 'CN=app.example.test'") != std::string::npos);
    CHECK(warnings[1].find("ignore those in the CSR") != std::string::npos);

    auto archival = error_of([&] {
        flows::check_csr_against_template(csr_of(named, "rsa:3072"), policy.templates[3], warnings);
    });
    CHECK(archival.message().find("key archival") != std::string::npos);
}

TEST_CASE("subject rules: required when the request supplies it, warned when the CA builds it") {
    const auto policy = sample_policy();
    std::vector<std::string> warnings;
    auto missing = error_of([&] {
        flows::plan_request(&policy.templates[0], "WebServer", std::nullopt, "", {}, warnings);
    });
    CHECK(missing.kind() == ErrorKind::Usage);
    CHECK(missing.hint().find("--cn") != std::string::npos);
    crypto::SubjectAltNames sans;
    sans.dns = {"m.example.test"};
    flows::plan_request(&policy.templates[2], "Machine", std::nullopt, "CN=m", sans, warnings);
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[0].find("ignore --subject") != std::string::npos);
    CHECK(warnings[1].find("ignore --dns") != std::string::npos);
}

TEST_CASE("enroll permission: denied unless forced") {
    const auto policy = sample_policy();
    std::vector<std::string> warnings;
    auto denied =
        error_of([&] { flows::check_enroll_permission(policy.templates[2], false, warnings); });
    CHECK(denied.kind() == ErrorKind::Denied);
    CHECK(denied.hint().find("--force") != std::string::npos);
    flows::check_enroll_permission(policy.templates[2], true, warnings);
    CHECK(warnings.size() == 1);
    auto unknown = error_of([&] { flows::find_template_or_throw(policy, "Nope"); });
    CHECK(unknown.kind() == ErrorKind::Usage);  // as likely a typo
    CHECK(unknown.hint().find("WebServer") != std::string::npos);
    // A policy with no template at all for this identity: a permission problem (exit 4).
    auto none = error_of([&] { flows::find_template_or_throw(xcep::Policy{}, "WebServer"); });
    CHECK(none.kind() == ErrorKind::Denied);
    CHECK(none.hint().find("permission") != std::string::npos);
}

TEST_CASE("list tells where a key lives") {
    CHECK(flows::key_location("software", "/k/key.pem", false).kind == "file");
    CHECK(flows::key_location("tpm", "/k/key.pem", false).kind == "tpm");
    CHECK(flows::key_location("pkcs11", "pkcs11:token=T;object=web", false).kind == "pkcs11");
    // renew --cert records no backend: told by the reference, and by the file's content.
    CHECK(flows::key_location("", "pkcs11:token=T;object=web", false).kind == "pkcs11");
    CHECK(flows::key_location("", "/k/key.pem", true).kind == "tpm");
    const auto file = flows::key_location("", "/k/key.pem", false);
    CHECK(file.kind == "file");
    CHECK(file.where == "/k/key.pem");
}

TEST_CASE("why_unusable names permission, auth mode and unsupported requirements") {
    const auto policy = sample_policy();
    CHECK(
        flows::why_unusable(policy, policy.templates[0], xcep::AuthMode::UsernamePassword).empty());
    const auto kerberos =
        flows::why_unusable(policy, policy.templates[0], xcep::AuthMode::Kerberos);
    REQUIRE(kerberos.size() == 1);
    CHECK(kerberos[0] == "no CES URL for --auth kerberos (offered: password)");
    const auto machine =
        flows::why_unusable(policy, policy.templates[2], xcep::AuthMode::UsernamePassword);
    REQUIRE(machine.size() == 1);
    CHECK(machine[0].find("no Enroll permission") != std::string::npos);
    const auto archived =
        flows::why_unusable(policy, policy.templates[3], xcep::AuthMode::UsernamePassword);
    REQUIRE(archived.size() == 1);
    CHECK(archived[0].find("key archival") != std::string::npos);
}

namespace {

// Windows names CNG templates' algorithms by curve OID (ECDSA_P256 → 1.2.840.10045.3.1.7).
xcep::Template with_algorithm(xcep::Template tmpl, const std::string& oid, const std::string& name,
                              std::uint32_t minimal_bits) {
    tmpl.common_name = name;
    tmpl.schema = 3;
    tmpl.key.minimal_key_length = minimal_bits;
    tmpl.key.algorithm_oid = xcep::Oid{oid, 3, 7, name};
    return tmpl;
}

}  // namespace

TEST_CASE("curve-OID templates: the curve is the template's, and another one is refused") {
    const auto policy = sample_policy();
    std::vector<std::string> warnings;
    const auto p384 = with_algorithm(policy.templates[0], "1.3.132.0.34", "ECDSA_P384", 384);
    const auto plan = flows::plan_request(&p384, "P384", std::nullopt, "CN=a", {}, warnings);
    CHECK(plan.key_spec.algorithm == keys::KeyAlgorithm::Ec);
    CHECK(plan.key_spec.ec_curve == "P-384");

    const auto p256 = with_algorithm(policy.templates[0], "1.2.840.10045.3.1.7", "ECDSA_P256", 256);
    CHECK(
        flows::plan_request(&p256, "P256", std::nullopt, "CN=a", {}, warnings).key_spec.ec_curve ==
        "P-256");
    // P-384 is larger than P-256 but not the curve the template names: the CA would refuse it.
    const auto other_curve = error_of([&] {
        flows::plan_request(&p256, "P256", keys::parse_key_type("ec:P-384"), "CN=a", {}, warnings);
    });
    CHECK(other_curve.kind() == ErrorKind::Usage);
    CHECK(other_curve.message().find("requires curve P-256 (ECDSA P-256)") != std::string::npos);
    CHECK(other_curve.hint().find("--key-type ec:P-256") != std::string::npos);
    const auto rsa = error_of([&] {
        flows::plan_request(&p256, "P256", keys::parse_key_type("rsa:3072"), "CN=a", {}, warnings);
    });
    CHECK(rsa.message().find("requires an EC key (ECDSA P-256)") != std::string::npos);

    // id-ecPublicKey leaves the curve open: any at least minimalKeyLength bits.
    const auto generic = with_algorithm(policy.templates[0], "1.2.840.10045.2.1", "ECC", 256);
    CHECK(
        flows::plan_request(&generic, "EC", keys::parse_key_type("ec:P-521"), "CN=a", {}, warnings)
            .key_spec.ec_curve == "P-521");
    const auto ecdh = with_algorithm(policy.templates[0], "1.3.132.0.35", "ECDH_P521", 521);
    CHECK(
        flows::plan_request(&ecdh, "ECDH", std::nullopt, "CN=a", {}, warnings).key_spec.ec_curve ==
        "P-521");
}

TEST_CASE("an ML-DSA template: planned on OpenSSL 3.5+, refused by name and version before") {
    auto policy = sample_policy();
    std::vector<std::string> warnings;
    const auto mldsa =
        with_algorithm(policy.templates[0], "2.16.840.1.101.3.4.3.18", "ML-DSA-65", 1952);
    policy.templates.push_back(mldsa);
    const auto reasons =
        flows::why_unusable(policy, policy.templates.back(), xcep::AuthMode::UsernamePassword);
    if (crypto::kHaveMlDsa) {
        const auto plan = flows::plan_request(&mldsa, "PQ", std::nullopt, "CN=a", {}, warnings);
        CHECK(plan.key_spec.algorithm == keys::KeyAlgorithm::MlDsa);
        CHECK(plan.key_spec.ml_dsa_level == 65);
        CHECK(reasons.empty());
        auto wrong = keys::parse_key_type("ml-dsa-44");
        const auto refused =
            error_of([&] { flows::plan_request(&mldsa, "PQ", wrong, "CN=a", {}, warnings); });
        CHECK(refused.message() ==
              "template 'ML-DSA-65' requires ML-DSA-65, not --key-type ML-DSA-44");
        return;
    }
    const auto refused =
        error_of([&] { flows::plan_request(&mldsa, "PQ", std::nullopt, "CN=a", {}, warnings); });
    CHECK(refused.kind() == ErrorKind::Usage);
    CHECK(refused.message() ==
          "template 'ML-DSA-65' requires ML-DSA-65 keys, which need OpenSSL 3.5 or later; this "
          "certenroll-cli was built with " +
              crypto::built_openssl_version());
    CHECK(refused.hint().find("OpenSSL 3.5") != std::string::npos);
    REQUIRE(reasons.size() == 1);
    CHECK(reasons[0].find("ML-DSA-65 keys, which need OpenSSL 3.5") != std::string::npos);
    CHECK(reasons[0].find("2.16.840") == std::string::npos);
}

TEST_CASE("the template's alternate signature flag asks for RSASSA-PSS") {
    auto policy = sample_policy();
    std::vector<std::string> warnings;
    auto tmpl = policy.templates[0];
    CHECK_FALSE(flows::plan_request(&tmpl, "T", std::nullopt, "CN=a", {}, warnings).csr.rsa_pss);
    tmpl.private_key_flags |= xcep::flag::private_key_alternate_signature;
    CHECK(flows::plan_request(&tmpl, "T", std::nullopt, "CN=a", {}, warnings).csr.rsa_pss);
}

TEST_CASE("a hash the template demands and this client cannot sign with is refused by name") {
    auto policy = sample_policy();
    std::vector<std::string> warnings;
    auto md5 = policy.templates[0];
    md5.hash_algorithm = xcep::Oid{"1.2.840.113549.2.5", 1, 9, "md5"};
    const auto refused =
        error_of([&] { flows::plan_request(&md5, "MD5", std::nullopt, "CN=a", {}, warnings); });
    CHECK(refused.kind() == ErrorKind::Usage);
    CHECK(refused.message().find("requires hash algorithm md5") != std::string::npos);
    md5.hash_algorithm->default_name.clear();
    CHECK(error_of([&] { flows::plan_request(&md5, "MD5", std::nullopt, "CN=a", {}, warnings); })
              .message()
              .find("unknown hash (OID 1.2.840.113549.2.5)") != std::string::npos);
}

TEST_CASE("a template or CA the policy got wrong is unusable with the reason; the rest works") {
    auto policy = sample_policy();
    policy.templates[0].policy_errors = {"policyOIDReference 99 does not match any oID"};
    const auto reasons =
        flows::why_unusable(policy, policy.templates[0], xcep::AuthMode::UsernamePassword);
    CHECK(reasons == std::vector<std::string>{"policyOIDReference 99 does not match any oID"});
    const auto refused = error_of([&] { flows::find_template_or_throw(policy, "WebServer"); });
    CHECK(refused.kind() == ErrorKind::Protocol);
    CHECK(refused.message().find("policyOIDReference 99 does not match any oID") !=
          std::string::npos);
    CHECK(flows::find_template_or_throw(policy, "ECWebServer") == &policy.templates[1]);

    // A broken CA: skipped while another CA issues the template, a reason when it is the only one.
    xcep::CertificateAuthority broken = policy.cas[0];
    broken.name = "cA 7";
    broken.policy_error = "<certificate> is not a DER X.509 certificate";
    broken.certificate_der.clear();
    policy.cas.push_back(broken);
    policy.templates[1].ca_indexes = {1, 0};
    CHECK(
        flows::why_unusable(policy, policy.templates[1], xcep::AuthMode::UsernamePassword).empty());
    CHECK(xcep::select_ces_endpoints(policy, policy.templates[1], xcep::AuthMode::UsernamePassword,
                                     false)
              .size() == 1);
    policy.templates[1].ca_indexes = {1};
    const auto only_broken =
        flows::why_unusable(policy, policy.templates[1], xcep::AuthMode::UsernamePassword);
    REQUIRE(only_broken.size() == 1);
    CHECK(only_broken[0] == "CA 'cA 7': <certificate> is not a DER X.509 certificate");
    CHECK(error_of([&] { flows::find_template_or_throw(policy, "ECWebServer"); }).kind() ==
          ErrorKind::Protocol);
}

TEST_CASE("nil subjectNameFlags: no subject rule and no warning either way") {
    auto policy = sample_policy();
    auto& t = policy.templates[0];
    t.subject_name_flags = 0;
    t.nil_flags.subject_name = true;
    std::vector<std::string> warnings;
    crypto::SubjectAltNames sans;
    sans.dns = {"a.example.test"};
    CHECK_NOTHROW(flows::plan_request(&t, "WebServer", std::nullopt, "", {}, warnings));
    flows::plan_request(&t, "WebServer", std::nullopt, "CN=a", sans, warnings);
    CHECK(warnings.empty());
}

TEST_CASE("renewal is due by --renew-before, else the renewal period, else 2/3 of the lifetime") {
    using namespace std::chrono;
    const system_clock::time_point start(seconds(1700000000));
    const auto end = start + hours(24 * 90);
    CHECK(flows::renewal_due_at(start, end, 0, std::nullopt) == start + hours(24 * 60));
    CHECK(flows::renewal_due_at(start, end, 14 * 86400, std::nullopt) == end - hours(24 * 14));
    CHECK(flows::renewal_due_at(start, end, 14 * 86400, seconds(86400)) == end - hours(24));
    // A renewal period longer than the lifetime would make every certificate due at once.
    CHECK(flows::renewal_due_at(start, end, 365 * 86400, std::nullopt) == start + hours(24 * 60));
    // A lifetime too long to double in nanoseconds (an end in 9999, saturated): two thirds of
    // it, from the start, without overflowing.
    const auto forever = system_clock::time_point::max();
    const auto due = flows::renewal_due_at(start, forever, 0, std::nullopt);
    const auto lifetime = duration_cast<seconds>(forever - start);
    CHECK(duration_cast<seconds>(due - start) == lifetime * 2 / 3);
    CHECK(flows::renewal_due_at(start, forever, 0, seconds(86400)) <= forever - hours(24));
    CHECK(flows::renewal_due_at(start, forever, 0, seconds(86400)) > forever - hours(25));
}

TEST_CASE(
    "due-time boundaries: a renewal period equal to, one second below and above the lifetime") {
    using namespace std::chrono;
    const system_clock::time_point start(seconds(1700000000));
    const seconds lifetime(630);
    const auto end = start + lifetime;
    const auto two_thirds = start + seconds(420);
    // Equal to the lifetime: the certificate would be due the moment it is issued; 2/3 instead.
    CHECK(flows::renewal_due_at(start, end, lifetime.count(), std::nullopt) == two_thirds);
    CHECK(flows::renewal_due_at(start, end, lifetime.count() + 1, std::nullopt) == two_thirds);
    CHECK(flows::renewal_due_at(start, end, lifetime.count() - 1, std::nullopt) ==
          start + seconds(1));
    // --renew-before is taken as given, even at the whole lifetime.
    CHECK(flows::renewal_due_at(start, end, 0, lifetime) == start);
}

namespace {

// A managed certificate "web" (software key on disk) valid 1000 s from `start`, renewal period
// 100 s: due at start + 900 s. The transport fails, so a due renewal stops after its delay.
struct ManagedFixture {
    test::TempDir dir;
    flows::TimePoint start = flows::TimePoint(std::chrono::seconds(1800000000));
    flows::TimePoint now = start;
    std::vector<std::chrono::milliseconds> sleeps;
    flows::Context context{store::StateDirectory(dir.path / "state"),
                           [](const http::Settings&) -> std::unique_ptr<http::Transport> {
                               throw Error(ErrorKind::Network, "no network in this test", "none");
                           },
                           [this] { return now; },
                           {}};

    ManagedFixture() {
        context.sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d); };
        std::filesystem::create_directories(dir.path / "live");
        const auto key = test::make_key();
        test::CertOptions validity;
        validity.ca = false;
        validity.not_before = std::chrono::system_clock::to_time_t(start);
        validity.not_after = validity.not_before + 1000;
        const auto cert =
            test::issue("CN=web.example.com", key.get(), nullptr, key.get(), validity);
        store::ManagedCertificate record;
        record.name = "web";
        record.template_name = "WebServer";
        record.endpoint.ces_url = "https://ces.example.test/pw";
        record.key_backend = "software";
        record.outputs.key = dir.write("live/key.pem", keys::private_key_to_pem(key.get(), ""));
        record.outputs.certificate = dir.write("live/cert.pem", cert.to_pem());
        record.key_reference = record.outputs.key.string();
        record.renewal_period_seconds = 100;
        record.not_before = cert.not_before();
        record.not_after = cert.not_after();
        context.state.save_certificate(record);
    }
};

}  // namespace

TEST_CASE("renew: skipped one second before the due time, renewed at it; --random-delay sleeps") {
    using std::chrono::seconds;
    ManagedFixture managed;
    const auto due = managed.start + seconds(900);
    flows::RenewOptions options;
    options.random_delay = std::chrono::minutes(5);
    options.lock_wait = std::chrono::milliseconds(0);

    managed.now = due - seconds(1);
    const auto early = flows::renew_all(managed.context, options);
    REQUIRE(early.size() == 1);
    CHECK(early[0].status == flows::RenewResult::Status::Skipped);
    CHECK(early[0].due_at == due);
    CHECK(managed.sleeps.empty());  // nothing due: no wait

    managed.now = due;
    const auto at_due = flows::renew_one(managed.context, "web", options);
    // Due: the delay comes first, through the injected sleep, then the (failing) request.
    CHECK(at_due.status == flows::RenewResult::Status::Failed);
    REQUIRE(at_due.error.has_value());
    CHECK(at_due.error->kind() == ErrorKind::Network);
    REQUIRE(managed.sleeps.size() == 1);
    CHECK(managed.sleeps[0] >= std::chrono::milliseconds(0));
    CHECK(managed.sleeps[0] <= options.random_delay);

    options.random_delay = std::chrono::milliseconds(0);
    managed.sleeps.clear();
    flows::renew_one(managed.context, "web", options);
    CHECK(managed.sleeps.empty());  // no --random-delay: no wait
}

TEST_CASE("a stale temporary (its writer's PID gone) beside a managed certificate is removed") {
    ManagedFixture managed;
    const auto live = managed.dir.path / "live";
    // PID 2^22 + 1 is above Linux's pid_max limit: no process has it. Our own PID's stays.
    const auto stale = managed.dir.write("live/key.pem.new.tmp.4194305.1a2b3c", "private key");
    const auto ours = managed.dir.write(
        "live/key.pem.new.tmp." + std::to_string(platform::process_id()) + ".9f", "in flight");
    const auto unrelated = managed.dir.write("live/notes.tmp.txt", "not ours");
    flows::RenewOptions options;
    managed.now = managed.start;  // not due: the sweep needs no renewal
    const auto results = flows::renew_all(managed.context, options);
    REQUIRE(results.size() == 1);
    CHECK(results[0].status == flows::RenewResult::Status::Skipped);
    CHECK_FALSE(std::filesystem::exists(stale));
    CHECK(std::filesystem::exists(ours));
    CHECK(std::filesystem::exists(unrelated));
}

TEST_CASE("default output paths per place and format") {
    store::StateDirectory state("/var/lib/certenroll");
    const auto live = flows::default_outputs(state, "web", {}, {}, {});
    CHECK(live.key == "/var/lib/certenroll/live/web/key.pem");
    CHECK(live.certificate == "/var/lib/certenroll/live/web/cert.pem");
    CHECK(live.fullchain == "/var/lib/certenroll/live/web/fullchain.pem");
    CHECK(live.pfx.empty());
    CHECK(live.certificate_der.empty());
    const auto out = flows::default_outputs(state, "web", {}, "/etc/ssl/web", {false, true, true});
    CHECK(out.key == "/etc/ssl/web/web.key.pem");
    CHECK(out.certificate.empty());
    CHECK(out.certificate_der == "/etc/ssl/web/web.cert.der");
    CHECK(out.pfx == "/etc/ssl/web/web.pfx");
    store::OutputPaths explicit_paths;
    explicit_paths.certificate = "/tmp/c.pem";
    const auto mixed = flows::default_outputs(state, "web", explicit_paths, {}, {});
    CHECK(mixed.certificate == "/tmp/c.pem");
    CHECK(mixed.key == "/var/lib/certenroll/live/web/key.pem");
    CHECK(error_of([&] {
              flows::default_outputs(state, "web", {}, {}, {false, false, false});
          }).kind() == ErrorKind::Usage);
}

// The audit trail of the flows: what policy fetches record, and identities that never carry a
// secret.

namespace {

struct RecordingSink : audit::Sink {
    std::vector<audit::Event> events;
    bool broken = false;
    void write(const audit::Event& event) override {
        if (broken)
            throw Error(ErrorKind::Local, "cannot append: disk full");
        events.push_back(event);
    }
};

std::string policy_fixture() {
    std::ifstream in(std::string(CERTENROLL_TEST_DATA_DIR) + "/xcep/spec_example.xml",
                     std::ios::binary);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a policy fetch is an audit event, a cache hit is not, and an unwritable log stops") {
    test::TempDir dir;
    int posts = 0;
    const auto now = std::chrono::system_clock::now();
    flows::Context context{
        store::StateDirectory(dir.path / "state"),
        [&](const http::Settings&) -> std::unique_ptr<http::Transport> {
            return std::make_unique<test::MemoryTransport>([&](const http::Request&) {
                ++posts;
                return http::Response{200, {}, policy_fixture()};
            });
        },
        [now] { return now; },
        {}};
    auto sink = std::make_shared<RecordingSink>();
    context.audit = audit::Log(sink, {"host1", 1, "0.0.0", "policy"}, {});
    flows::Connection connection;
    connection.cep_url =
        "https://alice:pw@cep.example.com/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP";
    connection.credentials.mode = xcep::AuthMode::UsernamePassword;
    connection.credentials.username = "EXAMPLE\\alice";
    connection.credentials.password = "s3cret-password";

    const auto fetched = flows::load_policy(context, connection, false);
    REQUIRE(sink->events.size() == 1);
    const auto& event = sink->events[0];
    CHECK(event.type == audit::EventType::PolicyFetched);
    CHECK(event.time == now);
    CHECK(event.host == "host1");
    CHECK(event.auth == "password");
    CHECK(event.identity == "EXAMPLE\\alice");
    CHECK(event.policy_id == fetched.policy.policy_id);
    CHECK(event.policy_changed == true);
    CHECK(event.template_count == fetched.policy.templates.size());
    const std::string line = audit::to_json_line(event);
    CHECK(line.find("s3cret") == std::string::npos);
    CHECK(line.find("alice:pw") == std::string::npos);

    flows::load_policy(context, connection, false);  // fresh in the cache: no traffic, no event
    CHECK(posts == 1);
    CHECK(sink->events.size() == 1);

    sink->broken = true;
    try {
        flows::load_policy(context, connection, true);
        FAIL("expected an Error");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::Local);
        CHECK(error.message().find("audit log") != std::string::npos);
    }
}

TEST_CASE("audit identities are user names, principals and certificate subjects, never secrets") {
    flows::Credentials password;
    password.mode = xcep::AuthMode::UsernamePassword;
    password.username = "EXAMPLE\\svc-web";
    password.password = "s3cret";
    CHECK(flows::audit_identity(password) == "EXAMPLE\\svc-web");

    flows::Credentials kerberos;
    kerberos.mode = xcep::AuthMode::Kerberos;
    kerberos.principal = "WEB1$@EXAMPLE.COM";
    kerberos.keytab = "/etc/certenroll/web1.keytab";
    CHECK(flows::audit_identity(kerberos) == "WEB1$@EXAMPLE.COM");

    test::TempDir dir;
    const auto key = test::make_key();
    const auto cert = test::issue("CN=alice,O=Example", key.get(), nullptr, key.get());
    flows::Credentials certificate;
    certificate.mode = xcep::AuthMode::Certificate;
    certificate.client_certificate = dir.write("client.pem", cert.to_pem()).string();
    certificate.client_key_passphrase = "key-passphrase";
    CHECK(flows::audit_identity(certificate) == "CN=alice,O=Example");
    certificate.client_certificate = (dir.path / "missing.pem").string();
    CHECK(flows::audit_identity(certificate) ==
          "certificate file " + certificate.client_certificate);

    const auto facts = flows::audit_certificate(cert);
    CHECK(facts.serial == cert.serial_hex());
    CHECK(facts.sha1_thumbprint == cert.sha1_thumbprint());
    CHECK(facts.sha256_thumbprint == cert.sha256_thumbprint());
    CHECK(facts.not_after == cert.not_after());
}

// The issuance tail enroll, renew and retrieve-pending share once the CA has answered: a pending
// request saved with the key where it waits, an issued certificate verified, switched in with
// its staged key, recorded and audited; one that fails verification replaces nothing and leaves
// the new key beside the current one.

namespace {

std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A renewal of "web" that the CES has answered, its new key file waiting beside the current one
// as renew leaves it.
struct AnsweredRenewal {
    test::TempDir dir;
    std::filesystem::path live = dir.path / "live";
    flows::TimePoint now = flows::TimePoint(std::chrono::seconds(1800000000));
    std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
    flows::Context context{
        store::StateDirectory(dir.path / "state"), nullptr, [this] { return now; }, {}};
    crypto::PkeyPtr ca_key = test::make_key();
    crypto::Certificate ca =
        test::issue("CN=Issuing CA,O=Example", ca_key.get(), nullptr, ca_key.get());
    xcep::Policy policy = sample_policy();  // the template's CA is `ca`
    keys::Key new_key{std::shared_ptr<evp_pkey_st>(test::make_key().release(), EVP_PKEY_free),
                      "software", (live / "key.pem.new").string()};
    flows::RequestRecord record;
    flows::Installation installation;

    AnsweredRenewal() {
        context.audit = audit::Log(sink, {"host1", 1, "0.0.0", "renew"}, {});
        policy.cas[0].certificate_der = ca.to_der();
        std::filesystem::create_directories(live);
        dir.write("live/key.pem", "current key");
        dir.write("live/cert.pem", "current certificate");
        dir.write("live/key.pem.new", "new key");
        record.name = "web";
        record.template_name = "WebServer";
        record.endpoint.cep_url = "https://cep/pw";
        record.endpoint.ces_url = "https://ces/recorded";
        record.key_backend = "software";
        record.key_reference = (live / "key.pem").string();
        record.staged_key = live / "key.pem.new";
        record.outputs.key = live / "key.pem";
        record.outputs.certificate = live / "cert.pem";
        record.outputs.chain = live / "chain.pem";
        record.outputs.fullchain = live / "fullchain.pem";
        record.renewal_period_seconds = 14 * 86400;
        record.deploy_hook = "systemctl reload nginx";
        record.renewal = true;
        installation.event = audit::EventType::Renewed;
        installation.policy = &policy;
        installation.tmpl = &policy.templates[0];
    }

    // A certificate for `key` from `issuer`.
    crypto::Certificate certificate(EVP_PKEY* key, const crypto::Certificate& issuer,
                                    EVP_PKEY* issuer_key) const {
        return test::issue("CN=web.example.com,O=Example", key, &issuer, issuer_key,
                           {false, 0x5eed});
    }

    // The CES's answer: `leaf` issued with `chain` in its PKCS#7, or pending when null.
    static flows::Submission answer(const crypto::Certificate* leaf,
                                    const std::vector<const crypto::Certificate*>& chain = {}) {
        flows::Submission submission;
        submission.target = {"https://ces/pw", "Issuing-CA"};
        submission.result.request_id = "17";
        submission.result.disposition =
            leaf ? wstep::Disposition::Issued : wstep::Disposition::Pending;
        if (leaf) {
            submission.result.certificate_der = leaf->to_der();
            submission.result.pkcs7_der = test::certs_only_pkcs7(chain);
        }
        return submission;
    }

    std::optional<flows::IssuedChain> complete(const flows::Submission& submission) const {
        return flows::complete_request(context, submission, record, new_key, installation, {});
    }
};

}  // namespace

TEST_CASE("a pending reference is kept only when it is an absolute https URL") {
    wstep::SubmitResult result;
    result.request_id = "61";
    std::vector<std::string> warnings;
    const std::string sent_to = "https://ces.example.com/CA_CES_Kerberos/service.svc/CES";
    CHECK(flows::pending_query_url(result, sent_to, &warnings) == sent_to);  // none given
    result.reference_uri = "https://other.example.com:8443/CA_CES_Kerberos/service.svc/CES";
    CHECK(flows::pending_query_url(result, sent_to, &warnings) == result.reference_uri);
    CHECK(warnings.empty());
    for (const char* unusable : {"61", "/CA_CES_Kerberos/service.svc/CES", "CES?id=61",
                                 "http://ces.example.com/CA_CES_Kerberos/service.svc/CES",
                                 "ftp://ces.example.com/x", "https://"}) {
        CAPTURE(unusable);
        warnings.clear();
        result.reference_uri = unusable;
        CHECK(flows::pending_query_url(result, sent_to, &warnings) == sent_to);
        REQUIRE(warnings.size() == 1);
        CHECK(warnings[0].find("'" + std::string(unusable) + "'") != std::string::npos);
        CHECK(warnings[0].find("request 61") != std::string::npos);
        CHECK(warnings[0].find(sent_to + " will be asked instead") != std::string::npos);
    }
    result.reference_uri = "61";
    CHECK(flows::pending_query_url(result, sent_to, nullptr) == sent_to);
}

TEST_CASE("a pending answer saves the request with the key where it waits, and installs nothing") {
    AnsweredRenewal renewal;
    auto submission = AnsweredRenewal::answer(nullptr);
    SUBCASE("polled where the CES answered") {}
    SUBCASE("polled where the CA said") {
        submission.result.reference_uri = "https://ces/pw?ref=17";
    }
    std::vector<std::string> warnings;
    renewal.installation.warnings = &warnings;
    CHECK_FALSE(renewal.complete(submission).has_value());
    CHECK(warnings.empty());
    const auto pending = renewal.context.state.find_pending("17");
    REQUIRE(pending.has_value());
    CHECK(pending->name == "web");
    CHECK(pending->template_name == "WebServer");
    CHECK(pending->key_backend == "software");
    CHECK(pending->key_reference == renewal.record.staged_key.string());
    CHECK(pending->endpoint.cep_url == "https://cep/pw");
    CHECK(pending->endpoint.ces_url == (submission.result.reference_uri.empty()
                                            ? submission.target.url
                                            : submission.result.reference_uri));
    CHECK(pending->outputs.certificate == renewal.record.outputs.certificate);
    CHECK(pending->renewal_period_seconds == renewal.record.renewal_period_seconds);
    CHECK(pending->submitted_at == renewal.now);
    CHECK(pending->deploy_hook == renewal.record.deploy_hook);
    CHECK(pending->renewal);
    CHECK(file_text(renewal.live / "key.pem") == "current key");
    CHECK(file_text(renewal.live / "key.pem.new") == "new key");
    CHECK(file_text(renewal.live / "cert.pem") == "current certificate");
    CHECK_FALSE(renewal.context.state.find_certificate("web").has_value());
    REQUIRE(renewal.sink->events.size() == 1);
    CHECK(renewal.sink->events[0].type == audit::EventType::Pending);
}

TEST_CASE("an issued answer is switched in with the staged key, recorded and audited") {
    AnsweredRenewal renewal;
    const auto leaf = renewal.certificate(renewal.new_key.get(), renewal.ca, renewal.ca_key.get());
    const auto issued = renewal.complete(AnsweredRenewal::answer(&leaf, {&renewal.ca}));
    REQUIRE(issued.has_value());
    CHECK(issued->leaf.serial_hex() == leaf.serial_hex());
    REQUIRE(issued->chain.size() == 1);
    CHECK(issued->chain[0].sha256_thumbprint() == renewal.ca.sha256_thumbprint());

    CHECK(file_text(renewal.live / "key.pem") == "new key");
    CHECK(file_text(renewal.live / "key.pem.prev") == "current key");
    CHECK_FALSE(std::filesystem::exists(renewal.live / "key.pem.new"));
    CHECK(file_text(renewal.live / "cert.pem") == leaf.to_pem());
    CHECK(file_text(renewal.live / "cert.pem.prev") == "current certificate");
    CHECK(file_text(renewal.live / "chain.pem") == renewal.ca.to_pem());
    CHECK(file_text(renewal.live / "fullchain.pem") == leaf.to_pem() + renewal.ca.to_pem());

    const auto managed = renewal.context.state.find_certificate("web");
    REQUIRE(managed.has_value());
    CHECK(managed->serial == leaf.serial_hex());
    CHECK(managed->key_reference == renewal.record.key_reference);
    CHECK(managed->endpoint.ces_url == renewal.record.endpoint.ces_url);
    CHECK(managed->renewal_period_seconds == renewal.record.renewal_period_seconds);
    CHECK(managed->deploy_hook == renewal.record.deploy_hook);
    CHECK(managed->updated_at == renewal.now);
    CHECK(renewal.context.state.list_pending().empty());
    REQUIRE(renewal.sink->events.size() == 1);
    CHECK(renewal.sink->events[0].type == audit::EventType::Renewed);
    REQUIRE(renewal.sink->events[0].certificate.has_value());
    CHECK(renewal.sink->events[0].certificate->serial == leaf.serial_hex());
}

TEST_CASE("an installation with a noted result writes the record with it, in the same commit") {
    AnsweredRenewal renewal;
    const auto leaf = renewal.certificate(renewal.new_key.get(), renewal.ca, renewal.ca_key.get());
    SUBCASE("without one, no outcome is written (the caller notes it)") {
        REQUIRE(renewal.complete(AnsweredRenewal::answer(&leaf, {&renewal.ca})).has_value());
        CHECK_FALSE(renewal.context.state.find_certificate("web")->last_outcome.has_value());
    }
    SUBCASE("with one, the record switched in holds it: enroll writes the record once") {
        renewal.installation.noted_result = "issued";
        REQUIRE(renewal.complete(AnsweredRenewal::answer(&leaf, {&renewal.ca})).has_value());
        const auto outcome = renewal.context.state.find_certificate("web")->last_outcome;
        REQUIRE(outcome.has_value());
        CHECK(outcome->result == "issued");
        CHECK(outcome->message == "serial " + leaf.serial_hex());
        CHECK(outcome->at == renewal.now);
    }
}

TEST_CASE("an issued certificate that fails verification is audited and replaces nothing") {
    AnsweredRenewal renewal;
    std::string serial;
    SUBCASE("not for the key of the request") {
        const auto other_key = test::make_key();
        const auto leaf = renewal.certificate(other_key.get(), renewal.ca, renewal.ca_key.get());
        serial = leaf.serial_hex();
        const auto error =
            error_of([&] { renewal.complete(AnsweredRenewal::answer(&leaf, {&renewal.ca})); });
        CHECK(error.message().find("is not for our key") != std::string::npos);
    }
    SUBCASE("from a CA the policy does not name for the template") {
        const auto stranger_key = test::make_key();
        const auto stranger =
            test::issue("CN=Stranger CA", stranger_key.get(), nullptr, stranger_key.get());
        const auto leaf = renewal.certificate(renewal.new_key.get(), stranger, stranger_key.get());
        serial = leaf.serial_hex();
        const auto error =
            error_of([&] { renewal.complete(AnsweredRenewal::answer(&leaf, {&stranger})); });
        CHECK(error.message().find("does not lead to a CA named in the enrollment policy") !=
              std::string::npos);
    }
    REQUIRE(renewal.sink->events.size() == 1);
    CHECK(renewal.sink->events[0].type == audit::EventType::Failed);
    CHECK(renewal.sink->events[0].error_category == "protocol");
    REQUIRE(renewal.sink->events[0].certificate.has_value());
    CHECK(renewal.sink->events[0].certificate->serial == serial);
    CHECK(file_text(renewal.live / "key.pem") == "current key");
    CHECK(file_text(renewal.live / "cert.pem") == "current certificate");
    // The CA issued a certificate for the new key: it stays for whoever investigates.
    CHECK(file_text(renewal.live / "key.pem.new") == "new key");
    CHECK_FALSE(renewal.context.state.find_certificate("web").has_value());
}

TEST_CASE("a retrieved certificate completes its pending record, deploy hook included") {
    AnsweredRenewal renewal;
    REQUIRE_FALSE(renewal.complete(AnsweredRenewal::answer(nullptr)).has_value());
    const auto pending = renewal.context.state.find_pending("17");
    REQUIRE(pending.has_value());
    // What retrieve-pending knows: the pending record; it reads no policy.
    renewal.record.endpoint = pending->endpoint;
    renewal.installation = {};
    renewal.installation.event = audit::EventType::Retrieved;
    renewal.installation.answered = &*pending;
    const auto leaf = renewal.certificate(renewal.new_key.get(), renewal.ca, renewal.ca_key.get());
    const auto result = AnsweredRenewal::answer(&leaf, {&renewal.ca}).result;
    SUBCASE("installed") {
        flows::install_issued(renewal.context, result, renewal.record, renewal.new_key,
                              renewal.installation, {});
        CHECK_FALSE(renewal.context.state.find_pending("17").has_value());
        const auto managed = renewal.context.state.find_certificate("web");
        REQUIRE(managed.has_value());
        CHECK(managed->serial == leaf.serial_hex());
        CHECK(managed->deploy_hook == pending->deploy_hook);
        CHECK(managed->endpoint.ces_url == pending->endpoint.ces_url);
        CHECK(file_text(renewal.live / "key.pem") == "new key");
        CHECK(renewal.sink->events.back().type == audit::EventType::Retrieved);
    }
    SUBCASE("not installed: the pending record stays") {
        auto broken = result;
        broken.pkcs7_der.clear();  // no chain, and no policy CA to build one to
        CHECK_THROWS_AS(flows::install_issued(renewal.context, broken, renewal.record,
                                              renewal.new_key, renewal.installation, {}),
                        Error);
        CHECK(renewal.context.state.find_pending("17").has_value());
        CHECK(renewal.sink->events.back().type == audit::EventType::Failed);
    }
}

TEST_CASE("deploy hooks inherit none of the secrets the tool reads") {
    using flows::is_scrubbed_from_hooks;
    for (const char* secret : {"CERTENROLL_PASSWORD=pw", "CERTENROLL_PFX_PASSWORD=pfx",
                               "CERTENROLL_PKCS11_PIN=1234", "CERTENROLL_PROXY_PASSWORD=p",
                               "CERTENROLL_PASSWORD=", "https_proxy=http://u:p@proxy:3128",
                               "HTTPS_PROXY=http://u:p@proxy:3128", "ALL_PROXY=socks5://u:p@h",
                               "http_proxy=http://u@proxy:3128"})
        CHECK_MESSAGE(is_scrubbed_from_hooks(secret), secret);
    for (const char* kept : {"PATH=/usr/bin:/bin", "CERTENROLL_NAME=web", "HOME=/root",
                             "https_proxy=http://proxy:3128", "KRB5CCNAME=FILE:/tmp/krb5cc_0",
                             "CERTENROLL_PASSWORDLESS=1", "MY_CERTENROLL_PASSWORD=x"})
        CHECK_FALSE_MESSAGE(is_scrubbed_from_hooks(kept), kept);
}

TEST_CASE("connection settings: the command line overrides the record, the profile fills gaps") {
    store::Endpoint record;
    record.cep_url = "https://kerberos-cep/CEP";
    record.ces_url = "https://kerberos-ces/CES";
    record.auth = "kerberos";
    record.keytab = "/etc/krb5.keytab";
    record.ca_bundle = "/record/ca.pem";
    store::Endpoint profile;
    profile.cep_url = "https://password-cep/CEP";
    profile.auth = "password";
    profile.username = "svc";
    profile.password = {"/etc/certenroll/pw", ""};
    profile.ca_bundle = "/profile/ca.pem";
    profile.proxy = "http://proxy:3128";

    SUBCASE("a profile's URL and auth never replace the record's (issue 24)") {
        const auto merged = flows::merge_settings({}, record, profile);
        CHECK(merged.cep_url == record.cep_url);
        CHECK(merged.ces_url == record.ces_url);
        CHECK(merged.auth == "kerberos");
        CHECK(merged.keytab == "/etc/krb5.keytab");
        CHECK(merged.ca_bundle == "/record/ca.pem");
        // What the record lacks comes from the profile.
        CHECK(merged.proxy == "http://proxy:3128");
        CHECK(merged.username == "svc");
    }
    SUBCASE("a record without URLs takes the profile's") {
        const auto merged = flows::merge_settings({}, store::Endpoint{}, profile);
        CHECK(merged.cep_url == profile.cep_url);
        CHECK(merged.auth == "password");
        CHECK(merged.password.file == "/etc/certenroll/pw");
    }
    SUBCASE("typed options override the record for the run") {
        store::Endpoint typed;
        typed.ces_url = "https://other-ces/CES";
        typed.ca_bundle = "/typed/ca.pem";
        const auto merged = flows::merge_settings(typed, record, profile);
        // One typed URL replaces both recorded ones.
        CHECK(merged.ces_url == "https://other-ces/CES");
        CHECK(merged.cep_url.empty());
        CHECK(merged.ca_bundle == "/typed/ca.pem");
        CHECK(merged.auth == "kerberos");
    }
    SUBCASE("a password goes only with its own user") {
        store::Endpoint alice;
        alice.auth = "password";
        alice.username = "alice";
        alice.password = {"/alice.pw", ""};
        // The profile's password file belongs to "svc": alice's record keeps her own.
        CHECK(flows::merge_settings({}, alice, profile).password.file == "/alice.pw");
        store::Endpoint typed_user;
        typed_user.username = "bob";
        // A typed user without a password gets neither alice's nor svc's file.
        const auto bob = flows::merge_settings(typed_user, alice, profile);
        CHECK(bob.username == "bob");
        CHECK(bob.password.empty());
        store::Endpoint typed_file;
        typed_file.password = {"/typed.pw", ""};
        CHECK(flows::merge_settings(typed_file, alice, profile).password.file == "/typed.pw");
    }
    SUBCASE("the proxy comes with its user and password from one layer") {
        store::Endpoint with_proxy = record;
        with_proxy.proxy = "http://record-proxy:8080";
        with_proxy.proxy_user = "rec";
        with_proxy.proxy_password = {"/rec.pw", ""};
        store::Endpoint typed;
        typed.proxy = "http://typed-proxy:3128";
        const auto merged = flows::merge_settings(typed, with_proxy, profile);
        CHECK(merged.proxy == "http://typed-proxy:3128");
        CHECK(merged.proxy_user.empty());
        CHECK(merged.proxy_password.empty());
    }
}

TEST_CASE("connection settings become a connection; secrets are read only when needed") {
    std::vector<std::string> asked;
    const flows::SecretReader reader = [&asked](const store::SecretSource& source,
                                                const char* fallback, const std::string&,
                                                const std::string& flag) -> std::string {
        asked.push_back(flag + ":" + source.file + ":" + source.environment + ":" +
                        (fallback ? fallback : ""));
        return "secret";
    };
    store::Endpoint settings;
    settings.cep_url = "https://cep/CEP";
    settings.auth = "kerberos";
    settings.keytab = "/k.keytab";
    settings.password = {"/pw", ""};
    settings.ca_bundle = "/ca.pem";
    auto kerberos = flows::with_settings({}, settings, reader);
    CHECK(kerberos.credentials.mode == xcep::AuthMode::Kerberos);
    CHECK(kerberos.credentials.keytab == "/k.keytab");
    CHECK(kerberos.http.ca_bundle == "/ca.pem");
    CHECK(asked.empty());  // Kerberos reads no password

    settings.auth = "password";
    settings.username = "alice";
    auto password = flows::with_settings({}, settings, reader);
    CHECK(password.credentials.password == "secret");
    CHECK(password.credentials.keytab.empty());
    REQUIRE(asked.size() == 1);
    CHECK(asked[0] == "--password-file:/pw::CERTENROLL_PASSWORD");

    // A password the command line resolved already is not read again.
    flows::Connection typed;
    typed.credentials.password = "typed";
    asked.clear();
    CHECK(flows::with_settings(typed, settings, reader).credentials.password == "typed");
    CHECK(asked.empty());

    // A proxy user's password, from the proxy's own reference.
    settings.proxy = "http://proxy:3128";
    settings.proxy_user = "svc";
    settings.proxy_password = {"", "CERTENROLL_PROXY_PASSWORD"};
    auto proxied = flows::with_transport_settings({}, settings, reader);
    CHECK(proxied.http.proxy == "http://proxy:3128");
    CHECK(proxied.http.proxy_user == "svc");
    CHECK(proxied.http.proxy_password == "secret");
    CHECK(asked.back() ==
          "--proxy-password-file::CERTENROLL_PROXY_PASSWORD:CERTENROLL_PROXY_PASSWORD");
}
