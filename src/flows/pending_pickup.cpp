#include "flows/pending_pickup.hpp"

#include <memory>
#include <string>
#include <utility>

#include "error.hpp"
#include "flows/retrieve_pending.hpp"

namespace certenroll::flows {

namespace {

void mark_failed(RenewResult& result, const Error& error) {
    result.status = RenewResult::Status::Failed;
    result.detail = error.message();
    result.error = error;
}

}  // namespace

RenewResult collect_pending_request(const Context& context, const RenewOptions& options,
                                    const store::PendingRequest& pending) {
    RetrieveRequest request;
    request.connection = options.connection;
    request.connection.cep_url.clear();
    request.connection.ces_url.clear();  // each request is asked about where it was recorded
    request.auth_from_record = options.auth_from_record;
    request.settings = options.settings;
    request.read_secret = options.read_secret;
    request.all = true;
    RenewResult result;
    result.name = pending.name;
    result.collected_request_id = pending.request_id;
    result.renewal = std::make_unique<RenewResult::Renewal>();
    result.renewal->request_id = pending.request_id;
    result.renewal->ces_url = pending.endpoint.ces_url;
    result.renewal->files = pending.outputs;
    const std::string what =
        (pending.renewal ? "renewal request " : "request ") + pending.request_id;
    try {
        auto outcome = retrieve_recorded(context, request, pending);
        result.warnings = std::move(outcome.warnings);
        if (outcome.status == EnrollOutcome::Status::Issued) {
            result.status = RenewResult::Status::Renewed;
            result.renewal->certificate = outcome.certificate;
            result.detail = what + " approved: installed, serial " +
                            (outcome.certificate ? outcome.certificate->serial : "");
        } else {
            result.status = RenewResult::Status::Pending;
            result.detail = what + " is still pending CA manager approval";
        }
    } catch (const Error& error) {
        mark_failed(result, error);
    }
    return result;
}

std::vector<RenewResult> collect_pending(const Context& context, const RenewOptions& options) {
    std::vector<RenewResult> results;
    std::vector<store::PendingRequest> pending_requests;
    try {
        pending_requests = context.state.list_pending();
    } catch (const Error& error) {
        RenewResult unreadable;
        unreadable.name = "pending requests";
        mark_failed(unreadable, error);
        results.push_back(std::move(unreadable));
        return results;
    }
    for (const auto& pending : pending_requests) {
        if (!pending.denied.empty())
            continue;  // reported when the denial came; final
        results.push_back(collect_pending_request(context, options, pending));
    }
    return results;
}

}  // namespace certenroll::flows
