// The docs tell the truth about the product: every `reconcile ...` example in a shell code block
// of README.md, ARCHITECTURE.md or docs/ parses with the real binary (its command path and
// options exist, its values are accepted), the docs' cron lines are lines of the packaged cron
// file, the cron file runs at the timers' times, and the man page refers only to sections it has.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "lib/config.hpp"
#include "tests/support/markdown.hpp"
#include "tests/support/process.hpp"

namespace fs = std::filesystem;
using namespace reconcile;
using namespace reconcile::test;

namespace {

const fs::path source_root = RECON_SOURCE_DIR;
const fs::path build_root = RECON_BUILD_DIR;

std::vector<std::string> split_words(const std::string& text)
{
    std::vector<std::string> words;
    std::istringstream in(text);
    for (std::string word; in >> word;) words.push_back(word);
    return words;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

/// The simple commands of one shell line, as words: quotes grouped and removed, a '#' comment
/// dropped, split at ; && || and |, redirections (>, 2>, 2>&1, <) dropped with their targets.
std::vector<std::vector<std::string>> simple_commands(const std::string& line)
{
    std::vector<std::vector<std::string>> commands(1);
    std::string word;
    bool in_word = false;
    char quote = 0;
    const auto end_word = [&] {
        if (in_word) commands.back().push_back(word);
        word.clear();
        in_word = false;
    };
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quote != 0) {
            if (c == quote) {
                quote = 0;
            } else if (c == '\\' && quote == '"' && i + 1 < line.size()) {
                word += line[++i];
            } else {
                word += c;
            }
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == '\\' && i + 1 < line.size()) {
            word += line[++i];
            in_word = true;
        } else if (c == ' ' || c == '\t') {
            end_word();
        } else if (c == '#' && !in_word) {
            break;
        } else if (c == '&' && !word.empty() && (word.back() == '>' || word.back() == '<')) {
            word += c;  // 2>&1
        } else if (c == ';' || c == '|' || c == '&') {
            end_word();
            if (i + 1 < line.size() && line[i + 1] == c) ++i;
            commands.emplace_back();
        } else {
            word += c;
            in_word = true;
        }
    }
    end_word();
    for (auto& command : commands) {
        std::vector<std::string> kept;
        for (std::size_t i = 0; i < command.size(); ++i) {
            const std::regex redirection(R"(^[0-9]?[<>]+(&[0-9])?(.*)$)");
            std::smatch match;
            if (std::regex_match(command[i], match, redirection)) {
                if (match[2].length() == 0 && !match[1].matched) ++i;  // "> file": the target too
                continue;
            }
            kept.push_back(command[i]);
        }
        command = kept;
    }
    return commands;
}

/// A documented invocation of reconcile: where it is, and its arguments (without the program).
struct Example {
    std::string where;
    std::string text;
    std::vector<std::string> args;
    bool synopsis = false;  ///< a usage line: [optional], a|b alternatives, NAME... repeats
};

std::vector<Example> documented_examples()
{
    std::vector<Example> examples;
    const std::regex synopsis_marks(R"(\[-|\]\.\.\.|[A-Za-z]\|[A-Za-z-]|\(-)");
    for (const auto& document : project_documents()) {
        for (const auto& line : shell_code_lines(read_text_file(source_root / document))) {
            const std::string where = document.string() + ":" + std::to_string(line.number);
            if (std::regex_search(line.text, synopsis_marks)) {
                auto words = split_words(line.text);
                if (!words.empty() && words[0] == "reconcile") {
                    examples.push_back({where, line.text, {words.begin() + 1, words.end()}, true});
                }
                continue;
            }
            for (auto words : simple_commands(line.text)) {
                if (words.size() >= 3 && words[0] == "sudo" && words[1] == "-u")
                    words.erase(words.begin(), words.begin() + 3);
                if (!words.empty() && words[0].rfind("ExecStart=", 0) == 0) words[0].erase(0, 10);
                if (words.empty()) continue;
                const std::string& program = words[0];
                if (program != "reconcile" && !(program.size() > 10 && program.ends_with("/reconcile"))) continue;
                examples.push_back({where, line.text, {words.begin() + 1, words.end()}, false});
            }
        }
        // Commands named in the prose (`reconcile runs list --output json`) are often partial, so
        // they are only checked like a usage line: real commands and options, nothing run.
        for (const auto& span : inline_code_spans(read_text_file(source_root / document))) {
            if (span.text.rfind("reconcile ", 0) != 0 || span.text.find("...") != std::string::npos ||
                span.text.find("COMMAND") != std::string::npos) {
                continue;
            }
            const auto words = split_words(span.text);
            examples.push_back({document.string() + ":" + std::to_string(span.number),
                                span.text,
                                {words.begin() + 1, words.end()},
                                true});
        }
    }
    return examples;
}

