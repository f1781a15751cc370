// Acknowledging breaks against a real PostgreSQL: what a holding acknowledgement changes in a run
// (still listed, flagged, not counted), when it ends (amounts change, the break resolves, `until`
// passes, an unack), the append-only action log, and every refusal of a bad request.
#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "checks/registry.hpp"
#include "lib/acknowledgements.hpp"
#include "lib/runner.hpp"
#include "tests/db/fixture.hpp"

using namespace reconcile;
using reconcile::test::BookDb;

namespace {

/// A book of its own: acknowledgements outlive BookDb::reset (the log cannot be truncated).
BookDb& book()
{
    static BookDb db("uae");
    return db;
}

/// A copy: callers pass the run's report as a temporary.
CheckResult wallet_check(const RunReport& report)
{
    for (const auto& check : report.checks) {
        if (check.check_name == "wallet_derivation") return check;
    }
    throw std::runtime_error("no wallet_derivation");
}

RunReport run_b(const BookDb& db)
{
    RunRequest request;
    request.book = "uae";
    request.category = Category::B;
    request.check_names = {"wallet_derivation"};
    return execute_run(db.settings(), default_registry(), request).report;
}

VarianceActionRequest ack_of(const std::string& fingerprint, const std::string& note)
{
    return VarianceActionRequest{.action = VarianceAction::ack,
                                 .fingerprints = {fingerprint},
                                 .variance_class = VarianceClass::data,
                                 .note = note,
                                 .by = "alice"};
}

VarianceActionRequest unack_of(const std::string& fingerprint)
{
    return VarianceActionRequest{.action = VarianceAction::unack, .fingerprints = {fingerprint}, .by = "bob"};
}

void set_wallet(const BookDb& db, const char* balance)
{
    db.exec(std::string("UPDATE ledger.wallets SET balance = ") + balance + " WHERE customer_id = 'C001'");
}

}  // namespace

TEST_CASE(
    "an acknowledged break is listed and flagged, does not count, and ends when amounts change, on unack "
    "and when it resolves")
{
    auto& db = book();
    db.reset();
    db.exec(reconcile::test::clean_ledger_sql);
    set_wallet(db, "40.00");  // the journal says 48.50

    const auto first = run_b(db);
    const auto& broken = wallet_check(first);
    REQUIRE(broken.status == CheckStatus::fail);
    REQUIRE(broken.variances.size() == 1);
    const std::string fingerprint = broken.variances[0].fingerprint;
    CHECK_FALSE(broken.variances[0].acknowledgement.has_value());
    CHECK_FALSE(broken.metrics.contains("acknowledged"));

    // By a prefix of 12 digits, as `variances --open` shows it.
    const auto recorded = record_variance_actions(db.settings(), ack_of(fingerprint.substr(0, 12), "wallet rebuild"));
    REQUIRE(recorded.size() == 1);
    CHECK(recorded[0].fingerprint == fingerprint);
    CHECK(recorded[0].check_name == "wallet_derivation");
    CHECK(db.query_value("SELECT difference FROM recon.variance_actions WHERE fingerprint = '" + fingerprint + "'") ==
          "-8.50");

    const auto acknowledged = run_b(db);
    const auto& quiet = wallet_check(acknowledged);
    CHECK(quiet.status == CheckStatus::ok);
    CHECK(acknowledged.status == RunStatus::ok);
    CHECK(quiet.metrics["acknowledged"] == 1);
    REQUIRE(quiet.variances.size() == 1);
    REQUIRE(quiet.variances[0].acknowledgement.has_value());
    CHECK(quiet.variances[0].acknowledgement->variance_class == VarianceClass::data);
    CHECK(quiet.variances[0].acknowledgement->note == "wallet rebuild");
    CHECK(quiet.variances[0].acknowledgement->by == "alice");
    // Still an open break that was seen again, not a resolved one.
    CHECK(db.query_value("SELECT status || ' ' || occurrences FROM recon.variance_fingerprints WHERE fingerprint = '" +
                         fingerprint + "'") == "open 2");

    // The same amounts written at another scale (as an upgrade that aligned "0" to "0.00" writes
    // them) are the same situation: the newest acknowledgement, recorded as "-8.5", still holds.
    db.exec(
        "INSERT INTO recon.variance_actions (book, check_name, fingerprint, action, class, note, acted_by,"
        " expected, actual, difference) SELECT book, check_name, fingerprint, action, class, note, acted_by,"
        " expected || '0', actual || '0', '-8.5' FROM recon.variance_actions WHERE fingerprint = '" +
        fingerprint + "'");
    CHECK(wallet_check(run_b(db)).status == CheckStatus::ok);

    // A different difference is a new situation: it counts again.
    set_wallet(db, "30.00");
    const auto& changed = wallet_check(run_b(db));
    CHECK(changed.status == CheckStatus::fail);
    CHECK_FALSE(changed.variances[0].acknowledgement.has_value());
    CHECK_FALSE(changed.metrics.contains("acknowledged"));

    // Acknowledged at the new amounts, then unacknowledged: counts again.
    record_variance_actions(db.settings(), ack_of(fingerprint, "still the rebuild"));
    CHECK(wallet_check(run_b(db)).status == CheckStatus::ok);
    record_variance_actions(db.settings(), unack_of(fingerprint));
    CHECK(wallet_check(run_b(db)).status == CheckStatus::fail);

    // Acknowledged, then the break resolves and comes back at the same amounts: a new episode.
    record_variance_actions(db.settings(), ack_of(fingerprint, "third time"));
    CHECK(wallet_check(run_b(db)).status == CheckStatus::ok);
    set_wallet(db, "48.50");
    CHECK(wallet_check(run_b(db)).status == CheckStatus::ok);
    CHECK(db.query_value("SELECT status FROM recon.variance_fingerprints WHERE fingerprint = '" + fingerprint + "'") ==
          "resolved");
    set_wallet(db, "30.00");
    const auto& reopened = wallet_check(run_b(db));
    CHECK(reopened.status == CheckStatus::fail);
    CHECK_FALSE(reopened.variances[0].acknowledgement.has_value());

    // The log kept every decision, in order.
    CHECK(db.query_value("SELECT string_agg(action || ':' || acted_by, ',' ORDER BY action_id) FROM "
                         "recon.variance_actions WHERE fingerprint = '" +
                         fingerprint + "'") == "ack:alice,ack:alice,ack:alice,unack:bob,ack:alice");
}

