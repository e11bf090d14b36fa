#include "util/http_date.h"

#include <ctime>

namespace portcullis {

std::string_view http_date_now() {
  thread_local std::time_t cached_second = 0;
  thread_local char text[40];
  thread_local std::size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {text, length};
}

}  // namespace portcullis