/// `reconcile PATH... --help`, cached: the help text of a command path.
const std::string& help_of(const std::vector<std::string>& path)
{
    static std::map<std::vector<std::string>, std::string> cache;
    auto found = cache.find(path);
    if (found != cache.end()) return found->second;
    std::vector<std::string> argv{reconcile_binary()};
    argv.insert(argv.end(), path.begin(), path.end());
    argv.emplace_back("--help");
    const auto result = run_process(argv);
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    return cache.emplace(path, result.out).first->second;
}

std::set<std::string> subcommands_of(const std::string& help)
{
    std::set<std::string> names;
    std::istringstream in(help);
    bool listing = false;
    for (std::string line; std::getline(in, line);) {
        if (line == "Subcommands:" || line == "SUBCOMMANDS:") {
            listing = true;
        } else if (listing && line.rfind("  ", 0) == 0) {
            names.insert(split_words(line).front());
        } else if (listing) {
            listing = false;
        }
    }
    return names;
}

/// Whether `name` is a command under `path`: listed in its help, or a hidden one whose own help
/// says so in its usage line (an unknown word gets the parent's help instead).
bool is_command(const std::vector<std::string>& path, const std::string& name)
{
    if (subcommands_of(help_of(path)).count(name) == 1) return true;
    auto full = path;
    full.push_back(name);
    std::string usage = "Usage: reconcile";
    for (const auto& word : full) usage += " " + word;
    const std::string& help = help_of(full);
    const auto at = help.find(usage);
    return at != std::string::npos &&
           (at + usage.size() == help.size() || help[at + usage.size()] == ' ' || help[at + usage.size()] == '\n');
}

bool help_names_option(const std::string& help, const std::string& option)
{
    return std::regex_search(help, std::regex("(^|[\\s,])" + option + "([\\s,=]|$)"));
}

/// Whether the help shows `option` with a value (`--book TEXT`, `-o,--output text|json`), not as a
/// flag (`--open Excludes: ...`, or only spaces before its description).
bool help_says_option_takes_value(const std::string& help, const std::string& option)
{
    std::smatch match;
    if (!std::regex_search(help, match, std::regex("(^|[\\s,])" + option + "(,--?[\\w-]+)* ([^ \\n]+)"))) return false;
    return match[3] != "Excludes:" && match[3] != "Needs:";
}

/// What checking an example found: the command path it names, and what is wrong with it.
struct Parsed {
    std::vector<std::string> path;
    std::vector<std::string> problems;
};

