// The IMF-fixdate for Date headers, formatted once per second per thread.
#pragma once
#include <string_view>

namespace portcullis {
std::string_view http_date_now();
}
