#include "lib/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/asio/ip/address.hpp>

#include "lib/errors.hpp"
#include "lib/log.hpp"
#include "lib/output.hpp"
#include "lib/text.hpp"

extern char** environ;

namespace reconcile {
namespace {

std::string_view trim(std::string_view text)
{
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return text;
}

bool valid_key(std::string_view key)
{
    if (key.empty() || std::isdigit(static_cast<unsigned char>(key.front()))) return false;
    return std::all_of(key.begin(), key.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Error config_error(std::string message)
{
    return Error(ExitCode::config, std::move(message));
}

/// RECON_DATABASE_URL_<BOOK> for book "uae": RECON_DATABASE_URL_UAE.
std::string per_book_name(std::string_view pattern, const std::string& book)
{
    return std::string(pattern.substr(0, pattern.find("<BOOK>"))) + upper(book);
}

std::string replace_all(std::string text, std::string_view from, std::string_view to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

/// `text` as `# ` comment lines of at most `width` characters, broken between words.
std::string wrap_comment(std::string_view text, std::size_t width)
{
    std::string out;
    std::string line = "#";
    while (!text.empty()) {
        const auto space = text.find(' ');
        const std::string_view word = text.substr(0, space);
        text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
        if (line.size() > 1 && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line = "#";
        }
        line += " ";
        line += word;
    }
    return out + line + "\n";
}

/// What a path is, in the user's terms, when it is not a regular file.
std::string_view file_kind(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

/// Closes the descriptor it holds.
struct FileDescriptor {
    explicit FileDescriptor(int descriptor) : fd(descriptor) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor()
    {
        if (fd >= 0) ::close(fd);
    }
    int fd;
};

/// The content of a regular file of at most `max_bytes`. Opened without blocking (a FIFO with no
/// writer must not hang) and refused unless regular (a device must not be read without end).
/// `what` names the setting or option in every message.
std::string read_regular_file(const std::string& path, std::size_t max_bytes, const std::string& what)
{
    const FileDescriptor file{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
    const int fd = file.fd;
    if (fd < 0) {
        throw config_error(fmt::format("{}: cannot read {}: {}", what, path, std::strerror(errno)));
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        throw config_error(fmt::format("{}: cannot read {}: {}", what, path, std::strerror(errno)));
    }
    if (!S_ISREG(info.st_mode)) {
        throw config_error(fmt::format("{}: {} is {}, not a file", what, path, file_kind(info.st_mode)));
    }
    std::string content;
    char buffer[8192];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw config_error(fmt::format("{}: cannot read {}: {}", what, path, std::strerror(errno)));
        if (got == 0) break;
        content.append(buffer, static_cast<std::size_t>(got));
        if (content.size() > max_bytes) {
            throw config_error(
                fmt::format("{}: {} is larger than {} bytes; is it the right file?", what, path, max_bytes));
        }
    }
    return content;
}

constexpr std::size_t max_env_file_bytes = 1 << 20;
constexpr std::size_t max_secret_bytes = 64 << 10;

std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                              std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

/// Every name a file or the environment may set, for the books configured.
std::vector<std::string> known_setting_names(const std::vector<std::string>& books);

}  // namespace

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates)
{
    const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
    std::optional<std::string> best;
    std::size_t best_distance = limit + 1;
    for (const auto& candidate : candidates) {
        const std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

const std::vector<SettingDoc>& setting_docs()
{
    static const std::vector<SettingDoc> docs = [] {
        std::vector<SettingDoc> rows;
        for (const auto& spec : setting_table()) {
            rows.push_back({spec.name, *spec.default_value != '\0' ? spec.default_value : spec.absent, spec.doc});
        }
        return rows;
    }();
    return docs;
}

EnvMap parse_env_file(std::string_view text, std::string_view origin)
{
    EnvMap result;
    // Windows editors save UTF-8 with a byte-order mark; it is not part of the first name.
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    std::size_t line_no = 0;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        ++line_no;
        if (line.find('\0') != std::string_view::npos) {
            throw config_error(fmt::format("{}:{}: contains a NUL byte; is it a text file?", origin, line_no));
        }
        line = trim(line);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            throw config_error(fmt::format("{}:{}: expected KEY=VALUE", origin, line_no));
        }
        const std::string key{trim(line.substr(0, eq))};
        if (!valid_key(key)) {
            throw config_error(fmt::format("{}:{}: invalid setting name '{}'", origin, line_no, printable(key)));
        }
        std::string_view value = trim(line.substr(eq + 1));
        if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
            const char quote = value.front();
            if (value.size() < 2 || value.back() != quote) {
                throw config_error(fmt::format("{}:{}: unterminated quote in {}", origin, line_no, key));
            }
            value = value.substr(1, value.size() - 2);
        }
        result[key] = std::string(value);
    }
    return result;
}

EnvMap read_env_file(const std::string& path)
{
    return parse_env_file(read_regular_file(path, max_env_file_bytes, "--config"), path);
}

EnvMap process_environment()
{
    EnvMap result;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view item(*entry);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) continue;
        result.emplace(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
    return result;
}

EnvMap merge_env(const EnvMap& file, const EnvMap& process)
{
    EnvMap merged = file;
    for (const auto& [key, value] : process) merged[key] = value;
    return merged;
}

std::optional<std::string> lookup_setting(const EnvMap& env, const std::string& name)
{
    const auto direct = env.find(name);
    const auto via_file = env.find(name + "_FILE");
    const bool has_direct = direct != env.end() && !direct->second.empty();
    const bool has_file = via_file != env.end() && !via_file->second.empty();
    if (has_direct && has_file) {
        throw config_error(fmt::format("both {0} and {0}_FILE are set; use one", name));
    }
    if (has_direct) return direct->second;
    if (!has_file) return std::nullopt;
    std::string value = read_regular_file(via_file->second, max_secret_bytes, name + "_FILE");
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) throw config_error(fmt::format("{}_FILE: the file {} is empty", name, via_file->second));
    return value;
}

std::int64_t parse_int_setting(const std::string& name, const std::string& value, std::int64_t min, std::int64_t max)
{
    std::int64_t parsed = 0;
    const auto* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
    if (ec != std::errc{} || ptr != end || value.empty()) {
        throw config_error(fmt::format("{}: expected a whole number, got '{}'", name, value));
    }
    if (parsed < min || parsed > max) {
        throw config_error(fmt::format("{}: {} is out of range [{}, {}]", name, parsed, min, max));
    }
    return parsed;
}

bool parse_bool_setting(const std::string& name, const std::string& value)
{
    std::string lowered = value;
    for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lowered == "true" || lowered == "1" || lowered == "yes" || lowered == "on") return true;
    if (lowered == "false" || lowered == "0" || lowered == "no" || lowered == "off") return false;
    throw config_error(fmt::format("{}: expected true or false, got '{}'", name, value));
}

const std::string& Settings::database_url(const std::string& book) const
{
    const auto found = database_urls.find(book);
    if (found == database_urls.end()) {
        throw config_error(
            fmt::format("no database configured for book '{}': set RECON_DATABASE_URL_{}", book, upper(book)));
    }
    return found->second;
}

const std::string& Settings::read_database_url(const std::string& book) const
{
    const auto found = read_database_urls.find(book);
    return found == read_database_urls.end() ? database_url(book) : found->second;
}

void Settings::require_book(const std::string& book) const
{
    if (std::find(books.begin(), books.end(), book) == books.end()) {
        throw Error(ExitCode::usage,
                    fmt::format("unknown book '{}' (RECON_BOOKS is {})", printable(book), fmt::join(books, ",")));
    }
}

Settings load_settings(const EnvMap& env)
{
    Settings s;
    s.raw = env;
    const std::string no_book;
    for (const auto& spec : setting_table()) {
        if (spec.per_book()) {
            for (const auto& book : s.books) {
                const std::string name = per_book_name(spec.name, book);
                if (auto value = lookup_setting(env, name)) spec.store(s, {name, *value, book});
            }
            continue;
        }
        const std::string name = spec.name;
        auto value = lookup_setting(env, name);
        if (!value && *spec.default_value != '\0') value = spec.default_value;
        if (value) spec.store(s, {name, *value, no_book});
    }

    // Rules between settings.
    if (s.pending_fail_hours < s.pending_warn_hours) {
        throw config_error(fmt::format("RECON_PENDING_FAIL_HOURS ({}) is below RECON_PENDING_WARN_HOURS ({})",
                                       s.pending_fail_hours, s.pending_warn_hours));
    }
    if (s.quantity_dust_tolerance < s.quantity_match_tolerance) {
        throw config_error("RECON_QUANTITY_DUST_TOLERANCE is below RECON_QUANTITY_TOLERANCE");
    }
    if (s.brokers.backoff_max_ms < s.brokers.backoff_ms) {
        throw config_error("RECON_BROKER_BACKOFF_MAX_MS is below RECON_BROKER_BACKOFF_MS");
    }
    return s;
}

namespace {

std::vector<std::string> known_setting_names(const std::vector<std::string>& books)
{
    std::vector<std::string> names;
    for (const auto& spec : setting_table()) {
        if (spec.per_book()) {
            for (const auto& book : books) names.push_back(per_book_name(spec.name, book));
        } else {
            names.emplace_back(spec.name);
        }
    }
    const std::size_t plain = names.size();
    for (std::size_t i = 0; i < plain; ++i) names.push_back(names[i] + "_FILE");
    names.emplace_back("RECON_CONFIG");
    return names;
}

}  // namespace

Settings load_settings_from(const std::optional<std::string>& config_path)
{
    const EnvMap file = config_path ? read_env_file(*config_path) : EnvMap{};
    const EnvMap process = process_environment();
    Settings settings = load_settings(merge_env(file, process));
    const std::vector<std::string> known = known_setting_names(settings.books);
    const auto is_known = [&known](const std::string& key) {
        return std::find(known.begin(), known.end(), key) != known.end();
    };
    const auto nearest = [&known](const std::string& key) {
        const auto match = closest_match(key, known);
        return match ? fmt::format("; did you mean {}?", *match) : std::string{};
    };
    for (const auto& [key, value] : file) {
        if (!is_known(key)) {
            throw config_error(fmt::format("{}: unknown setting {}{}", *config_path, printable(key), nearest(key)));
        }
    }
    // The environment carries everyone's variables; only our prefix can be a misspelt setting.
    // RECON_TEST_* and RECON_FAULT_* belong to the test harness and fault injection.
    for (const auto& [key, value] : process) {
        if (key.rfind("RECON_", 0) != 0 || key.rfind("RECON_TEST_", 0) == 0 || key.rfind("RECON_FAULT_", 0) == 0 ||
            is_known(key)) {
            continue;
        }
        log_warn("the environment variable {} is not a setting and is ignored{}", printable(key), nearest(key));
    }
    return settings;
}

std::string env_example()
{
    static const std::map<SettingGroup, const char*> headings{
        {SettingGroup::books, "Books and databases"},
        {SettingGroup::schedule, "Schedule (reconcile tick, run --if-due and serve's scheduler)"},
        {SettingGroup::alerts, "Alerts and variance history"},
        {SettingGroup::tolerances, "Tolerances and limits (exact decimals)"},
        {SettingGroup::brokers, "Brokers (category C and the India reports; docs/brokers.md)"},
        {SettingGroup::serve, "serve (reconcile serve; docs/http-api.md)"},
    };
    std::string out =
        "# /etc/reconcile/reconcile.env: the settings of reconcile, shared by the systemd units\n"
        "# (EnvironmentFile=), the cron example (--config) and `reconcile serve`.\n"
        "#\n"
        "# Format: KEY=VALUE lines, # comments; the format systemd's EnvironmentFile= reads.\n"
        "# Every setting is listed with its default, commented out: uncomment what you change.\n"
        "# The process environment wins over this file. Any setting can instead be given as\n"
        "# NAME_FILE=/path (the file's content, trailing newline removed): use that for secrets, which\n"
        "# then never appear in argv, logs or run rows. Keep this file mode 0640 root:reconcile.\n"
        "# A bad value, or a name that is no setting, makes every command exit 78 with one line naming it.\n"
        "# Reference: man reconcile (ENVIRONMENT), docs/settings.md.\n"
        "# Generated from the setting table (lib/setting_table.cpp): reconcile help-env\n";
    std::optional<SettingGroup> group;
    for (const auto& spec : setting_table()) {
        if (spec.group != group) {
            group = spec.group;
            const std::string heading = fmt::format("\n# --- {} ", headings.at(spec.group));
            out += heading + std::string(heading.size() < 100 ? 100 - heading.size() : 0, '-') + "\n";
        }
        const bool has_default = *spec.default_value != '\0';
        std::string doc = spec.doc;
        doc.erase(std::remove(doc.begin(), doc.end(), '`'), doc.end());
        std::string comment = spec.per_book() ? fmt::format("{}: {}", spec.name, doc) : doc;
        if (has_default) {
            comment += ".";
        } else {
            comment +=
                std::string_view(spec.absent) == "—" ? " (no default)." : fmt::format(" (default: {}).", spec.absent);
        }
        out += wrap_comment(comment, 98);
        std::string name = spec.name;
        std::string value = *spec.example != '\0' ? spec.example : spec.default_value;
        if (spec.per_book()) {
            name = per_book_name(spec.name, "uae");
            value = replace_all(value, "<book>", "uae");
        }
        out += spec.secret ? fmt::format("#{}_FILE={}\n", name, value) : fmt::format("#{}={}\n", name, value);
    }
    return out;
}

bool is_bind_address(std::string_view address)
{
    if (address == "localhost") return true;
    boost::system::error_code error;
    boost::asio::ip::make_address(std::string(address), error);
    return !error;
}

}  // namespace reconcile
