#include "lib/acknowledgements.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>

#include "lib/migrate.hpp"
#include "lib/sql_values.hpp"
#include "lib/utf8.hpp"

namespace reconcile {
namespace {

constexpr std::size_t note_limit = 2000;
constexpr std::size_t fingerprint_length = 32;
constexpr std::size_t shortest_prefix = 8;

std::string utc_text(const std::string& column)
{
    return fmt::format("to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", column);
}

/// Lower-cased fingerprint or prefix; Error(usage) when it is not 8..32 hex digits.
std::string normalised_fingerprint(std::string text)
{
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool hex =
        std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    if (!hex || text.size() < shortest_prefix || text.size() > fingerprint_length) {
        throw Error(ExitCode::usage,
                    fmt::format("'{}' is not a fingerprint: give its 32 hex digits or at least the first {} "
                                "(see `reconcile variances --open`)",
                                text, shortest_prefix));
    }
    return text;
}

struct Match {
    std::string book;
    std::string check_name;
    std::string fingerprint;
    std::string status;                      ///< open | resolved
    std::optional<std::string> last_action;  ///< ack | unack
};

const std::string find_sql = R"sql(
SELECT f.check_name, f.fingerprint, f.status, a.action
FROM recon.variance_fingerprints f
LEFT JOIN recon.variance_acknowledgements a USING (book, check_name, fingerprint)
WHERE f.book = $1 AND left(f.fingerprint, length($2)) = $2
ORDER BY f.check_name, f.fingerprint
)sql";

// The amounts are the break's as last seen: what the person looked at when deciding.
const std::string insert_sql = fmt::format(R"sql(
INSERT INTO recon.variance_actions
    (book, check_name, fingerprint, action, class, note, acted_by, ack_until, expected, actual, difference)
SELECT f.book, f.check_name, f.fingerprint, $4, $5, $6, $7, $8::timestamptz,
       CASE WHEN $4 = 'ack' THEN f.expected END, CASE WHEN $4 = 'ack' THEN f.actual END,
       CASE WHEN $4 = 'ack' THEN f.difference END
FROM recon.variance_fingerprints f
WHERE f.book = $1 AND f.check_name = $2 AND f.fingerprint = $3
RETURNING {} AS acted_at
)sql",
                                           utc_text("acted_at"));

}  // namespace

std::string_view to_string(VarianceAction action)
{
    return action == VarianceAction::ack ? "ack" : "unack";
}

/// SQL: the stored figure `left` is the same amount as `right`: equal as numbers when both are
/// plain decimals ("0" and "0.00": an upgrade that only changed how a figure is written must not
/// end an acknowledgement), else equal as text (both null included). CASE fixes the order, so a
/// text that is not a number is never cast.
std::string same_amount_sql(const std::string& left, const std::string& right)
{
    return fmt::format(
        "(CASE WHEN {0} ~ '^-?[0-9]+(\\.[0-9]+)?$' AND {1} ~ '^-?[0-9]+(\\.[0-9]+)?$'"
        " THEN {0}::numeric = {1}::numeric ELSE {0} IS NOT DISTINCT FROM {1} END)",
        left, right);
}

std::string acknowledgement_holds_sql(const std::string& now_sql, const std::string& amounts)
{
    return fmt::format(
        "(a.action = 'ack' AND (a.ack_until IS NULL OR a.ack_until > {0}) AND f.status = 'open'"
        " AND f.open_since_at <= a.acted_at AND {1} AND {2} AND {3})",
        now_sql, same_amount_sql("a.expected", amounts + ".expected"), same_amount_sql("a.actual", amounts + ".actual"),
        same_amount_sql("a.difference", amounts + ".difference"));
}

std::string os_user_name()
{
    if (const passwd* entry = getpwuid(geteuid()); entry != nullptr && entry->pw_name != nullptr) {
        return entry->pw_name;
    }
    if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
    return "unknown";
}

