// The key a request is hashed by, for sticky canary splits and consistent_hash balancing: a header,
// a cookie, or the client's address.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace portcullis {

enum class HashOn : std::uint8_t { ip, header, cookie };

namespace routing {

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view header, std::string_view name);

// The request's key: header `name`, cookie `name`, or `client_address`; empty when absent.
std::string_view request_key(HashOn on, const std::string& name, const http::RequestHead& head,
                             std::string_view client_address);

}  // namespace routing
}  // namespace portcullis
