#pragma once

// Query-parameter parsing shared by the API's handlers (lib/api.cpp, lib/variances_api.cpp):
// every failure is HttpError(400) naming the parameter.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "lib/config.hpp"
#include "lib/http_server.hpp"

namespace reconcile {

/// Query parameters as the handlers see them.
using QueryParams = std::multimap<std::string, std::string>;

/// The one value of a query parameter; repeated parameters are refused.
std::optional<std::string> single_param(const QueryParams& params, const std::string& name);

/// Refuses any query parameter outside `known`.
void require_known_params(const QueryParams& params, std::set<std::string> known);

/// `book` when it is one of RECON_BOOKS.
std::string validated_book(const std::string& book, const Settings& settings);

/// A positive whole number; `what` names it in the error.
std::int64_t parse_positive(const std::string& text, const std::string& what);

}  // namespace reconcile