/// Walks an example's words: the command path it names (each word a subcommand of the one
/// before; for a|b alternatives each must be one, the first is followed) and every option it
/// uses, which must be in the help of that path or of the top level (global options).
Parsed parse_example(const Example& example)
{
    Parsed parsed;
    bool path_done = false;
    for (std::size_t i = 0; i < example.args.size(); ++i) {
        std::string word = example.args[i];
        if (example.synopsis) {
            for (const char* mark : {"[", "]", "(", ")", "..."}) word = replace_all(word, mark, "");
        }
        if (word.empty()) continue;
        if (word[0] == '-') {
            for (std::size_t at = 0; at < word.size();) {
                const auto bar = std::min(word.find('|', at), word.size());
                std::string option = word.substr(at, bar - at);
                option = option.substr(0, option.find('='));  // --name=value
                at = bar + 1;
                if (option.empty() || option[0] != '-') continue;
                if (!help_names_option(help_of(parsed.path), option) && !help_names_option(help_of({}), option)) {
                    parsed.problems.push_back("unknown option " + option);
                }
            }
            if (word == "--config" && parsed.path.empty()) {
                ++i;  // its value is not a command
            } else if (word.find_first_of("=|") == std::string::npos &&
                       help_says_option_takes_value(help_of(parsed.path), word)) {
                ++i;  // nor is any other option's value, where the command also has subcommands
            }
            continue;
        }
        if (path_done) continue;
        const auto names = subcommands_of(help_of(parsed.path));
        if (names.empty()) {
            path_done = true;
            continue;
        }
        std::vector<std::string> alternatives;
        for (std::size_t at = 0; at <= word.size();) {
            const auto bar = std::min(word.find('|', at), word.size());
            alternatives.push_back(word.substr(at, bar - at));
            at = bar + 1;
        }
        for (const auto& name : alternatives) {
            if (!is_command(parsed.path, name)) parsed.problems.push_back("unknown command " + name);
        }
        if (!is_command(parsed.path, alternatives.front())) break;
        parsed.path.push_back(alternatives.front());
    }
    const bool asks_for_help = std::find(example.args.begin(), example.args.end(), "--help") != example.args.end();
    if (parsed.path.empty() && !asks_for_help) parsed.problems.emplace_back("names no command");
    return parsed;
}

/// A sample value for a placeholder the docs write in capitals (`--book B`, `RUN_ID`, ...);
/// B is a placeholder only as a book, since `--category B` is a real value.
std::string sample_value(const std::string& previous, const std::string& word)
{
    static const std::map<std::string, std::string> samples{
        {"RUN_ID", "17"},
        {"TXN_ID", "900001"},
        {"ID", "IN-C012"},
        {"NAME", "trial_balance_zero"},
        {"S", "bank"},
        {"X", "DEP-IN-1"},
        {"FILE", "/nonexistent/reconcile.env"},
    };
    if (previous == "--book" && word == "B") return "uae";
    const auto found = samples.find(word);
    return found == samples.end() ? replace_all(word, "%i", "india") : found->second;
}

/// The environment an example runs in: both books on a port where nothing listens, and none of
/// the settings of the machine running the tests.
ProcessOptions offline_environment()
{
    ProcessOptions options;
    options.unset_env = {"RECON_CONFIG", "RECON_DATABASE_URL_UAE", "RECON_DATABASE_URL_INDIA",
                         "RECON_READ_DATABASE_URL_UAE", "RECON_READ_DATABASE_URL_INDIA"};
    for (const auto& doc : setting_docs()) options.unset_env.emplace_back(doc.name);
    options.env = {{"RECON_BOOKS", "uae,india"},
                   {"RECON_DATABASE_URL_UAE", "postgresql://127.0.0.1:1/uae"},
                   {"RECON_DATABASE_URL_INDIA", "postgresql://127.0.0.1:1/india"},
                   {"PGCONNECT_TIMEOUT", "2"}};
    options.timeout = std::chrono::seconds(30);
    return options;
}

/// Runs a concrete example for real (placeholders filled in, no database reachable) and says
/// what is wrong when the binary did not understand it: 64 is a bad command line; anything else
/// (69: no database here, 78: no config file) means it was understood. serve would listen until
/// stopped: it is parsed up to --help, which still checks every value given (CLI11 validates
/// before it answers --help).
std::optional<std::string> run_problem(const Example& example, const std::vector<std::string>& path)
{
    std::vector<std::string> argv{reconcile_binary()};
    for (std::size_t i = 0; i < example.args.size(); ++i) {
        argv.push_back(sample_value(i == 0 ? "" : example.args[i - 1], example.args[i]));
    }
    const bool serve = path.front() == "serve";
    if (serve) argv.emplace_back("--help");
    const auto result = run_process(argv, offline_environment());
    if (result.timed_out || result.term_signal != 0) return "did not finish: " + result.err;
    if (result.exit_code == 64) return "exit 64: " + result.err;
    if (serve && result.exit_code != 0)
        return "serve --help exit " + std::to_string(result.exit_code) + ": " + result.err;
    return std::nullopt;
}

