#pragma once

// Reading the project's Markdown documents in tests: which documents there are, their code
// blocks (the examples a reader copies), their prose (where links live), their headings' anchors
// and their tables.

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reconcile::test {

/// The whole content of a file (REQUIREs that it can be read).
std::string read_text_file(const std::filesystem::path& path);

/// README.md, ARCHITECTURE.md and every Markdown file under docs/, as paths relative to the
/// source tree, in a stable order.
std::vector<std::filesystem::path> project_documents();

/// A line of a Markdown document, with its 1-based number.
struct DocLine {
    int number = 0;
    std::string text;
};

/// The lines of the shell code blocks: indented (4 spaces) blocks, and fenced blocks without a
/// language or marked sh, bash, shell or console. A line ending in a backslash is joined with the
/// next one. Lines are returned without their indentation.
std::vector<DocLine> shell_code_lines(const std::string& markdown);

/// The lines outside every code block, with inline code spans removed: where links are read.
std::vector<DocLine> prose_lines(const std::string& markdown);

/// The inline code spans (`like this`) outside code blocks, with the line they are on.
std::vector<DocLine> inline_code_spans(const std::string& markdown);

/// GitHub's anchors of the document's headings: lower case, punctuation dropped (letters,
/// digits, '-', '_' and non-ASCII bytes stay), spaces made '-'; a repeated one gets -1, -2, ...
std::set<std::string> heading_anchors(const std::string& markdown);

/// The rows of the first Markdown table after the line `heading` (exactly), header row dropped,
/// cells trimmed. Empty when there is no such heading or table.
std::vector<std::vector<std::string>> table_after(const std::string& markdown, const std::string& heading);

/// The field names of docs/output-names.md (the first column of its "## Field names" table).
std::set<std::string> output_names();

/// The names an output uses that docs/output-names.md does not list: every object key of
/// `document`, recursively, except inside `metrics` and `detail` (each check's own, in
/// docs/checks.md); plus each of `extra_names` (text headers, metric labels).
std::set<std::string> unlisted_output_names(const nlohmann::json& document,
                                            const std::vector<std::string>& extra_names = {});

}  // namespace reconcile::test
