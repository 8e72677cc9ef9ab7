#include "flows/outcome.hpp"

namespace certenroll::flows {

namespace {

// Writes the outcome unless the record already holds the same one: cron repeats the same
// failure or the same "still pending" every few minutes, and rewriting a record each time would
// only move its time (which then says since when it has been so).
template <typename Record>
bool update(Record& record, const store::Outcome& outcome) {
    if (record.last_outcome && record.last_outcome->result == outcome.result &&
        record.last_outcome->message == outcome.message)
        return false;
    record.last_outcome = outcome;
    return true;
}

}  // namespace

void note_outcome(const Context& context, const std::string& name, const std::string& request_id,
                  const std::string& result, const std::string& message) {
    const store::Outcome outcome{context.clock(), result, message};
    try {
        if (!name.empty()) {
            store::check_record_name(name);
            if (auto record = context.state.find_certificate(name);
                record && update(*record, outcome))
                context.state.save_certificate(*record);
        }
        if (!request_id.empty()) {
            auto pending = context.state.find_pending(request_id);
            if (pending && pending->name == name && update(*pending, outcome))
                context.state.save_pending(*pending);
        }
    } catch (const Error& error) {
        context.diagnostics.step("could not record the outcome of '" + name +
                                 "': " + error.message());
    }
}

void note_failure(const Context& context, const std::string& name, const std::string& request_id,
                  const Error& error) {
    note_outcome(context, name, request_id, std::string(kind_name(error.kind())), error.message());
}

}  // namespace certenroll::flows
