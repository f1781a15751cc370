#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lib/results.hpp"

namespace reconcile {

/// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
/// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// Ledger text is bytes: a SQL_ASCII database stores whatever it was given. Every byte that is
/// not part of a well-formed UTF-8 sequence becomes the four characters \xNN (lower-case hex);
/// valid UTF-8, including control characters, is left alone (docs/decisions/invalid-utf8-text.md).
std::string escape_invalid_utf8(std::string_view text);

/// Text someone else wrote, made safe to show on a terminal or in a log: invalid UTF-8 as above,
/// then every C0 control and DEL as \xNN and every C1 control (U+0080-U+009F, U+009B is CSI) as
/// \xc2\xNN, so no escape sequence and no NUL survives (a NUL would also cut a C string short).
std::string escape_controls(std::string_view text);

/// The same for every string and object key inside a JSON value, in place.
void escape_invalid_utf8(nlohmann::json& value);

/// The JSON text of a document that may carry ledger or PostgreSQL text, escaped as above: the
/// one way such a document is written out (nlohmann's dump throws on invalid UTF-8).
std::string dump_json(nlohmann::json value, int indent = -1);

/// The same for everything a check reported: variance kinds, keys, amounts and detail, and the
/// metrics. Run after finalize_variances, so fingerprints are over the ledger's own bytes.
void escape_invalid_utf8(CheckResult& result);

}  // namespace reconcile