std::vector<RecordedAction> record_variance_actions(const BookDatabases& databases,
                                                    const VarianceActionRequest& request)
{
    if (request.fingerprints.empty()) throw Error(ExitCode::usage, "name at least one fingerprint");
    std::vector<std::string> fingerprints;
    for (const auto& text : request.fingerprints) fingerprints.push_back(normalised_fingerprint(text));
    std::optional<std::string> note;
    if (request.action == VarianceAction::ack) {
        if (!request.variance_class) throw Error(ExitCode::usage, "an ack needs --class data|code|timing");
        const bool blank =
            std::all_of(request.note.begin(), request.note.end(), [](unsigned char c) { return std::isspace(c) != 0; });
        if (blank) throw Error(ExitCode::usage, "an ack needs a --note saying why");
        if (request.note.size() > note_limit) {
            throw Error(ExitCode::usage, fmt::format("the note is longer than {} bytes", note_limit));
        }
        note = request.note;
        if (request.until && *request.until <= std::chrono::system_clock::now()) {
            throw Error(ExitCode::usage, fmt::format("--until {} has already passed", format_utc(*request.until)));
        }
    } else if (request.until) {
        throw Error(ExitCode::usage, "an unack takes no --until");
    }
    if (request.by.empty()) throw Error(ExitCode::usage, "who acts (--by) cannot be empty");
    // The audit log keeps text: bytes that are not UTF-8 are the request's fault, said as such.
    if (note && !is_valid_utf8(*note)) throw Error(ExitCode::usage, "the note is not valid UTF-8");
    if (!is_valid_utf8(request.by)) throw Error(ExitCode::usage, "who acts (--by) is not valid UTF-8");

    const Settings& settings = databases.settings();
    std::vector<std::string> books;
    if (request.book) {
        settings.require_book(*request.book);
        books.push_back(*request.book);
    } else {
        for (const auto& name : settings.books) {
            if (settings.database_urls.count(name) != 0) books.push_back(name);
        }
    }
    if (books.empty()) throw Error(ExitCode::config, "no book has a database configured (RECON_DATABASE_URL_<BOOK>)");

    // Every fingerprint is resolved in every book before anything is written.
    std::vector<std::vector<Match>> matches(fingerprints.size());
    for (const auto& book : books) {
        const auto found =
            databases.with_session<std::vector<std::vector<Match>>>(book, [book, fingerprints](Session& session) {
                std::vector<std::vector<Match>> per_fingerprint;
                pqxx::read_transaction txn(session.connection());
                for (const auto& fingerprint : fingerprints) {
                    auto& of_fingerprint = per_fingerprint.emplace_back();
                    for (const auto& row : txn.exec_params(find_sql, book, fingerprint)) {
                        Match match{.book = book,
                                    .check_name = row["check_name"].as<std::string>(),
                                    .fingerprint = row["fingerprint"].as<std::string>(),
                                    .status = row["status"].as<std::string>()};
                        if (!row["action"].is_null()) match.last_action = row["action"].as<std::string>();
                        of_fingerprint.push_back(std::move(match));
                    }
                }
                return per_fingerprint;
            });
        for (std::size_t i = 0; i < fingerprints.size(); ++i) {
            matches[i].insert(matches[i].end(), found[i].begin(), found[i].end());
        }
    }
    std::vector<Match> targets;
    for (std::size_t i = 0; i < fingerprints.size(); ++i) {
        const auto& fingerprint = fingerprints[i];
        if (matches[i].empty()) {
            throw UnknownVariance(
                fmt::format("no variance with fingerprint {} in book(s) {}", fingerprint, fmt::join(books, ", ")));
        }
        if (matches[i].size() > 1) {
            throw Error(ExitCode::usage,
                        fmt::format("fingerprint {} is ambiguous: {} breaks match ({}/{} and {}/{})", fingerprint,
                                    matches[i].size(), matches[i][0].book, matches[i][0].fingerprint,
                                    matches[i][1].book, matches[i][1].fingerprint));
        }
        const Match& match = matches[i].front();
        if (request.action == VarianceAction::ack && match.status != "open") {
            throw Error(ExitCode::usage, fmt::format("variance {} ({} on {}) has resolved: nothing to acknowledge",
                                                     match.fingerprint, match.check_name, match.book));
        }
        if (request.action == VarianceAction::unack && match.last_action != "ack") {
            throw Error(ExitCode::usage, fmt::format("variance {} ({} on {}) is not acknowledged", match.fingerprint,
                                                     match.check_name, match.book));
        }
        targets.push_back(match);
    }

    const std::optional<std::string> variance_class =
        request.variance_class ? std::optional(std::string(to_string(*request.variance_class))) : std::nullopt;
    const std::optional<std::string> until = request.until ? std::optional(format_utc(*request.until)) : std::nullopt;
    const std::string action(to_string(request.action));
    std::vector<RecordedAction> recorded;
    for (const auto& book : books) {
        std::vector<Match> of_book;
        std::copy_if(targets.begin(), targets.end(), std::back_inserter(of_book),
                     [&](const Match& target) { return target.book == book; });
        if (of_book.empty()) continue;
        // Verified above; one transaction per book.
        const auto acted_at = databases.with_session<std::vector<std::string>>(
            book,
            [book, of_book, action, variance_class, note, by = request.by, until](Session& session) {
                std::vector<std::string> times;
                pqxx::work txn(session.connection());
                for (const auto& target : of_book) {
                    const auto row = txn.exec_params1(insert_sql, book, target.check_name, target.fingerprint, action,
                                                      nullable(variance_class), nullable(note), by, nullable(until));
                    times.push_back(row["acted_at"].as<std::string>());
                }
                txn.commit();
                return times;
            },
            BookCheck::none);
        for (std::size_t i = 0; i < of_book.size(); ++i) {
            recorded.push_back(RecordedAction{.book = book,
                                              .check_name = of_book[i].check_name,
                                              .fingerprint = of_book[i].fingerprint,
                                              .action = request.action,
                                              .at = parse_utc(acted_at[i]).value_or(Timestamp{})});
        }
    }
    return recorded;
}

