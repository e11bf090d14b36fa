// Which version of a canary or split route a request goes to: the operator's pin, the override
// header, or the sticky (or sequenced) point in the split space.
#pragma once
#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace portcullis {
struct Route;
}

namespace portcullis::canary {

// An index into route.variants. `sequence` is the worker's, for requests without a sticky key.
std::size_t choose_variant(const Route& route, const http::RequestHead& head, std::string_view client_address,
                           std::uint32_t& sequence);

}  // namespace portcullis::canary
