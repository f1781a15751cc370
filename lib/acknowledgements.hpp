#pragma once

// Acknowledging breaks (docs/acknowledgements.md): people classify a variance (data, code,
// timing) with a note, optionally until a time. Every decision is appended to
// recon.variance_actions and never changed; the current state is the newest action. An `ack`
// holds while `until` has not passed, the variance stays in the open episode it was acknowledged
// in (it did not resolve since) and its amounts are those it had when acknowledged. While it
// holds, runs still list the variance, flagged, but it raises no alert and does not count toward
// its check's status.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"
#include "lib/db.hpp"
#include "lib/errors.hpp"
#include "lib/results.hpp"

namespace reconcile {

enum class VarianceAction { ack, unack };

/// "ack" / "unack".
std::string_view to_string(VarianceAction action);

/// One ack or unack of one or more breaks, before validation.
struct VarianceActionRequest {
    VarianceAction action = VarianceAction::ack;
    std::vector<std::string> fingerprints;        ///< full (32 hex digits) or a unique prefix of at least 8
    std::optional<std::string> book;              ///< only this book; default every book with a database
    std::optional<VarianceClass> variance_class;  ///< required for ack
    std::string note;                             ///< required for ack
    std::optional<Timestamp> until;               ///< ack: ends by itself then; must be in the future
    std::string by;                               ///< who: the OS user (CLI) or "api"
};

/// One appended action.
struct RecordedAction {
    std::string book;
    std::string check_name;
    std::string fingerprint;
    VarianceAction action = VarianceAction::ack;
    Timestamp at{};
};

/// A fingerprint that names no break in the books searched (HTTP 404, exit 64).
class UnknownVariance : public Error {
public:
    explicit UnknownVariance(const std::string& message) : Error(ExitCode::usage, message) {}
};

/// Validates the request (Error(usage) naming the problem: a bad fingerprint, class, note or
/// until; an ambiguous prefix; a resolved break to ack; a break without an ack to unack;
/// UnknownVariance for a fingerprint found nowhere), then appends one action per break. Nothing
/// is written unless every fingerprint is valid. A book that is down or unmigrated fails it with
/// an Error naming the book (BookDatabases: bounded in serve).
std::vector<RecordedAction> record_variance_actions(const BookDatabases& databases,
                                                    const VarianceActionRequest& request);

/// The user running the CLI (login name from the OS), "unknown" when it cannot be told.
std::string os_user_name();

/// Before a run's status is decided: flags every listed variance whose acknowledgement holds
/// (at the run's start), reports `acknowledged=N` in the metrics of each check with N > 0, and
/// makes a warn/fail check whose every variance is acknowledged `ok`.
void apply_acknowledgements(Session& control, RunReport& report);

/// The SQL condition under which the newest action `a` (recon.variance_acknowledgements) is an
/// acknowledgement holding for the break `f` (recon.variance_fingerprints), at time `now_sql`,
/// with the break's current amounts in `amounts` (a table alias with expected/actual/difference).
std::string acknowledgement_holds_sql(const std::string& now_sql, const std::string& amounts);

}  // namespace reconcile