void apply_acknowledgements(Session& control, RunReport& report)
{
    nlohmann::json incoming = nlohmann::json::array();
    for (const auto& check : report.checks) {
        for (const auto& variance : check.variances) {
            incoming.push_back({{"check_name", check.check_name},
                                {"fingerprint", variance.fingerprint},
                                {"expected", variance.expected ? nlohmann::json(*variance.expected) : nullptr},
                                {"actual", variance.actual ? nlohmann::json(*variance.actual) : nullptr},
                                {"difference", variance.difference ? nlohmann::json(*variance.difference) : nullptr}});
        }
    }
    if (incoming.empty()) return;
    const std::string sql =
        fmt::format(R"sql(
SELECT i.check_name, i.fingerprint, a.class, a.note, a.acted_by, {} AS acted_at, {} AS ack_until
FROM jsonb_to_recordset($2::jsonb) AS i(check_name text, fingerprint text, expected text, actual text, difference text)
JOIN recon.variance_acknowledgements a ON a.book = $1 AND a.check_name = i.check_name AND a.fingerprint = i.fingerprint
JOIN recon.variance_fingerprints f ON f.book = $1 AND f.check_name = i.check_name AND f.fingerprint = i.fingerprint
WHERE {}
)sql",
                    utc_text("a.acted_at"), utc_text("a.ack_until"), acknowledgement_holds_sql("$3::timestamptz", "i"));
    std::map<std::pair<std::string, std::string>, Acknowledgement> holding;
    {
        pqxx::read_transaction txn(control.connection());
        for (const auto& row : txn.exec_params(sql, report.book, incoming.dump(), format_utc(report.started_at))) {
            Acknowledgement acknowledgement;
            acknowledgement.variance_class =
                parse_variance_class(row["class"].as<std::string>()).value_or(VarianceClass::data);
            acknowledgement.note = row["note"].as<std::string>();
            acknowledgement.by = row["acted_by"].as<std::string>();
            acknowledgement.at = parse_utc(row["acted_at"].as<std::string>()).value_or(Timestamp{});
            if (!row["ack_until"].is_null()) acknowledgement.until = parse_utc(row["ack_until"].as<std::string>());
            holding.emplace(std::pair(row["check_name"].as<std::string>(), row["fingerprint"].as<std::string>()),
                            std::move(acknowledgement));
        }
    }
    for (auto& check : report.checks) {
        std::int64_t acknowledged = 0;
        for (auto& variance : check.variances) {
            const auto found = holding.find({check.check_name, variance.fingerprint});
            if (found == holding.end()) continue;
            variance.acknowledgement = found->second;
            ++acknowledged;
        }
        if (acknowledged == 0) continue;
        check.metrics["acknowledged"] = acknowledged;
        // Only when every variance (not just every listed one) is acknowledged does the check
        // stop counting: an unlisted one beyond the cap may be anything.
        const bool problem = check.status == CheckStatus::warn || check.status == CheckStatus::fail;
        if (problem && acknowledged == check.variances_total) check.status = CheckStatus::ok;
    }
}

}  // namespace reconcile
