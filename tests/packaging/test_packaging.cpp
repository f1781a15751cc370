// Packaging: the .deb CPack builds (its files, control data, conffile; no test tool), the
// systemd units verified by systemd-analyze inside the package's own file tree, the man page
// (current, renders without warnings, names every command and option --help lists), and the
// commands the units and the cron example run, run for real against a database.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "lib/lock.hpp"
#include "tests/db/fixture.hpp"
#include "tests/support/process.hpp"

using namespace reconcile;
using namespace reconcile::test;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> categories{"A", "B", "C", "D"};

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path.string());
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

std::vector<std::string> split_lines(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

ProcessResult run_checked(const std::vector<std::string>& argv, const ProcessOptions& options = {})
{
    auto result = run_process(argv, options);
    INFO("command: " << argv.front() << " " << (argv.size() > 1 ? argv[1] : ""));
    INFO("stderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    return result;
}

/// The .deb built once per test binary by cpack from this build tree, and its extracted tree.
struct Package {
    fs::path dir;
    fs::path deb;
    fs::path root;
    std::string contents;  ///< dpkg-deb -c
    std::string info;      ///< dpkg-deb -I

    Package()
    {
        dir = fs::temp_directory_path() / ("reconcile-package-" + std::to_string(getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        run_checked({RECON_CPACK_COMMAND, "-G", "DEB", "--config", std::string(RECON_BUILD_DIR) + "/CPackConfig.cmake",
                     "-B", dir.string()});
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (entry.path().extension() == ".deb") deb = entry.path();
        }
        REQUIRE_MESSAGE(!deb.empty(), "cpack wrote no .deb into " << dir.string());
        contents = run_checked({"/usr/bin/dpkg-deb", "-c", deb.string()}).out;
        info = run_checked({"/usr/bin/dpkg-deb", "-I", deb.string()}).out;
        root = dir / "root";
        run_checked({"/usr/bin/dpkg-deb", "-x", deb.string(), root.string()});
    }
    ~Package() { fs::remove_all(dir); }

    /// Every path in the package, as "/usr/bin/reconcile" (directories end in '/').
    std::set<std::string> paths() const
    {
        std::set<std::string> result;
        for (const auto& line : split_lines(contents)) {
            const auto dot = line.find(" ./");
            if (dot != std::string::npos) result.insert(line.substr(dot + 2));
        }
        return result;
    }
};

Package& package()
{
    static Package instance;
    return instance;
}

/// The unit instances an operator enables: every category on both books, and the server.
std::vector<std::string> unit_instances()
{
    std::vector<std::string> units{"reconcile-serve.service"};
    for (const auto& book : {"uae", "india"}) {
        for (const auto& category : categories) {
            units.push_back(fmt::format("reconcile-{}@{}.service", category, book));
            units.push_back(fmt::format("reconcile-{}@{}.timer", category, book));
        }
    }
    return units;
}

/// The value of `Key=` in a unit file (the first occurrence).
std::string unit_setting(const std::string& unit_text, const std::string& key)
{
    for (const auto& line : split_lines(unit_text)) {
        if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    }
    return {};
}

std::vector<std::string> split_words(const std::string& text)
{
    std::istringstream in(text);
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    return words;
}

/// `reconcile [path...] --help` parsed into option names, positionals and subcommands.
struct HelpPage {
    std::vector<std::string> options;  ///< "-b", "--book", ...
    std::vector<std::string> positionals;
    std::vector<std::string> subcommands;
};

HelpPage help_page(const std::vector<std::string>& path)
{
    std::vector<std::string> argv{reconcile_binary()};
    argv.insert(argv.end(), path.begin(), path.end());
    argv.push_back("--help");
    const auto result = run_checked(argv);
    HelpPage page;
    std::string section;
    for (const auto& line : split_lines(result.out)) {
        if (!line.empty() && line.front() != ' ') {
            section = line;
            continue;
        }
        const auto words = split_words(line);
        if (words.empty() || line.rfind("    ", 0) == 0) continue;  // blank or a wrapped description
        if (section == "Options:") {
            std::istringstream names(words.front());
            for (std::string name; std::getline(names, name, ',');) page.options.push_back(name);
        } else if (section == "Positionals:") {
            page.positionals.push_back(words.front());
        } else if (section == "Subcommands:") {
            page.subcommands.push_back(words.front());
        }
    }
    return page;
}

/// The man page source with roff escapes removed, cut into its sections: "GLOBAL OPTIONS",
/// "reconcile run", "reconcile runs list", ...
std::map<std::string, std::string> man_sections(const std::string& roff)
{
    std::string plain = std::regex_replace(roff, std::regex(R"(\\f[BIR])"), "");
    plain = std::regex_replace(plain, std::regex(R"(\\-)"), "-");
    std::map<std::string, std::string> sections;
    std::string current;
    bool heading = false;
    for (const auto& line : split_lines(plain)) {
        if (line.rfind(".SH ", 0) == 0 || line.rfind(".SS ", 0) == 0) {
            current = line.substr(4);
            current.erase(std::remove(current.begin(), current.end(), '"'), current.end());
            continue;
        }
        // An entry's heading (the line after .TP) is marked, so options are looked up there.
        sections[current] += (heading ? "TP> " : "") + line + "\n";
        heading = line == ".TP";
    }
    return sections;
}

/// True when an entry heading (.TP) of the section names the option (or positional).
bool names_option(const std::string& section, const std::string& name)
{
    const std::regex pattern("(^|[^a-z-])" + name + "($|[^a-z-])");
    for (const auto& line : split_lines(section)) {
        if (line.rfind("TP> ", 0) == 0 && std::regex_search(line, pattern)) return true;
    }
    return false;
}

ProcessOptions env_for(const BookDb& uae, const BookDb& india)
{
    ProcessOptions options;
    options.env = {
        {"RECON_BOOKS", "uae,india"}, {"RECON_DATABASE_URL_UAE", uae.url()}, {"RECON_DATABASE_URL_INDIA", india.url()}};
    options.unset_env = {"RECON_CONFIG", "ALERT_WEBHOOK_URL"};
    return options;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

}  // namespace

TEST_CASE("the .deb holds the binary, schema, units, man page, examples and conffile, and no test tool")
{
    const auto& pkg = package();
    const std::string unit_dir = RECON_SYSTEMD_UNIT_DIR;
    std::set<std::string> expected{RECON_INSTALLED_BINARY,
                                   RECON_ENV_FILE,
                                   std::string(RECON_MAN_DIR) + "/man1/reconcile.1.gz",
                                   std::string(RECON_DOC_DIR) + "/examples/reconcile.cron",
                                   std::string(RECON_DOC_DIR) + "/examples/reconcile.env",
                                   std::string(RECON_DOC_DIR) + "/copyright",
                                   std::string(RECON_DOC_DIR) + "/changelog.gz",
                                   unit_dir + "/reconcile-serve.service"};
    for (const auto& category : categories) {
        expected.insert(unit_dir + "/reconcile-" + category + "@.service");
        expected.insert(unit_dir + "/reconcile-" + category + "@.timer");
    }
    // Every file of schema/ (migrations for reading, the JSON Schemas of the output).
    const fs::path schema_source = fs::path(RECON_SOURCE_DIR) / "schema";
    for (const auto& entry : fs::recursive_directory_iterator(schema_source)) {
        if (entry.is_regular_file()) {
            expected.insert(std::string(RECON_DATA_DIR) + "/reconcile/schema/" +
                            fs::relative(entry.path(), schema_source).string());
        }
    }
    CHECK(expected.count(std::string(RECON_DATA_DIR) + "/reconcile/schema/run-output.schema.json") == 1);

    std::set<std::string> files;
    for (const auto& path : pkg.paths()) {
        if (path.back() != '/') files.insert(path);
    }
    // Exactly the product's files: no test binary, no fake broker, no fixture.
    CHECK(files == expected);
    for (const auto& path : files) {
        CAPTURE(path);
        CHECK(path.find("fake") == std::string::npos);
        CHECK(path.find("test") == std::string::npos);
    }
    // The env-file will hold database URLs: not world-readable (postinst gives it to group reconcile).
    CHECK(pkg.contents.find("-rw-r----- root/root") != std::string::npos);
    CHECK(pkg.contents.find(std::string("-rwxr-xr-x root/root")) != std::string::npos);

    CHECK(pkg.info.find("Package: reconcile") != std::string::npos);
    CHECK(pkg.info.find("Depends: adduser") != std::string::npos);
    CHECK(pkg.info.find("libpqxx-6.4") != std::string::npos);
    for (const char* member : {"conffiles", "postinst", "prerm", "postrm"}) {
        CAPTURE(member);
        CHECK(pkg.info.find(member) != std::string::npos);
    }
    const auto conffiles = run_checked({"/usr/bin/dpkg-deb", "--info", pkg.deb.string(), "conffiles"});
    CHECK(conffiles.out == std::string(RECON_ENV_FILE) + "\n");

    // dpkg itself accepts the package: unpacked into a private dpkg root (no maintainer script
    // runs at --unpack), it records the env-file as a conffile.
    const fs::path dpkg_root = pkg.dir / "dpkg-root";
    for (const char* sub : {"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"}) {
        fs::create_directories(dpkg_root / sub);
    }
    std::ofstream(dpkg_root / "var/lib/dpkg/status").flush();
    run_checked({"/usr/bin/dpkg", "--root=" + dpkg_root.string(), "--log=/dev/null", "--force-depends",
                 "--force-not-root", "--unpack", pkg.deb.string()});
    const auto status = read_file(dpkg_root / "var/lib/dpkg/status");
    CHECK(status.find("Status: install ok unpacked") != std::string::npos);
    CHECK(status.find(std::string("Conffiles:\n ") + RECON_ENV_FILE + " ") != std::string::npos);
    CHECK(fs::exists(dpkg_root / fs::path(RECON_INSTALLED_BINARY).relative_path()));
    for (const char* doc : {"copyright", "changelog.gz"}) {
        CAPTURE(doc);
        CHECK(fs::is_regular_file(dpkg_root / fs::path(RECON_DOC_DIR).relative_path() / doc));
    }
    for (const char* script : {"postinst", "prerm", "postrm"}) {
        CAPTURE(script);
        run_checked(
            {"/bin/sh", "-n", (dpkg_root / "var/lib/dpkg/info" / (std::string("reconcile.") + script)).string()});
    }

    // The packaged binary is the product: it runs and knows its version.
    const auto binary = pkg.root / fs::path(RECON_INSTALLED_BINARY).relative_path();
    const auto version = run_checked({binary.string(), "--version"});
    CHECK(version.out.find(RECON_VERSION) != std::string::npos);
}

TEST_CASE("the packaged units verify with systemd-analyze inside the package's own file tree")
{
    // `verify --root` resolves ExecStart=, EnvironmentFile= and the man page inside the extracted
    // package, so it proves the units name the paths the .deb installs. The root also needs the
    // host's standard units (sysinit.target, ...): copied in, ours untouched.
    const auto& pkg = package();
    const fs::path unit_dir = pkg.root / fs::path(RECON_SYSTEMD_UNIT_DIR).relative_path();
    fs::copy("/lib/systemd/system", unit_dir,
             fs::copy_options::recursive | fs::copy_options::skip_existing | fs::copy_options::copy_symlinks);
    ProcessOptions options;
    options.env["MANPATH"] = (pkg.root / fs::path(RECON_MAN_DIR).relative_path()).string();
    options.env["SYSTEMD_LOG_COLOR"] = "0";

    std::vector<std::string> verify{"/usr/bin/systemd-analyze", "verify", "--root=" + pkg.root.string()};
    for (const auto& unit : unit_instances()) verify.push_back(unit);
    const auto verified = run_process(verify, options);
    CHECK_MESSAGE(verified.exit_code == 0, verified.err);
    CHECK_MESSAGE(verified.err.empty(), verified.err);

    // Every command and env-file the units name is in the package's tree, where they say.
    std::size_t units_seen = 0;
    for (const auto& entry : fs::directory_iterator(unit_dir)) {
        const auto name = entry.path().filename().string();
        if (name.rfind("reconcile-", 0) != 0 || entry.path().extension() != ".service") continue;
        CAPTURE(name);
        ++units_seen;
        const auto text = read_file(entry.path());
        auto exec = split_words(unit_setting(text, "ExecStart"));
        REQUIRE_FALSE(exec.empty());
        exec.front().erase(0, exec.front().find('/'));  // prefixes such as "-" or "+"
        CHECK(exec.front() == RECON_INSTALLED_BINARY);
        CHECK(fs::exists(pkg.root / fs::path(exec.front()).relative_path()));
        auto env_file = unit_setting(text, "EnvironmentFile");
        env_file.erase(0, env_file.find('/'));
        CHECK(env_file == RECON_ENV_FILE);
        CHECK(fs::is_regular_file(pkg.root / fs::path(env_file).relative_path()));
    }
    CHECK(units_seen == 5);

    // The same verify fails when the binary is not where the units say: the check has teeth.
    const fs::path binary = pkg.root / fs::path(RECON_INSTALLED_BINARY).relative_path();
    fs::rename(binary, binary.string() + ".moved");
    const auto broken = run_process(
        {"/usr/bin/systemd-analyze", "verify", "--root=" + pkg.root.string(), "reconcile-A@uae.service"}, options);
    fs::rename(binary.string() + ".moved", binary);
    CHECK(broken.exit_code != 0);
    CHECK(broken.err.find("is not executable") != std::string::npos);

    // Sandboxing: systemd's own offline review rates every unit's exposure 2.0 ("OK") or better.
    for (const auto& unit : unit_instances()) {
        if (unit.find(".service") == std::string::npos) continue;
        CAPTURE(unit);
        const auto security = run_process({"/usr/bin/systemd-analyze", "security", "--offline=yes",
                                           "--root=" + pkg.root.string(), "--threshold=20", "--no-pager", unit},
                                          options);
        CHECK_MESSAGE(security.exit_code == 0, (security.out + security.err));
    }
}

TEST_CASE("the package's copyright is machine-readable (DEP-5) and is LICENSE; its changelog is this version's")
{
    const auto& pkg = package();
    const fs::path doc = pkg.root / fs::path(RECON_DOC_DIR).relative_path();
    const auto copyright = read_file(doc / "copyright");
    const auto lines = split_lines(copyright);
    REQUIRE(lines.size() > 10);
    CHECK(lines.front() == "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/");
    // DEP-5 syntax: paragraphs of "Field: value" lines and continuation lines (a space first;
    // " ." for a blank line), separated by one empty line; no other kind of line.
    std::vector<std::map<std::string, std::string>> paragraphs(1);
    std::string field;
    for (const auto& line : lines) {
        CAPTURE(line);
        if (line.empty()) {
            paragraphs.emplace_back();
            continue;
        }
        if (line.front() == ' ') {
            REQUIRE_FALSE(field.empty());
            CHECK(line.find_first_not_of(' ') != std::string::npos);
            paragraphs.back()[field] += "\n" + (line == " ." ? std::string() : line.substr(1));
            continue;
        }
        const auto colon = line.find(": ");
        REQUIRE(colon != std::string::npos);
        field = line.substr(0, colon);
        CHECK(std::regex_match(field, std::regex("[A-Za-z][A-Za-z-]*")));
        CHECK(paragraphs.back().count(field) == 0);
        paragraphs.back()[field] = line.substr(colon + 2);
    }
    REQUIRE(paragraphs.size() == 2);
    CHECK(paragraphs[0].at("Upstream-Name") == "reconcile");
    CHECK(paragraphs[0].count("Upstream-Contact") == 1);
    CHECK(paragraphs[1].at("Files") == "*");
    CHECK(paragraphs[1].at("Copyright") == "2026 the Company");
    // The licence is LICENSE, word for word: the package and the source tree agree.
    std::string license = read_file(fs::path(RECON_SOURCE_DIR) / "LICENSE");
    while (!license.empty() && license.back() == '\n') license.pop_back();
    CHECK(paragraphs[1].at("License") == "proprietary\n" + license);
    CHECK(license.find("All rights reserved.") != std::string::npos);
    CHECK(license.find("Copyright (c) 2026 the Company") != std::string::npos);

    // changelog.gz: compressed without name or timestamp (reproducible), its latest entry
    // the version being packaged.
    const auto gz = read_file(doc / "changelog.gz");
    REQUIRE(gz.size() > 10);
    CHECK(static_cast<unsigned char>(gz[0]) == 0x1f);
    CHECK(static_cast<unsigned char>(gz[1]) == 0x8b);
    CHECK((static_cast<unsigned char>(gz[3]) & 0x08) == 0);  // no FNAME
    CHECK(gz.substr(4, 4) == std::string(4, '\0'));          // no MTIME
    const auto text = run_checked({"/bin/gzip", "-dc", (doc / "changelog.gz").string()}).out;
    CHECK(text == read_file(fs::path(RECON_SOURCE_DIR) / "packaging/changelog"));
    const auto parsed = run_checked(
        {"/usr/bin/dpkg-parsechangelog", "-l", (fs::path(RECON_SOURCE_DIR) / "packaging/changelog").string()});
    CHECK(parsed.out.find("Source: reconcile\n") != std::string::npos);
    CHECK(parsed.out.find(std::string("Version: ") + RECON_VERSION + "\n") != std::string::npos);
}

TEST_CASE("the timers: A, B and D hourly, C daily, randomized, persistent; exit 11 is success")
{
    const fs::path dir = fs::path(RECON_BUILD_DIR) / "packaging/systemd";
    for (const auto& category : categories) {
        CAPTURE(category);
        const auto timer = read_file(dir / ("reconcile-" + category + "@.timer"));
        const auto service = read_file(dir / ("reconcile-" + category + "@.service"));
        const auto calendar = unit_setting(timer, "OnCalendar");
        if (category == "C") {
            CHECK(calendar == "*-*-* 02:00:00");  // local time, as cron reads it
        } else {
            CHECK(std::regex_match(calendar, std::regex(R"(\*-\*-\* \*:[0-5][0-9]:00)")));
        }
        CHECK(unit_setting(timer, "Persistent") == "true");
        CHECK_FALSE(unit_setting(timer, "RandomizedDelaySec").empty());
        CHECK(unit_setting(service, "Type") == "oneshot");
        CHECK(unit_setting(service, "SuccessExitStatus") == "11");
        CHECK(unit_setting(service, "EnvironmentFile") == RECON_ENV_FILE);
        CHECK_FALSE(unit_setting(service, "TimeoutStartSec").empty());
        for (const char* hardening : {"ProtectSystem", "NoNewPrivileges", "PrivateTmp", "User"}) {
            CAPTURE(hardening);
            CHECK_FALSE(unit_setting(service, hardening).empty());
        }
    }
    const auto serve = read_file(dir / "reconcile-serve.service");
    CHECK(unit_setting(serve, "ExecStart") == std::string(RECON_INSTALLED_BINARY) + " serve");
    CHECK(unit_setting(serve, "EnvironmentFile") == RECON_ENV_FILE);
    CHECK(unit_setting(serve, "Type") == "notify");
    CHECK(unit_setting(serve, "NotifyAccess") == "main");
    CHECK(unit_setting(serve, "WatchdogSec") == "30s");
    CHECK(unit_setting(serve, "Restart") == "on-failure");
}

TEST_CASE("the units' and the cron example's commands run against real books")
{
    BookDb uae("uae");
    BookDb india("india");
    for (const BookDb* db : {&uae, &india}) db->exec(clean_ledger_sql);
    const auto env = env_for(uae, india);
    const fs::path dir = fs::path(RECON_BUILD_DIR) / "packaging/systemd";

    // ExecStart= of every category's service, %i the book, the installed path the built binary.
    for (const auto& category : std::vector<std::string>{"A", "D"}) {
        for (const auto& book : {"uae", "india"}) {
            CAPTURE(category);
            CAPTURE(book);
            const auto exec = unit_setting(read_file(dir / ("reconcile-" + category + "@.service")), "ExecStart");
            auto argv = split_words(replace_all(exec, "%i", book));
            REQUIRE(argv.front() == RECON_INSTALLED_BINARY);
            argv.front() = reconcile_binary();
            const auto result = run_process(argv, env);
            CHECK_MESSAGE(result.exit_code == 0, result.err);
        }
    }
    CHECK(uae.query_value("SELECT string_agg(category || ':' || trigger || ':' || status, ',' ORDER BY run_id)"
                          " FROM recon.runs") == "A:schedule:ok,D:schedule:ok");

    // The cron lines: silent when all is well or when another run holds the lock (exit 11),
    // the report (for cron to mail) when a check fails.
    std::vector<std::string> commands;
    for (const auto& line : split_lines(read_file(fs::path(RECON_BUILD_DIR) / "packaging/reconcile.cron"))) {
        if (line.empty() || line.front() == '#' || line.find('=') < line.find(' ')) continue;
        auto fields = split_words(line);
        REQUIRE(fields.size() > 6);
        CHECK(fields[5] == "reconcile");  // the user column
        const auto command_at = line.find(fields[6], line.find(" reconcile ") + 11);
        commands.push_back(line.substr(command_at));
    }
    REQUIRE(commands.size() == 8);
    const auto config = fs::temp_directory_path() / ("reconcile-cron-" + std::to_string(getpid()) + ".env");
    std::ofstream(config) << "RECON_BOOKS=uae,india\nRECON_DATABASE_URL_UAE=" << uae.url()
                          << "\nRECON_DATABASE_URL_INDIA=" << india.url() << "\n";
    ProcessOptions cron_env;
    cron_env.unset_env = {"RECON_CONFIG", "RECON_BOOKS", "RECON_DATABASE_URL_UAE", "RECON_DATABASE_URL_INDIA"};
    const auto cron_command = [&](const std::string& book, const std::string& category) {
        for (const auto& command : commands) {
            if (command.find("--book " + book + " --category " + category + " ") != std::string::npos) {
                return replace_all(replace_all(command, RECON_INSTALLED_BINARY, reconcile_binary()), RECON_ENV_FILE,
                                   config.string());
            }
        }
        FAIL("no cron line for " << book << "/" << category);
        return std::string{};
    };
    const auto clean = run_process({"/bin/sh", "-c", cron_command("india", "A")}, cron_env);
    CHECK(clean.exit_code == 0);
    CHECK_MESSAGE(clean.out.empty(), clean.out);

    india.exec("UPDATE ledger.journal_lines SET amount = 90.00 WHERE line_id = 2");
    const auto failing = run_process({"/bin/sh", "-c", cron_command("india", "A")}, cron_env);
    CHECK(failing.out.find("FAIL   trial_balance_zero") != std::string::npos);
    CHECK(failing.out.find("reconcile: warn: run ") != std::string::npos);  // a failing run says so, --quiet too

    {
        // Another run holds india/A's lock: the cron line stays silent.
        pqxx::connection holder(india.url());
        pqxx::nontransaction txn(holder);
        txn.exec_params("SELECT pg_advisory_lock($1)", advisory_lock_key(run_lock_scope("india", Category::A)));
        const auto skipped = run_process({"/bin/sh", "-c", cron_command("india", "A")}, cron_env);
        CHECK(skipped.exit_code == 0);
        CHECK_MESSAGE(skipped.out.empty(), skipped.out);
    }
    fs::remove(config);
}

TEST_CASE("the man page is current, renders without warnings, and names every command and option")
{
    const auto built = read_file(fs::path(RECON_BUILD_DIR) / "packaging/man/reconcile.1");
    CHECK(run_checked({reconcile_binary(), "help-man"}).out == built);
    const auto gz = run_checked({"/bin/gzip", "-dc", std::string(RECON_BUILD_DIR) + "/packaging/man/reconcile.1.gz"});
    CHECK(gz.out == built);

    const auto rendered = run_process(
        {"/usr/bin/groff", "-man", "-Tutf8", "-ww", "-z", std::string(RECON_BUILD_DIR) + "/packaging/man/reconcile.1"});
    CHECK(rendered.exit_code == 0);
    CHECK_MESSAGE(rendered.err.empty(), rendered.err);
    ProcessOptions man_env;
    man_env.env["MANWIDTH"] = "100";
    const auto man =
        run_process({"/usr/bin/man", "-l", std::string(RECON_BUILD_DIR) + "/packaging/man/reconcile.1"}, man_env);
    CHECK(man.exit_code == 0);
    CHECK(man.out.find("EXIT STATUS") != std::string::npos);

    // Walk --help: every command and every option it lists is in the man page, in its section.
    const auto sections = man_sections(built);
    std::set<std::string> help_commands;
    std::vector<std::vector<std::string>> pending{{}};
    while (!pending.empty()) {
        const auto path = pending.back();
        pending.pop_back();
        const auto page = help_page(path);
        std::string name = "reconcile";
        for (const auto& part : path) name += " " + part;
        const std::string section = path.empty() ? "GLOBAL OPTIONS" : name;
        CAPTURE(section);
        REQUIRE(sections.count(section) == 1);
        if (!path.empty()) help_commands.insert(name);
        for (const auto& option : page.options) {
            if (!path.empty() && (option == "-h" || option == "--help")) continue;
            CAPTURE(option);
            CHECK(names_option(sections.at(section), option));
        }
        for (const auto& positional : page.positionals) {
            CAPTURE(positional);
            CHECK(names_option(sections.at(section), positional));
        }
        for (const auto& sub : page.subcommands) {
            auto next = path;
            next.push_back(sub);
            pending.push_back(next);
        }
    }
    CHECK(help_commands.count("reconcile trace") == 1);
    CHECK(help_commands.count("reconcile runs show") == 1);
    // ... and the man page documents no command the binary does not have.
    std::set<std::string> man_commands;
    for (const auto& [title, text] : sections) {
        if (title.rfind("reconcile ", 0) == 0) man_commands.insert(title);
    }
    CHECK(man_commands == help_commands);
    // The hidden generator stays out of --help.
    CHECK(run_checked({reconcile_binary(), "--help"}).out.find("help-man") == std::string::npos);

    // The tables come from the code's own constants.
    CHECK(sections.at("EXIT STATUS").find("skipped: another run holds the lock") != std::string::npos);
    CHECK(sections.at("ENVIRONMENT").find("RECON_STATEMENT_TIMEOUT_MS") != std::string::npos);
    CHECK(sections.at("FILES").find(RECON_ENV_FILE) != std::string::npos);
}
