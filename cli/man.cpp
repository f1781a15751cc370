// `reconcile help-man` (hidden): the manual page, generated from the same CLI11 tree that
// prints --help plus the exit-code and settings tables the code itself uses, so the man page
// cannot drift from the binary. CMake runs it at build time to produce reconcile.1.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.hpp"
#include "lib/config.hpp"
#include "lib/errors.hpp"

// RECON_ENV_FILE, RECON_UNIT_DIR, RECON_SCHEMA_DIR and RECON_EXAMPLES_DIR come from
// cmake/install_paths.cmake, the same variables the units and install rules use.

namespace reconcile {
namespace {

/// Escapes text for roff: backslashes, non-ASCII characters, and a leading '.' or '\'' that
/// would start a request.
/// Markdown `code` spans (used in the shared tables) become bold.
std::string roff(std::string_view text)
{
    std::string out;
    bool in_code = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0xC0 && byte < 0xF0 && i + (byte >= 0xE0 ? 2 : 1) < text.size()) {
            // UTF-8 (two or three bytes): troff wants ASCII, so name the code point (\[u2014]).
            const std::size_t extra = byte >= 0xE0 ? 2 : 1;
            unsigned code = byte & (extra == 2 ? 0x0Fu : 0x1Fu);
            for (std::size_t k = 1; k <= extra; ++k) {
                code = (code << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3Fu);
            }
            out += fmt::format("\\[u{:04X}]", code);
            i += extra;
        } else if (c == '\\') {
            out += "\\e";
        } else if (c == '`') {
            out += in_code ? "\\fR" : "\\fB";
            in_code = !in_code;
        } else {
            out.push_back(c);
        }
    }
    if (in_code) out += "\\fR";
    if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
    return out;
}

