#include "lib/runner.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "lib/acknowledgements.hpp"
#include "lib/alerts.hpp"
#include "lib/brokers/broker.hpp"
#include "lib/contract.hpp"
#include "lib/history.hpp"
#include "lib/lock.hpp"
#include "lib/log.hpp"
#include "lib/migrate.hpp"
#include "lib/snapshot.hpp"
#include "lib/utf8.hpp"

namespace reconcile {
namespace {

/// SQLSTATE of a statement cancelled by statement_timeout (libpqxx 6 has no class for it).
constexpr const char* query_canceled_state = "57014";

/// "run 41" or "runs 41, 42", for messages about the runs of one snapshot.
std::string runs_label(const std::vector<RunReport*>& reports)
{
    std::vector<std::int64_t> run_ids;
    for (const RunReport* report : reports) run_ids.push_back(report->run_id);
    return fmt::format("{} {}", run_ids.size() == 1 ? "run" : "runs", fmt::join(run_ids, ", "));
}

/// Writes the results of the runs of one snapshot in one transaction, but only while every
/// run still holds its lock: a control connection that the server ended (and with it the locks)
/// must not commit. The proof, when there is one to store, goes in the same transaction and
/// every report says whether it was kept. Any failure to write is transient: nothing was
/// written, and the runs are safe to retry.
std::vector<RunChanges> write_results(RunHistory& history, const std::vector<RunLock*>& locks,
                                      const std::vector<RunReport*>& reports, const Settings& settings,
                                      const ProofStore& store_proof)
{
    const auto ids = [&] { return runs_label(reports); };
    for (RunLock* lock : locks) {
        if (!lock->still_held()) {
            throw Error(ExitCode::transient,
                        fmt::format("{} lost its lock before writing results; nothing written", ids()));
        }
    }
    const auto with_proof =
        std::find_if(reports.begin(), reports.end(), [](const RunReport* report) { return report->proof.has_value(); });
    try {
        if (!store_proof || with_proof == reports.end()) return history.finish_runs(reports, settings);
        return history.finish_runs(reports, settings, [&](pqxx::transaction_base& txn) {
            const bool stored = store_proof(txn, (*with_proof)->run_id);
            for (RunReport* report : reports) {
                if (report->proof) report->proof->stored = stored;
            }
            if (!stored) {
                log_warn("{} did not store its proof: another run of book {} stored a newer one meanwhile", ids(),
                         (*with_proof)->book);
            }
        });
    } catch (...) {
        const auto [code, message] = classify_current_exception(true);
        throw Error(ExitCode::transient,
                    fmt::format("could not write the results of {}; nothing written: {}", ids(), message));
    }
}

/// Ends the rows of failed runs as `error`. When the control connection died with the failure
/// (a restarted or unreachable server), a fresh connection tries a few times for a second or so;
/// if that fails too the rows stay `running` with a free lock, and the next run abandons them.
void finish_as_error(const Settings& settings, const std::string& book, RunHistory& history,
                     const std::vector<RunReport*>& reports, const std::string& reason)
{
    std::vector<std::int64_t> left;
    for (const RunReport* report : reports) {
        if (!history.abort_run(report->run_id, reason)) left.push_back(report->run_id);
    }
    for (int attempt = 0; attempt < 3 && !left.empty(); ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
        try {
            Session fresh(settings.database_url(book), "control");
            RunHistory fresh_history(fresh);
            std::erase_if(left, [&](std::int64_t run_id) { return fresh_history.abort_run(run_id, reason); });
        } catch (...) {
            // Still unreachable: try again, then leave it to the next run.
        }
    }
}

/// The version of the stored proof of categories A and B on the primary (the run that wrote
/// it), read under the run's lock; std::nullopt when there is none.
std::optional<std::int64_t> stored_proof_version(Session& control)
{
    pqxx::nontransaction txn(control.connection());
    const auto rows = txn.exec_params("SELECT version FROM recon.proof_state WHERE id = 1");
    if (rows.empty()) return std::nullopt;
    return rows[0]["version"].as<std::int64_t>();
}

/// How far the read session's server is behind the primary, when it is a standby (else nullopt):
/// 0 once it has replayed the primary's current WAL position, else the age of the last
/// transaction it replayed. Seconds, as decimal text.
std::optional<std::string> standby_lag_seconds(Session& control, Session& read)
{
    std::string primary_lsn;
    {
        pqxx::nontransaction txn(control.connection());
        const auto row = txn.exec_params1(
            "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END"
            " AS primary_lsn");
        if (!row["primary_lsn"].is_null()) primary_lsn = row["primary_lsn"].as<std::string>();
    }
    pqxx::nontransaction txn(read.connection());
    const auto row = txn.exec_params1(
        "SELECT pg_is_in_recovery() AS in_recovery,"
        " CASE WHEN $1::text IS NOT NULL AND pg_last_wal_replay_lsn() >= $1::pg_lsn THEN '0'"
        " ELSE round(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::numeric, 3)::text END"
        " AS lag_seconds",
        primary_lsn.empty() ? static_cast<const char*>(nullptr) : primary_lsn.c_str());
    if (!row["in_recovery"].as<bool>()) return std::nullopt;
    return row["lag_seconds"].is_null() ? std::string("unknown") : row["lag_seconds"].as<std::string>();
}

/// The session the checks read from. A configured replica must serve the same book; when it is
/// a standby its replay lag is logged and held to RECON_READ_MAX_LAG_SECONDS. Runs under the
/// lock but before the run row, so a refused replica writes nothing.
std::unique_ptr<Session> open_read_session(const Settings& settings, const std::string& book, Session& control,
                                           const SessionLimits& limits)
{
    auto read = std::make_unique<Session>(settings.read_database_url(book), "read", limits);
    if (settings.read_database_urls.count(book) == 0) return read;
    verify_book_identity(*read, book);
    const auto lag = standby_lag_seconds(control, *read);
    if (!lag) {
        log_info("checks of book {} read from a separate database that is not a standby", book);
        return read;
    }
    log_info("checks of book {} read from a standby {} s behind the primary", book, *lag);
    if (settings.read_max_lag_seconds) {
        const auto parsed = Decimal::try_parse(*lag);
        if (!parsed || Decimal::from_int(*settings.read_max_lag_seconds) < *parsed) {
            throw Error(ExitCode::transient,
                        fmt::format("the read replica of book {} is {} s behind the primary, more than "
                                    "RECON_READ_MAX_LAG_SECONDS={}; nothing written",
                                    book, *lag, *settings.read_max_lag_seconds));
        }
    }
    return read;
}

const char* signal_name(int signal)
{
    return signal == SIGINT ? "SIGINT" : "SIGTERM";
}

/// Ends the run here when a signal arrived (execute_run's handler marks it interrupted).
void throw_if_interrupted(const RunInterruption* interruption)
{
    if (interruption != nullptr && interruption->signal() != 0) throw std::runtime_error("interrupted");
}

std::string host_name()
{
    char buffer[256] = {};
    if (gethostname(buffer, sizeof buffer - 1) != 0) return "unknown";
    return buffer;
}

}  // namespace

bool keeps_stored_proof(Category category)
{
    return category == Category::A || category == Category::B;
}

void require_shardable(Category category, const std::optional<Shard>& shard)
{
    if (shard && category != Category::C) {
        throw Error(ExitCode::usage, fmt::format("--shard {} applies to category C only (broker fan-out), not {}",
                                                 shard->to_string(), category));
    }
}

std::vector<std::string> snapshot_setup_of(const std::vector<const Check*>& checks)
{
    std::vector<std::string> setup;
    for (const Check* check : checks) {
        const std::string sql(check->snapshot_setup_sql());
        if (!sql.empty() && std::find(setup.begin(), setup.end(), sql) == setup.end()) setup.push_back(sql);
    }
    return setup;
}

std::vector<CheckResult> run_checks(const Settings& settings, const std::string& book, Category category,
                                    const std::vector<const Check*>& checks, Session& read, Timestamp as_of,
                                    const std::optional<Shard>& shard, const RunInterruption* interruption,
                                    std::vector<BrokerHealth>* broker_health)
{
    LedgerSnapshot snapshot(read, settings.statement_timeout_ms, snapshot_setup_of(checks));
    auto results = run_checks(settings, book, category, checks, snapshot, as_of, shard, interruption, broker_health);
    snapshot.close();
    return results;
}

namespace {

/// Runs the checks' prepare_snapshot while the snapshot is still writable, in a context of its
/// own, then turns it read only. What fails there (a statement timeout) is only logged: the
/// check that needs the work does it again and ends as it ends.
void prepare_snapshot(const Settings& settings, const std::string& book, const std::vector<const Check*>& checks,
                      LedgerSnapshot& snapshot, Timestamp as_of, const std::optional<Shard>& shard)
{
    if (!snapshot.awaits_preparation()) return;
    CheckContext context(settings, book, as_of, snapshot, nullptr, shard);
    try {
        for (const Check* check : checks) check->prepare_snapshot(context);
        snapshot.end_check(true);
    } catch (const pqxx::broken_connection&) {
        throw;
    } catch (const std::exception& e) {
        log_info("preparing the snapshot of book {} failed, left to the checks: {}", book, first_line(e.what()));
        snapshot.end_check(false);
    }
    snapshot.seal();
}

}  // namespace

std::vector<CheckResult> run_checks(const Settings& settings, const std::string& book, Category category,
                                    const std::vector<const Check*>& checks, LedgerSnapshot& snapshot, Timestamp as_of,
                                    const std::optional<Shard>& shard, const RunInterruption* interruption,
                                    std::vector<BrokerHealth>* broker_health)
{
    prepare_snapshot(settings, book, checks, snapshot, as_of, shard);
    std::vector<CheckResult> results;
    // Category C shares one broker hub across its checks: one HTTP client and one fetch per
    // account and kind of data per run.
    std::unique_ptr<BrokerHub> brokers;
    if (category == Category::C) brokers = std::make_unique<BrokerHub>(settings.brokers);
    for (const Check* check : checks) {
        if (interruption != nullptr && interruption->signal() != 0) break;
        CheckResult result;
        result.check_name = std::string(check->name());
        result.category = check->category();
        result.ran_at = std::chrono::system_clock::now();
        const auto started = std::chrono::steady_clock::now();
        if (brokers) brokers->set_progress_label(std::string(check->name()));
        CheckContext context(settings, book, as_of, snapshot, brokers.get(), shard);
        std::optional<std::string> failure;
        try {
            check->run(context);
            snapshot.end_check(true);
        } catch (const pqxx::broken_connection& e) {
            // The snapshot is gone (a restarted server, a standby's recovery conflict, which is
            // FATAL inside a savepoint): no later check can run either.
            throw pqxx::broken_connection(fmt::format("the {} session ended during check {}: {}",
                                                      snapshot.session().purpose(), check->name(),
                                                      first_line(e.what())));
        } catch (const pqxx::sql_error& e) {
            failure = e.sqlstate() == query_canceled_state
                          ? fmt::format("cancelled by the statement timeout of {} ms", settings.statement_timeout_ms)
                          : first_line(e.what());
        } catch (const std::exception& e) {
            failure = first_line(e.what());
        }
        if (failure) {
            try {
                snapshot.end_check(false);
            } catch (const pqxx::broken_connection&) {
                // The server ended the session right after the statement failed: say why.
                throw pqxx::broken_connection(fmt::format("the {} session ended during check {}: {}",
                                                          snapshot.session().purpose(), check->name(), *failure));
            }
        }
        if (category == Category::C) snapshot.close();
        result.duration_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
        result.metrics = std::move(context.metrics());
        if (failure) {
            // A half-finished check's findings are not evidence of anything: drop them.
            result.status = CheckStatus::error;
            result.metrics["error"] = *failure;
            log_warn("check {} on book {} ended error: {}", result.check_name, book, *failure);
        } else {
            result.status = context.status();
            result.broker_reach = context.broker_reach();
            result.variances = std::move(context.variances().listed());
            result.variances_total = context.variances().total();
        }
        // Fingerprints over the ledger's own bytes; then text that is not UTF-8 is escaped so
        // that JSON output, run rows and alerts can carry it (docs/decisions/invalid-utf8-text.md).
        finalize_variances(result);
        escape_invalid_utf8(result);
        results.push_back(std::move(result));
    }
    if (brokers && broker_health) *broker_health = brokers->health();
    return results;
}

void require_one_snapshot(const std::vector<Category>& categories, const RunRequest& request)
{
    if (categories.empty()) throw Error(ExitCode::usage, "no category to run");
    for (auto category = categories.begin(); category != categories.end(); ++category) {
        require_shardable(*category, request.shard);
        if (std::find(categories.begin(), category, *category) != category) {
            throw Error(ExitCode::usage, fmt::format("category {} is named twice", *category));
        }
    }
    if (categories.size() == 1) return;
    if (std::find(categories.begin(), categories.end(), Category::C) != categories.end()) {
        throw Error(ExitCode::usage,
                    "category C runs alone: its checks each read the ledger after their own broker "
                    "fetches, not in one snapshot with A, B or D");
    }
    if (!request.check_names.empty()) {
        throw Error(ExitCode::usage, "--check names checks of one category: run that category alone");
    }
}

RunOutcome execute_run(const Settings& settings, const CheckRegistry& registry, const RunRequest& request)
{
    return std::move(execute_runs(settings, registry, request, {request.category}).front());
}

std::vector<RunOutcome> execute_runs(const Settings& settings, const CheckRegistry& registry, const RunRequest& request,
                                     const std::vector<Category>& categories)
{
    settings.require_book(request.book);
    require_one_snapshot(categories, request);
    std::vector<std::vector<const Check*>> selected;
    for (const Category category : categories) selected.push_back(registry.select(category, request.check_names));
    Session control(settings.database_url(request.book), "control", request.session_limits);
    verify_book(control, request.book);

    // Each category is a run of its own (its lock, its row, its report), skipped alone when
    // another process holds its lock; those that start share one snapshot.
    struct Planned {
        std::vector<const Check*> checks;
        std::optional<RunLock> lock;
        RunOutcome outcome;
    };
    std::vector<Planned> planned;
    for (std::size_t i = 0; i < categories.size(); ++i) {
        Planned run{.checks = std::move(selected[i]),
                    .lock = RunLock::try_acquire(control, request.book, categories[i], request.shard)};
        run.outcome.report.category = categories[i];
        if (!run.lock) {
            run.outcome.lock_held = true;
            try {
                run.outcome.lock_holder = RunHistory(control).running(request.book, categories[i], request.shard);
            } catch (...) {
                // Best effort: the skip stands without naming the holder.
            }
        }
        planned.push_back(std::move(run));
    }
    std::vector<Planned*> running;
    for (auto& run : planned) {
        if (run.lock) running.push_back(&run);
    }
    const auto outcomes = [&] {
        std::vector<RunOutcome> result;
        for (auto& run : planned) result.push_back(std::move(run.outcome));
        return result;
    };
    if (running.empty()) return outcomes();

    // One instant for every run of the snapshot: the checks of each read "as of" it.
    const Timestamp started_at = std::chrono::system_clock::now();
    const auto started = std::chrono::steady_clock::now();
    std::set<ContractView> views{ContractView::book_identity};
    std::vector<const Check*> all_checks;
    std::vector<RunReport*> reports;
    std::vector<RunLock*> locks;
    bool proves = false;
    for (Planned* run : running) {
        RunReport& report = run->outcome.report;
        report.book = request.book;
        report.trigger = request.trigger;
        report.shard = request.shard;
        // Naming every check of the category is a full run; naming fewer covers only part of it.
        if (run->checks.size() < registry.select(report.category, {}).size()) report.scope = RunScope::partial;
        report.checks_requested = request.check_names;
        report.started_at = started_at;
        for (const Check* check : run->checks) views.merge(check->reads());
        all_checks.insert(all_checks.end(), run->checks.begin(), run->checks.end());
        reports.push_back(&report);
        locks.push_back(&*run->lock);
        proves = proves || keeps_stored_proof(report.category);
    }

    const auto read = open_read_session(settings, request.book, control, request.session_limits);
    verify_contract(*read, request.book, views, proves);
    if (request.interruption != nullptr) {
        request.interruption->attach_sessions(settings.database_url(request.book), control.backend_pid(),
                                              settings.read_database_url(request.book), read->backend_pid());
    }
    RunHistory history(control);
    for (Planned* run : running) {
        RunReport& report = run->outcome.report;
        const auto abandoned =
            history.begin_run(report, run->lock->key(), run->lock->category_key(), host_name(), getpid());
        if (abandoned > 0) {
            log_warn("marked {} stale running run(s) of {}/{} abandoned", abandoned, request.book, report.category);
        }
        if (request.interruption != nullptr) request.interruption->attach_run(report.run_id);
        if (request.on_started) request.on_started(report.run_id);
    }

    LedgerSnapshot snapshot(*read, settings.statement_timeout_ms, snapshot_setup_of(all_checks));
    if (proves) {
        // The proof is built before the first check, while the snapshot may still write its
        // temporary tables in parallel plans (checks/proof.cpp).
        snapshot.defer_read_only();
        snapshot.set_proof_request(
            ProofRequest{.store = true,
                         .force_full = request.force_full_proof,
                         .stored_version = stored_proof_version(control),
                         .full_interval_seconds = settings.full_proof_interval_seconds,
                         .replays_snapshots = views.contains(ContractView::balance_snapshots),
                         .stored_in_snapshot = settings.read_database_urls.count(request.book) == 0});
    }
    std::vector<RunChanges> changes;
    try {
        for (Planned* run : running) {
            RunReport& report = run->outcome.report;
            report.checks = run_checks(settings, request.book, report.category, run->checks, snapshot, started_at,
                                       request.shard, request.interruption, &report.brokers);
            // The proof is the snapshot's: the runs of A and B in it share it.
            if (keeps_stored_proof(report.category)) report.proof = snapshot.proof_summary();
            throw_if_interrupted(request.interruption);
            report.finished_at = std::chrono::system_clock::now();
            report.duration_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                    .count();
            apply_acknowledgements(control, report);
            report.status = run_status_of(overall_status(report.checks));
        }
        changes = write_results(history, locks, reports, settings, snapshot.proof_store());
        snapshot.close();
    } catch (...) {
        if (request.interruption != nullptr && request.interruption->signal() != 0) {
            // Whatever the checks were doing, the signal is why the runs end: a cancelled
            // statement or a half-finished check proves nothing.
            const int signal = request.interruption->signal();
            const std::string message =
                fmt::format("{} interrupted by {}; no results written", runs_label(reports), signal_name(signal));
            for (const RunReport* report : reports) history.interrupt_run(report->run_id, message);
            for (RunLock* lock : locks) lock->release();
            request.interruption->finished();
            throw Error(exit_code_for_signal(signal), message);
        }
        // Past this point every failure is mid-run: a lost connection is transient (75).
        const auto [code, message] = classify_current_exception(true);
        finish_as_error(settings, request.book, history, reports, message);
        throw Error(code, message);
    }
    // After the results committed and still under the locks, so the alert state of these checks
    // is only ever written by one run at a time; bounded by RECON_ALERT_TIMEOUT_MS, never throws.
    if (request.interruption != nullptr) request.interruption->finished();
    for (std::size_t i = 0; i < running.size(); ++i) {
        running[i]->outcome.changes = std::move(changes[i]);
        send_run_alerts(settings, running[i]->outcome.report, running[i]->outcome.changes, control);
    }
    for (RunLock* lock : locks) lock->release();
    return outcomes();
}

namespace {

/// True when the run needed brokers and found every one it asked unreachable as a whole: it
/// proved nothing external (exit 69, "every broker unreachable"). Checks that had nobody to ask
/// do not count either way.
bool every_broker_unreachable(const RunReport& report)
{
    bool any_contacted = false;
    for (const auto& check : report.checks) {
        if (check.broker_reach == BrokerReach::unreachable) {
            any_contacted = true;
        } else if (check.broker_reach == BrokerReach::reachable) {
            return false;
        }
    }
    return any_contacted;
}

}  // namespace

std::string lock_held_message(const RunOutcome& outcome, const std::string& label)
{
    std::string holder;
    if (outcome.lock_holder) {
        holder = fmt::format(": run {} ({}, started {})", outcome.lock_holder->run_id, outcome.lock_holder->trigger,
                             format_utc(outcome.lock_holder->started_at));
    }
    return fmt::format("another run of {} holds the lock{}; nothing written", label, holder);
}

std::string run_exit_reason(const RunReport& report, ExitCode code)
{
    std::map<CheckStatus, std::size_t> counts;
    for (const auto& check : report.checks) ++counts[check.status];
    switch (code) {
        case ExitCode::ok:
            return "every check ok or warn";
        case ExitCode::check_failed:
            return counts[CheckStatus::fail] > 0
                       ? fmt::format("{} check(s) failed", counts[CheckStatus::fail])
                       : fmt::format("{} check(s) warned (--fail-on warn)", counts[CheckStatus::warn]);
        case ExitCode::unavailable:
            return "every broker it asked was unreachable; retry later";
        default:
            return fmt::format("{} check(s) could not complete (status error)", counts[CheckStatus::error]);
    }
}

ExitCode exit_code_for(const RunReport& report, bool fail_on_warn)
{
    bool any_error = false;
    for (const auto& check : report.checks) {
        if (check.status == CheckStatus::fail) return ExitCode::check_failed;
        if (check.status == CheckStatus::error) any_error = true;
    }
    if (any_error) return every_broker_unreachable(report) ? ExitCode::unavailable : ExitCode::check_error;
    if (fail_on_warn) {
        for (const auto& check : report.checks) {
            if (check.status == CheckStatus::warn) return ExitCode::check_failed;
        }
    }
    return ExitCode::ok;
}

}  // namespace reconcile
