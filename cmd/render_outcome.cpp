#include "render_outcome.hpp"

#include "common_options.hpp"
#include "error.hpp"

namespace certenroll::cli {

namespace {

nlohmann::json files_json(const store::OutputPaths& files) {
    nlohmann::json j = nlohmann::json::object();
    auto put = [&j](const char* key, const std::filesystem::path& path) {
        if (!path.empty()) {
            j[key] = path.string();
        }
    };
    put("key", files.key);
    put("cert", files.certificate);
    put("chain", files.chain);
    put("fullchain", files.fullchain);
    put("pfx", files.pfx);
    put("der", files.certificate_der);
    put("p7b", files.p7b);
    put("p7b_der", files.p7b_der);
    return j;
}

}  // namespace

nlohmann::json outcome_json(const flows::EnrollOutcome& o) {
    const char* status = o.status == flows::EnrollOutcome::Status::Issued    ? "issued"
                         : o.status == flows::EnrollOutcome::Status::Pending ? "pending"
                                                                             : "dry-run";
    nlohmann::json j = {{"status", status},
                        {"name", o.name},
                        {"template", o.template_name},
                        {"request_id", o.request_id},
                        {"ces_url", o.ces_url},
                        {"ca", o.ca_name},
                        {"key", o.key_description},
                        {"key_reference", o.key_reference},
                        {"files", files_json(o.files)},
                        {"warnings", o.warnings}};
    if (o.certificate) {
        j["certificate"] = {{"subject", o.certificate->subject},
                            {"issuer", o.certificate->issuer},
                            {"serial", o.certificate->serial},
                            {"sha256_thumbprint", o.certificate->sha256_thumbprint},
                            {"not_before", format_iso8601(o.certificate->not_before)},
                            {"not_after", format_iso8601(o.certificate->not_after)}};
    }
    if (o.status == flows::EnrollOutcome::Status::DryRun) {
        j["csr"] = o.csr_pem;
        j["request"] = o.request_xml;
        j["ces_urls"] = o.ces_urls;
        j.erase("files");
        j.erase("request_id");
    }
    return j;
}

Output render_enroll_outcome(const flows::EnrollOutcome& o, bool submitted_now) {
    Output output;
    output.json = outcome_json(o);
    output.warnings = o.warnings;
    std::string text;
    if (o.status == flows::EnrollOutcome::Status::DryRun) {
        text += "Dry run: nothing was sent and no file was written.\n";
        text += "Key: " + o.key_description + " (generated in memory, discarded)\n";
        text += "Would submit to: ";
        for (std::size_t i = 0; i < o.ces_urls.size(); ++i) {
            text += (i ? ", then " : "") + o.ces_urls[i];
        }
        text += "\n\n" + o.csr_pem + "\n" + o.request_xml + "\n";
        output.text = text;
        return output;
    }
    if (o.status == flows::EnrollOutcome::Status::Pending) {
        output.exit_code = exit_code(ErrorKind::Pending);
        output.json["exit_code"] = output.exit_code;
        text += "Request " + o.request_id + " for template " + o.template_name +
                " is pending CA manager approval (CA " + o.ca_name + ").\n";
        if (!o.key_reference.empty())
            text += "The key is saved in " + o.key_reference + ".\n";
        text += "Retrieve the certificate once approved: certenroll-cli retrieve-pending " +
                o.request_id + "\n";
        output.text = text;
        if (submitted_now) {
            output.notices.push_back("request " + o.request_id + " for '" + o.name +
                                     "' is pending CA manager approval (exit 3); retrieve it "
                                     "with 'certenroll-cli retrieve-pending " +
                                     o.request_id + "'");
        }
        return output;
    }
    text += "Issued certificate for " + o.certificate->subject + " (serial " +
            o.certificate->serial + "), valid until " + format_time(o.certificate->not_after) +
            "\n";
    text += "  key:         " +
            (o.key_reference.empty() ? std::string("(the CSR's, not held by certenroll-cli)")
                                     : o.key_reference) +
            " (" + o.key_description + ")\n";
    if (!o.files.certificate.empty()) {
        text += "  certificate: " + o.files.certificate.string() + "\n";
    }
    if (!o.files.certificate_der.empty()) {
        text += "  der:         " + o.files.certificate_der.string() + "\n";
    }
    if (!o.files.chain.empty()) {
        text += "  chain:       " + o.files.chain.string() + "\n";
    }
    if (!o.files.fullchain.empty()) {
        text += "  fullchain:   " + o.files.fullchain.string() + "\n";
    }
    if (!o.files.pfx.empty()) {
        text += "  pfx:         " + o.files.pfx.string() +
                (o.files.pfx_legacy ? " (legacy 3DES/SHA-1)" : "") + "\n";
    }
    if (!o.files.p7b.empty())
        text += "  p7b:         " + o.files.p7b.string() + "\n";
    if (!o.files.p7b_der.empty())
        text += "  p7b (DER):   " + o.files.p7b_der.string() + "\n";
    output.text = text;
    return output;
}

}  // namespace certenroll::cli
