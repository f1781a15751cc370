#include "tests/support/markdown.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace reconcile::test {

namespace {

std::vector<std::string> split_lines(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string trim(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool starts_with(const std::string& text, const std::string& prefix)
{
    return text.rfind(prefix, 0) == 0;
}

/// Each line of a document with what it is: in a fenced block (and whether that is shell), in an
/// indented block, or prose. Fence lines themselves are neither.
struct Classified {
    int number = 0;
    std::string text;
    enum class Kind { prose, fence, shell_code, other_code } kind = Kind::prose;
};

std::vector<Classified> classify(const std::string& markdown)
{
    std::vector<Classified> out;
    bool in_fence = false;
    bool fence_is_shell = false;
    bool previous_blank_or_code = true;
    int number = 0;
    for (const auto& line : split_lines(markdown)) {
        ++number;
        Classified item{number, line, Classified::Kind::prose};
        if (starts_with(trim(line), "```")) {
            if (!in_fence) {
                const std::string language = trim(trim(line).substr(3));
                fence_is_shell = language.empty() || language == "sh" || language == "bash" || language == "shell" ||
                                 language == "console";
            }
            in_fence = !in_fence;
            item.kind = Classified::Kind::fence;
        } else if (in_fence) {
            item.kind = fence_is_shell ? Classified::Kind::shell_code : Classified::Kind::other_code;
        } else if (starts_with(line, "    ") && previous_blank_or_code) {
            item.kind = Classified::Kind::shell_code;
        }
        previous_blank_or_code = trim(line).empty() || item.kind == Classified::Kind::shell_code;
        out.push_back(item);
    }
    return out;
}

}  // namespace

std::string read_text_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path.string());
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

std::vector<fs::path> project_documents()
{
    const fs::path root = RECON_SOURCE_DIR;
    std::vector<fs::path> documents{"README.md", "ARCHITECTURE.md"};
    std::vector<fs::path> under_docs;
    for (const auto& entry : fs::recursive_directory_iterator(root / "docs")) {
        if (entry.is_regular_file() && entry.path().extension() == ".md") {
            under_docs.push_back(fs::relative(entry.path(), root));
        }
    }
    std::sort(under_docs.begin(), under_docs.end());
    documents.insert(documents.end(), under_docs.begin(), under_docs.end());
    return documents;
}

std::vector<DocLine> shell_code_lines(const std::string& markdown)
{
    std::vector<DocLine> out;
    bool continued = false;
    for (const auto& line : classify(markdown)) {
        if (line.kind != Classified::Kind::shell_code) {
            continued = false;
            continue;
        }
        std::string text = trim(line.text);
        if (continued) {
            out.back().text += " " + text;
        } else {
            out.push_back({line.number, text});
        }
        continued = !out.back().text.empty() && out.back().text.back() == '\\';
        if (continued) out.back().text.pop_back();
    }
    return out;
}

std::vector<DocLine> prose_lines(const std::string& markdown)
{
    std::vector<DocLine> out;
    for (const auto& line : classify(markdown)) {
        if (line.kind != Classified::Kind::prose) continue;
        std::string text;
        bool in_span = false;
        for (const char c : line.text) {
            if (c == '`') {
                in_span = !in_span;
            } else if (!in_span) {
                text += c;
            }
        }
        out.push_back({line.number, text});
    }
    return out;
}

std::vector<DocLine> inline_code_spans(const std::string& markdown)
{
    std::vector<DocLine> spans;
    for (const auto& line : classify(markdown)) {
        if (line.kind != Classified::Kind::prose) continue;
        for (auto open = line.text.find('`'); open != std::string::npos;) {
            const auto close = line.text.find('`', open + 1);
            if (close == std::string::npos) break;
            spans.push_back({line.number, line.text.substr(open + 1, close - open - 1)});
            open = line.text.find('`', close + 1);
        }
    }
    return spans;
}

std::set<std::string> heading_anchors(const std::string& markdown)
{
    std::set<std::string> anchors;
    std::map<std::string, int> seen;
    for (const auto& line : classify(markdown)) {
        if (line.kind != Classified::Kind::prose || !starts_with(line.text, "#")) continue;
        const std::string title = trim(line.text.substr(line.text.find_first_not_of('#')));
        std::string anchor;
        for (const char c : title) {
            const auto byte = static_cast<unsigned char>(c);
            if (byte >= 0x80 || std::isalnum(byte) != 0 || c == '-' || c == '_') {
                anchor += static_cast<char>(std::tolower(byte));
            } else if (c == ' ') {
                anchor += '-';
            }
        }
        const int repeat = seen[anchor]++;
        anchors.insert(repeat == 0 ? anchor : anchor + "-" + std::to_string(repeat));
    }
    return anchors;
}

std::vector<std::vector<std::string>> table_after(const std::string& markdown, const std::string& heading)
{
    std::vector<std::vector<std::string>> rows;
    const auto at = markdown.find("\n" + heading + "\n");
    if (at == std::string::npos) return rows;
    bool in_table = false;
    for (const auto& line : split_lines(markdown.substr(at + heading.size() + 2))) {
        if (!starts_with(line, "|")) {
            if (in_table) break;
            continue;
        }
        in_table = true;
        if (starts_with(line, "|---")) continue;
        std::vector<std::string> cells;
        std::istringstream cells_in(line.substr(1));
        for (std::string cell; std::getline(cells_in, cell, '|');) cells.push_back(trim(cell));
        rows.push_back(cells);
    }
    if (!rows.empty()) rows.erase(rows.begin());  // the header
    return rows;
}

std::set<std::string> output_names()
{
    std::set<std::string> names;
    const auto text = read_text_file(std::filesystem::path(RECON_SOURCE_DIR) / "docs/output-names.md");
    for (const auto& row : table_after(text, "## Field names")) {
        if (row.empty()) continue;
        std::string name = row[0];
        name.erase(std::remove(name.begin(), name.end(), '`'), name.end());
        names.insert(name);
    }
    return names;
}

namespace {

void collect_names(const nlohmann::json& value, std::set<std::string>& out)
{
    if (value.is_object()) {
        for (const auto& [key, item] : value.items()) {
            out.insert(key);
            if (key != "metrics" && key != "detail") collect_names(item, out);
        }
    } else if (value.is_array()) {
        for (const auto& item : value) collect_names(item, out);
    }
}

}  // namespace

std::set<std::string> unlisted_output_names(const nlohmann::json& document, const std::vector<std::string>& extra_names)
{
    std::set<std::string> used(extra_names.begin(), extra_names.end());
    collect_names(document, used);
    const auto listed = output_names();
    std::set<std::string> unlisted;
    for (const auto& name : used) {
        if (listed.count(name) == 0) unlisted.insert(name);
    }
    return unlisted;
}

}  // namespace reconcile::test
