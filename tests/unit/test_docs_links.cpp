// The documents stay sized for their readers and hang together: README.md and ARCHITECTURE.md
// within their line budgets, every relative link (and its #anchor) resolves, every document
// under docs/ can be reached from the README, and the test labels are listed once, as
// tests/CMakeLists.txt sets them.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "tests/support/markdown.hpp"

namespace fs = std::filesystem;
using namespace reconcile::test;

namespace {

const fs::path source_root = RECON_SOURCE_DIR;

std::size_t line_count(const std::string& text)
{
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) +
           (text.empty() || text.back() == '\n' ? 0 : 1);
}

/// A relative link of a document: the file it names (relative to the source tree) and the anchor.
struct Link {
    fs::path from;
    int line = 0;
    std::string target;  ///< as written
    fs::path file;       ///< resolved, relative to the source tree
    std::string anchor;  ///< after '#', or empty
};

std::vector<Link> relative_links(const fs::path& document)
{
    std::vector<Link> links;
    const std::regex link(R"(\]\(([^)\s]+)\))");
    for (const auto& line : prose_lines(read_text_file(source_root / document))) {
        for (std::sregex_iterator it(line.text.begin(), line.text.end(), link), end; it != end; ++it) {
            const std::string target = (*it)[1];
            if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0) continue;
            const auto hash = target.find('#');
            const std::string path = target.substr(0, hash);
            Link found{document, line.number, target, document,
                       hash == std::string::npos ? "" : target.substr(hash + 1)};
            if (!path.empty()) found.file = (document.parent_path() / path).lexically_normal();
            links.push_back(found);
        }
    }
    return links;
}

}  // namespace

TEST_CASE("README.md has at most 250 lines and ARCHITECTURE.md at most 150")
{
    const auto readme = line_count(read_text_file(source_root / "README.md"));
    const auto architecture = line_count(read_text_file(source_root / "ARCHITECTURE.md"));
    CHECK_MESSAGE(readme <= 250, "README.md has " << readme << " lines: move detail to docs/");
    CHECK_MESSAGE(architecture <= 150, "ARCHITECTURE.md has " << architecture << " lines: move detail to docs/");
}

TEST_CASE("every relative link in README, ARCHITECTURE and docs/ names an existing file and heading")
{
    std::size_t checked = 0;
    std::size_t anchors = 0;
    for (const auto& document : project_documents()) {
        for (const auto& link : relative_links(document)) {
            CAPTURE(link.from.string());
            CAPTURE(link.line);
            CAPTURE(link.target);
            ++checked;
            REQUIRE(fs::exists(source_root / link.file));
            if (link.anchor.empty() || link.file.extension() != ".md") continue;
            ++anchors;
            CHECK(heading_anchors(read_text_file(source_root / link.file)).count(link.anchor) == 1);
        }
    }
    // Not vacuous: the README links every document, the docs link each other with anchors.
    CHECK(checked > 80);
    CHECK(anchors > 5);
}

TEST_CASE("the anchors are GitHub's: punctuation dropped, spaces made dashes, repeats numbered")
{
    const auto anchors = heading_anchors(
        "# Deployment and sharding\n## Installing: the .deb\n### `run --if-due`: one slot at a time\n"
        "```\n# not a heading\n```\n## Notes\n## Notes\n");
    CHECK(anchors == std::set<std::string>{"deployment-and-sharding", "installing-the-deb",
                                           "run---if-due-one-slot-at-a-time", "notes", "notes-1"});
}

TEST_CASE("every document under docs/ can be reached from the README by links")
{
    std::set<fs::path> reached{"README.md"};
    std::vector<fs::path> queue{"README.md"};
    while (!queue.empty()) {
        const fs::path document = queue.back();
        queue.pop_back();
        for (const auto& link : relative_links(document)) {
            if (link.file.extension() != ".md" || link.file.begin()->string() == ".." ||
                !fs::exists(source_root / link.file) || !reached.insert(link.file).second) {
                continue;
            }
            queue.push_back(link.file);
        }
    }
    for (const auto& document : project_documents()) {
        CAPTURE(document.string());
        CHECK(reached.count(document) == 1);
    }
}

TEST_CASE("the test labels are listed once, in docs/testing.md, and are the labels the tests carry")
{
    std::set<std::string> used;
    const std::string cmake = read_text_file(source_root / "tests/CMakeLists.txt");
    const std::regex labels(R"~(LABELS\s+("([^"]*)"|([^\s)]+)))~");
    for (std::sregex_iterator it(cmake.begin(), cmake.end(), labels), end; it != end; ++it) {
        std::string list = (*it)[2].matched ? (*it)[2].str() : (*it)[3].str();
        for (std::size_t at = 0; at <= list.size();) {
            const auto semicolon = std::min(list.find(';', at), list.size());
            used.insert(list.substr(at, semicolon - at));
            at = semicolon + 1;
        }
    }
    std::set<std::string> documented;
    for (const auto& row : table_after(read_text_file(source_root / "docs/testing.md"), "### Test labels")) {
        REQUIRE(row.size() == 2);
        CHECK_MESSAGE(documented.insert(row[0]).second, row[0] << " is listed twice");
    }
    CHECK(documented == used);
    CHECK(used.count("unit") == 1);  // not vacuous

    // Nowhere else: a second list would drift from the first.
    for (const auto& document : project_documents()) {
        if (document == "docs/testing.md") continue;
        const std::string text = read_text_file(source_root / document);
        CAPTURE(document.string());
        CHECK(text.find("`unit`, `db`") == std::string::npos);
        CHECK(text.find("abels: `") == std::string::npos);
    }
}