TEST_CASE("an acknowledgement with until holds before that time and not after")
{
    auto& db = book();
    db.reset();
    db.exec(reconcile::test::clean_ledger_sql);
    set_wallet(db, "41.00");
    const auto report = run_b(db);
    const std::string fingerprint = wallet_check(report).variances.at(0).fingerprint;
    auto request = ack_of(fingerprint, "until tomorrow");
    const auto until = std::chrono::system_clock::now() + std::chrono::hours(24);
    request.until = until;
    record_variance_actions(db.settings(), request);

    Session control(db.url(), "control");
    RunReport before = report;
    before.started_at = until - std::chrono::hours(1);
    for (auto& check : before.checks) check.status = CheckStatus::fail;
    apply_acknowledgements(control, before);
    CHECK(wallet_check(before).status == CheckStatus::ok);
    REQUIRE(wallet_check(before).variances[0].acknowledgement.has_value());
    CHECK(format_utc(*wallet_check(before).variances[0].acknowledgement->until) ==
          format_utc(std::chrono::time_point_cast<std::chrono::milliseconds>(until)));

    RunReport after = report;
    after.started_at = until + std::chrono::seconds(1);
    for (auto& check : after.checks) check.status = CheckStatus::fail;
    apply_acknowledgements(control, after);
    CHECK(wallet_check(after).status == CheckStatus::fail);
    CHECK_FALSE(wallet_check(after).variances[0].acknowledgement.has_value());
}

TEST_CASE("the action log is append-only: UPDATE, DELETE and TRUNCATE are refused")
{
    auto& db = book();
    for (const char* sql : {"UPDATE recon.variance_actions SET note = 'rewritten'",
                            "DELETE FROM recon.variance_actions", "TRUNCATE recon.variance_actions"}) {
        CAPTURE(sql);
        // Refused even with no row to touch for TRUNCATE; the row triggers need a row: add one.
        db.exec(
            "INSERT INTO recon.variance_actions (book, check_name, fingerprint, action, acted_by)"
            " VALUES ('uae', 'x', 'y', 'unack', 'test')");
        try {
            db.exec(sql);
            FAIL("not refused");
        } catch (const std::exception& e) {
            CHECK(std::string(e.what()).find("recon.variance_actions is append-only") != std::string::npos);
        }
    }
}

TEST_CASE("bad acknowledgements are refused with one line and write nothing")
{
    auto& db = book();
    db.reset();
    db.exec(reconcile::test::clean_ledger_sql);
    // C002: a break no earlier case acknowledged.
    db.exec("UPDATE ledger.wallets SET balance = 1.00 WHERE customer_id = 'C002'");
    const std::string fingerprint = wallet_check(run_b(db)).variances.at(0).fingerprint;
    const auto count = [&] { return db.query_value("SELECT count(*) FROM recon.variance_actions"); };
    const std::string before = count();

    const auto refused = [&](VarianceActionRequest request, const std::string& message) {
        CAPTURE(message);
        try {
            record_variance_actions(db.settings(), request);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(e.code() == ExitCode::usage);
            CHECK(std::string(e.what()) == message);
        }
    };
    refused(ack_of("abc", "n"),
            "'abc' is not a fingerprint: give its 32 hex digits or at least the first 8 (see `reconcile variances "
            "--open`)");
    refused(ack_of("0123456789abcdef", "n"), "no variance with fingerprint 0123456789abcdef in book(s) uae");
    CHECK_THROWS_AS(record_variance_actions(db.settings(), ack_of("0123456789abcdef", "n")), UnknownVariance);
    refused(ack_of(fingerprint, "  "), "an ack needs a --note saying why");
    auto no_class = ack_of(fingerprint, "n");
    no_class.variance_class.reset();
    refused(no_class, "an ack needs --class data|code|timing");
    auto past = ack_of(fingerprint, "n");
    past.until = parse_utc("2020-01-01T00:00:00Z");
    refused(past, "--until 2020-01-01T00:00:00.000Z has already passed");
    refused(unack_of(fingerprint), "variance " + fingerprint + " (wallet_derivation on uae) is not acknowledged");
    // A valid fingerprint beside a bad one: nothing is written.
    auto mixed = ack_of(fingerprint, "n");
    mixed.fingerprints.push_back("ffffffffffffffff");
    CHECK_THROWS_AS(record_variance_actions(db.settings(), mixed), UnknownVariance);
    CHECK(count() == before);

    db.reset();
    db.exec(reconcile::test::clean_ledger_sql);
    CHECK(wallet_check(run_b(db)).status == CheckStatus::ok);
    refused(ack_of(fingerprint, "n"),
            "variance " + fingerprint + " (wallet_derivation on uae) has resolved: nothing to acknowledge");
    CHECK(count() == before);
}
