#include "lib/curl_handles.hpp"

#include <mutex>
#include <stdexcept>

namespace reconcile {

void curl_global_init_once()
{
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
    });
}

void curl_slist_add(CurlSlist& list, const char* line)
{
    curl_slist* head = curl_slist_append(list.get(), line);
    if (head == nullptr) throw std::bad_alloc();
    if (!list) list.reset(head);
}

}  // namespace reconcile
