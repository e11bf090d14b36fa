// Out-of-line parts of the message-head types: field lookup and edits, method names and the
// standard reason phrases.
#include "http/message.h"

#include <algorithm>
#include <cctype>

namespace portcullis::http {

const Field* Fields::find(std::string_view name) const {
  for (const Field& f : items_)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

std::size_t Fields::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      items_.begin(), items_.end(), [&](const Field& f) { return iequals(f.name, name); }));
}

std::size_t Fields::remove(std::string_view name) {
  const std::size_t before = items_.size();
  std::erase_if(items_, [&](const Field& f) { return iequals(f.name, name); });
  return before - items_.size();
}

std::size_t Fields::remove_any_spelling(std::string_view name) {
  const std::size_t before = items_.size();
  std::erase_if(items_, [&](const Field& f) {
    if (f.name.size() != name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char a = f.name[i] == '_' ? '-' : f.name[i];
      const char b = name[i] == '_' ? '-' : name[i];
      if (a != b && std::tolower(static_cast<unsigned char>(a)) != std::tolower(static_cast<unsigned char>(b))) return false;
    }
    return true;
  });
  return before - items_.size();
}

void Fields::set(std::string_view name, std::string_view value) {
  // The first occurrence is overwritten in place so the field keeps its position in the head;
  // any later duplicates go.
  auto first = std::find_if(items_.begin(), items_.end(),
                            [&](const Field& f) { return iequals(f.name, name); });
  if (first == items_.end()) {
    items_.push_back({name, value});
    return;
  }
  *first = {name, value};
  items_.erase(std::remove_if(first + 1, items_.end(),
                              [&](const Field& f) { return iequals(f.name, name); }),
               items_.end());
}

Method method_from(std::string_view text) {
  // Methods are case-sensitive (RFC 9110 9.1): "get" is an unknown extension method, not GET.
  if (text == "GET") return Method::get;
  if (text == "HEAD") return Method::head;
  if (text == "POST") return Method::post;
  if (text == "PUT") return Method::put;
  if (text == "DELETE") return Method::delete_;
  if (text == "CONNECT") return Method::connect;
  if (text == "OPTIONS") return Method::options;
  if (text == "TRACE") return Method::trace;
  if (text == "PATCH") return Method::patch;
  return Method::other;
}

std::string_view reason_phrase(int status) {
  // Names follow RFC 9110 where it renamed a code (413, 422), plus the registered WebDAV and
  // extension codes a proxy can see from an upstream.
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
  }
}

}  // namespace portcullis::http