/// An option name or other literal where every '-' must stay a minus sign.
std::string roff_literal(std::string_view text)
{
    std::string out;
    for (const char c : roff(text)) {
        if (c == '-') {
            out += "\\-";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

bool hidden(const CLI::App& command)
{
    return command.get_group().empty();
}

bool is_help(const CLI::Option& option)
{
    const auto& names = option.get_lnames();
    return std::find(names.begin(), names.end(), "help") != names.end();
}

/// The value's placeholder: the option's own text (text|json) or CLI11's type name (TEXT, INT).
std::string metavar(const CLI::Option& option, bool brief)
{
    if (!option.get_option_text().empty()) return option.get_option_text();
    const std::string type = option.get_type_name();
    return brief ? type.substr(0, type.find(':')) : type;
}

/// "\fB\-b\fR, \fB\-\-book\fR \fITEXT\fR" for an option, "\fIrun_id\fR" for a positional.
std::string option_heading(const CLI::Option& option)
{
    if (!option.nonpositional()) return fmt::format("\\fI{}\\fR", roff(option.get_name()));
    std::string heading;
    for (const auto& name : option.get_snames()) {
        heading += fmt::format("{}\\fB\\-{}\\fR", heading.empty() ? "" : ", ", roff_literal(name));
    }
    for (const auto& name : option.get_lnames()) {
        heading += fmt::format("{}\\fB\\-\\-{}\\fR", heading.empty() ? "" : ", ", roff_literal(name));
    }
    if (option.get_items_expected_max() > 0) heading += fmt::format(" \\fI{}\\fR", roff(metavar(option, false)));
    return heading;
}

std::string option_entry(const CLI::Option& option)
{
    std::string notes;
    if (option.get_required()) notes += " Required.";
    if (!option.get_envname().empty()) notes += fmt::format(" Also from \\fB{}\\fR.", roff(option.get_envname()));
    std::string description = roff(option.get_description());
    if (!description.empty() && description.back() != '.') description += '.';
    return fmt::format(".TP\n{}\n{}{}\n", option_heading(option), description, notes);
}

/// "reconcile runs show [OPTIONS] run_id" for a command's synopsis line.
std::string usage_line(const CLI::App& command, const std::string& path)
{
    std::string line = fmt::format("\\fB{}\\fR", roff_literal(path));
    for (const auto* option : command.get_options()) {
        if (is_help(*option)) continue;
        if (!option->nonpositional()) {
            line += fmt::format(" \\fI{}\\fR", roff(option->get_name()));
            continue;
        }
        const std::string name =
            option->get_lnames().empty() ? "-" + option->get_snames().front() : "--" + option->get_lnames().front();
        std::string item = fmt::format("\\fB{}\\fR", roff_literal(name));
        if (option->get_items_expected_max() > 0) item += fmt::format(" \\fI{}\\fR", roff(metavar(*option, true)));
        line += option->get_required() ? " " + item : " [" + item + "]";
        if (option->get_items_expected_max() > 1) line += "...";
    }
    if (!command.get_subcommands([](const CLI::App* sub) { return !hidden(*sub); }).empty()) {
        line += " \\fICOMMAND\\fR";
    }
    return line;
}

/// One `.SS` per command, depth first, so nested commands (runs list) get their own entry.
void render_command(const CLI::App& command, const std::string& path, std::string& out)
{
    out += fmt::format(".SS \"{}\"\n{}\n.PP\n{}\n", roff(path), roff(command.get_description()),
                       usage_line(command, path));
    for (const auto* option : command.get_options()) {
        if (!is_help(*option)) out += option_entry(*option);
    }
    for (const auto* sub : command.get_subcommands([](const CLI::App* sub) { return !hidden(*sub); })) {
        render_command(*sub, path + " " + sub->get_name(), out);
    }
}

}  // namespace

CLI::App* setup_help_man(CLI::App& app)
{
    // An empty group hides the command from --help: the man page is for packaging.
    return app.add_subcommand("help-man", "Print the manual page (roff) and exit")->group("");
}

std::string render_man_page(const CLI::App& app)
{
    std::string out;
    out += fmt::format(".TH RECONCILE 1 \"\" \"reconcile {}\" \"User Commands\"\n", RECON_VERSION);
    std::string summary = app.get_description();
    if (summary.rfind("reconcile: ", 0) == 0) summary.erase(0, 11);
    out += fmt::format(".SH NAME\nreconcile \\- {}\n", roff(summary));
    out += ".SH SYNOPSIS\n.B reconcile\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n";
    out +=
        ".SH DESCRIPTION\n"
        "\\fBreconcile\\fR proves a double-entry ledger kept in PostgreSQL, one database per book "
        "(legal entity), against itself and against the brokers that hold the money. "
        "Checks come in four categories: A internal integrity, B derivation, C external (live "
        "brokers), D lifecycle. One run is one category of one book, guarded by a PostgreSQL "
        "advisory lock; it writes a run row to the book's database, prints text for people or "
        "JSON for pipelines, and exits with a code cron and systemd can act on (see EXIT STATUS).\n"
        ".PP\n"
        "Log lines go to standard error, one line each: \\fBreconcile: \\fIlevel\\fB: \\fImessage\\fR; "
        "results go to standard output only. When standard error is a terminal, \\fBrun\\fR and "
        "\\fBindia\\fR show category C's progress there, one line per check rewritten in place "
        "(\\fIcheck\\fB: \\fIdone\\fB/\\fItotal\\fB customers\\fR); never with "
        "\\fB\\-\\-quiet\\fR, never when standard error is not a terminal.\n";

    out +=
        ".SH GLOBAL OPTIONS\nThese may stand before or after the command: \\fBreconcile \\-q run\\fR ... and "
        "\\fBreconcile run\\fR ... \\fB\\-q\\fR are the same. Every command also accepts "
        "\\fB\\-h\\fR, \\fB\\-\\-help\\fR.\n";
    for (const auto* option : app.get_options()) out += option_entry(*option);

    out += ".SH COMMANDS\n";
    for (const auto* sub : app.get_subcommands([](const CLI::App* sub) { return !hidden(*sub); })) {
        render_command(*sub, "reconcile " + sub->get_name(), out);
    }

    out += ".SH EXIT STATUS\nOne table for every command. When checks both fail and error, 1 wins.\n";
    for (const auto& doc : exit_code_docs()) {
        out += fmt::format(".TP\n.B {}\n{}\n", to_int(doc.code), roff(doc.meaning));
    }

    out +=
        ".SH ENVIRONMENT\n"
        "Settings are environment variables, optionally read from an env-file (\\fB\\-\\-config\\fR or "
        "\\fBRECON_CONFIG\\fR; \\fIKEY\\fR=\\fIVALUE\\fR lines and # comments, the format of systemd's "
        "\\fBEnvironmentFile=\\fR). The process environment wins over the file. Any setting can instead "
        "be given as \\fINAME\\fB_FILE\\fR=\\fIpath\\fR (the file's content, trailing newline removed): "
        "use that for secrets. \\fI<BOOK>\\fR is a book name in upper case. A bad value exits 78.\n";
    for (const auto& doc : setting_docs()) {
        out += fmt::format(".TP\n.B {}\n{}. Default: {}.\n", roff_literal(doc.name), roff(doc.effect),
                           roff(doc.default_value));
    }

    out += fmt::format(
        ".SH FILES\n"
        ".TP\n.I {0}\n"
        "The settings the packaged systemd units read (\\fBEnvironmentFile=\\fR); pass it with "
        "\\fB\\-\\-config\\fR when running by hand or from cron.\n"
        ".TP\n.I {1}/reconcile\\-A@.timer\n"
        "Hourly timers for categories A, B and D and a daily timer for C, instantiated per book "
        "(\\fBsystemctl enable \\-\\-now reconcile\\-A@uae.timer\\fR); exit 11 counts as success.\n"
        ".TP\n.I {1}/reconcile\\-serve.service\n"
        "Runs \\fBreconcile serve\\fR.\n"
        ".TP\n.I {2}/reconcile.cron\n"
        "The same schedule as a cron.d file.\n"
        ".TP\n.I {3}\n"
        "The JSON Schemas of the output (\\fBrun\\-output.schema.json\\fR) and the SQL migrations "
        "(compiled into the binary; for reading).\n",
        roff_literal(RECON_ENV_FILE), roff_literal(RECON_UNIT_DIR), roff_literal(RECON_EXAMPLES_DIR),
        roff_literal(RECON_SCHEMA_DIR));

    out += fmt::format(".SH EXAMPLES\n.nf\nreconcile \\-\\-config {} run \\-\\-book india \\-\\-category C\n",
                       roff_literal(RECON_ENV_FILE));
    out +=
        "reconcile run \\-\\-book uae \\-\\-category A \\-\\-output json | jq '.checks[].variances[]'\n"
        "reconcile runs list \\-\\-book uae \\-\\-status fail\n"
        "reconcile trace \\-\\-book uae \\-\\-txn 900001\n"
        ".fi\n"
        ".SH SEE ALSO\n"
        ".BR systemd.timer (5),\n"
        ".BR systemd.exec (5),\n"
        ".BR crontab (5),\n"
        ".BR psql (1)\n";
    return out;
}

}  // namespace reconcile