/// The lines of the generated cron file that run something, whitespace collapsed.
std::vector<std::string> packaged_cron_lines()
{
    std::vector<std::string> lines;
    std::istringstream in(read_text_file(build_root / "packaging/reconcile.cron"));
    for (std::string line; std::getline(in, line);) {
        const auto words = split_words(line);
        if (words.size() < 7 || line[0] == '#' || line.find('=') < line.find(' ')) continue;
        std::string joined;
        for (const auto& word : words) joined += (joined.empty() ? "" : " ") + word;
        lines.push_back(joined);
    }
    return lines;
}

}  // namespace

TEST_CASE("the shell splitter reads the docs' command lines as a shell would")
{
    const auto commands = simple_commands(
        R"x(reconcile run --book uae --category B; reconcile variances --open --output json | jq -r '.[] | "\(.state)"' > out 2>&1  # note)x");
    REQUIRE(commands.size() == 3);
    CHECK(commands[0] == std::vector<std::string>{"reconcile", "run", "--book", "uae", "--category", "B"});
    CHECK(commands[1] == std::vector<std::string>{"reconcile", "variances", "--open", "--output", "json"});
    CHECK(commands[2] == std::vector<std::string>{"jq", "-r", R"x(.[] | "\(.state)")x"});
}

TEST_CASE("every reconcile example in the docs names real commands and options, and parses")
{
    std::size_t synopses = 0;
    std::size_t run = 0;
    std::set<std::string> documents;
    for (const auto& example : documented_examples()) {
        CAPTURE(example.where);
        CAPTURE(example.text);
        documents.insert(example.where.substr(0, example.where.find(':')));
        const auto parsed = parse_example(example);
        CHECK(parsed.problems == std::vector<std::string>{});
        if (parsed.path.empty()) continue;
        if (example.synopsis) {
            ++synopses;
            continue;
        }
        CHECK(run_problem(example, parsed.path) == std::nullopt);
        ++run;
    }
    // Not vacuous: the README's synopsis and examples, the runbook's and the deployment's.
    CHECK(synopses >= 10);
    CHECK(run >= 15);
    CHECK(documents.count("README.md") == 1);
    CHECK(documents.count("docs/operations.md") == 1);
    CHECK(documents.count("docs/deployment.md") == 1);
}

TEST_CASE("an example that stopped working is caught: an unknown command, option or value")
{
    const auto problems = [](std::vector<std::string> args, bool synopsis = false) {
        return parse_example({"test", "", std::move(args), synopsis}).problems;
    };
    CHECK(problems({"runs", "list", "--limit", "5"}).empty());
    CHECK(problems({"--config", "/etc/reconcile/reconcile.env", "--quiet", "tick"}).empty());
    CHECK(problems({"india", "ledger-recon|holdings-recon|reconciliation", "[--customer", "ID]"}, true).empty());
    CHECK(problems({"help-man"}).empty());  // hidden, but a command
    CHECK(problems({"--help"}).empty());
    CHECK(problems({"hlep"}) == std::vector<std::string>{"unknown command hlep", "names no command"});
    CHECK(problems({"runs", "lsit"}) == std::vector<std::string>{"unknown command lsit"});
    CHECK(problems({"run", "--book", "uae", "--bogus"}) == std::vector<std::string>{"unknown option --bogus"});
    CHECK(problems({"india", "ledger-recon|holdings", "[--customer", "ID]"}, true) ==
          std::vector<std::string>{"unknown command holdings"});

    const Example bad_value{"test", "", {"run", "--book", "uae", "--category", "A", "--output", "yaml"}, false};
    const auto problem = run_problem(bad_value, {"run"});
    REQUIRE(problem.has_value());
    CHECK(problem->rfind("exit 64: ", 0) == 0);
    const Example fine{"test", "", {"run", "--book", "B", "--category", "A", "--check", "NAME"}, false};
    CHECK(run_problem(fine, {"run"}) == std::nullopt);
}

