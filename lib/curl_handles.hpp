#pragma once

// libcurl handles as RAII types, so every path out (a throw included) frees them.

#include <curl/curl.h>

#include <memory>

namespace reconcile {

struct CurlEasyCleanup {
    void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct CurlMultiCleanup {
    void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct CurlSlistCleanup {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

using CurlEasy = std::unique_ptr<CURL, CurlEasyCleanup>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiCleanup>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistCleanup>;

/// curl_global_init, once per process (throws std::runtime_error when it fails).
void curl_global_init_once();

/// Appends `line` to `list` (curl_slist_append keeps the head, so the owner stays the same).
void curl_slist_add(CurlSlist& list, const char* line);

}  // namespace reconcile
