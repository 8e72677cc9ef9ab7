#pragma once
/// The Kerberos steps, for --auth kerberos: the ticket-granting ticket, a KDC of the realm, a
/// service ticket for the server's SPN, and this clock against the KDC's.

#include <string>

#include "diagnose/checklist.hpp"

namespace certenroll::diagnose {

/// Adds kerberos-ticket, kerberos-kdc, kerberos-service-ticket and kerberos-clock. Returns the
/// ticket's principal (empty without a ticket): later steps name this identity by it.
std::string check_kerberos(Checklist& checklist);

}  // namespace certenroll::diagnose