TEST_CASE("the docs' cron lines are lines of the packaged cron file")
{
    const auto packaged = packaged_cron_lines();
    REQUIRE(packaged.size() == 8);
    const std::regex cron_line(R"(^([0-9*/,-]+\s+){5}\S+\s+\S.*$)");
    std::size_t found = 0;
    for (const auto& document : project_documents()) {
        for (const auto& line : shell_code_lines(read_text_file(source_root / document))) {
            if (!std::regex_match(line.text, cron_line)) continue;
            CAPTURE(document.string() + ":" + std::to_string(line.number));
            CAPTURE(line.text);
            ++found;
            std::string joined;
            for (const auto& word : split_words(line.text)) joined += (joined.empty() ? "" : " ") + word;
            joined = replace_all(replace_all(joined, "/usr/bin/reconcile", RECON_INSTALLED_BINARY),
                                 "/etc/reconcile/reconcile.env", RECON_ENV_FILE);
            CHECK(std::find(packaged.begin(), packaged.end(), joined) != packaged.end());
        }
    }
    CHECK(found >= 4);
}

TEST_CASE("the packaged cron file runs every book and category at its timer's time, in the same zone")
{
    std::set<std::string> slots;
    for (const auto& line : packaged_cron_lines()) {
        CAPTURE(line);
        const auto words = split_words(line);
        std::smatch match;
        REQUIRE(std::regex_search(line, match, std::regex(R"(--book (\S+) --category ([A-D]) )")));
        const std::string book = match[1];
        const std::string category = match[2];
        slots.insert(book + "/" + category);
        const std::string timer =
            read_text_file(build_root / "packaging/systemd" / ("reconcile-" + category + "@.timer"));
        std::smatch calendar;
        REQUIRE(
            std::regex_search(timer, calendar, std::regex(R"(\nOnCalendar=\*-\*-\* (\*|[0-9]{2}):([0-9]{2}):00\n)")));
        CHECK(words[0] == std::to_string(std::stoi(calendar[2])));
        CHECK(words[1] == (calendar[1] == "*" ? std::string("*") : std::to_string(std::stoi(calendar[1]))));
        CHECK(words[2] + words[3] + words[4] == "***");
    }
    CHECK(slots ==
          std::set<std::string>{"uae/A", "uae/B", "uae/C", "uae/D", "india/A", "india/B", "india/C", "india/D"});
}

TEST_CASE("the man page refers only to sections it has, and never to the README")
{
    const auto man = run_process({reconcile_binary(), "help-man"});
    REQUIRE(man.exit_code == 0);
    std::set<std::string> sections;
    const std::regex section(R"x(\n\.SH "?([^"\n]+)"?\n)x");
    for (std::sregex_iterator it(man.out.begin(), man.out.end(), section), end; it != end; ++it) {
        std::string name = (*it)[1];
        for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        sections.insert(name);
    }
    REQUIRE(sections.count("EXIT STATUS") == 1);
    std::size_t references = 0;
    const std::regex see(R"(\(see ([A-Z][A-Za-z]*( [A-Z][A-Za-z]*)*)\))");
    for (std::sregex_iterator it(man.out.begin(), man.out.end(), see), end; it != end; ++it) {
        std::string name = (*it)[1];
        CAPTURE(name);
        for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        CHECK(sections.count(name) == 1);
        ++references;
    }
    CHECK(references >= 1);  // "(see EXIT STATUS)" at least
    CHECK(man.out.find("README") == std::string::npos);
}
