#include "filters/auth/jwt_token.h"

#include <nlohmann/json.hpp>

namespace portcullis::filters::jwt {

bool signature_length_ok(Alg alg, std::size_t size) {
  switch (alg) {
    case Alg::hs256: return size == 32;
    case Alg::hs384: return size == 48;
    case Alg::hs512: return size == 64;
    case Alg::es256: return size == 64;
    case Alg::es384: return size == 96;
    default: return size >= 256 && size <= 1024;
  }
}

const char* decode_token(std::string_view text, const std::array<bool, alg_count>& allowed, Token& out) {
  constexpr const char* malformed = "malformed token";
  const std::size_t dot1 = text.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : text.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || text.find('.', dot2 + 1) != std::string_view::npos) return malformed;
  out.header_text.clear();
  out.payload_text.clear();
  out.signature.clear();
  out.has_kid = false;
  out.kid.clear();
  if (!base64url_decode(text.substr(0, dot1), out.header_text) ||
      !base64url_decode(text.substr(dot1 + 1, dot2 - dot1 - 1), out.payload_text) ||
      !base64url_decode(text.substr(dot2 + 1), out.signature))
    return malformed;
  const nlohmann::json header = nlohmann::json::parse(out.header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return malformed;
  const auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) return malformed;
  const std::optional<Alg> alg = alg_from(alg_it->get_ref<const std::string&>());
  if (!alg || !allowed[static_cast<std::size_t>(*alg)]) return "algorithm not accepted";
  // Extensions marked critical must be understood (RFC 7515 4.1.11); this filter knows none.
  if (header.contains("crit")) return "unsupported critical header";
  if (const auto kid = header.find("kid"); kid != header.end()) {
    if (!kid->is_string()) return malformed;
    out.has_kid = true;
    out.kid = kid->get_ref<const std::string&>();
  }
  if (!signature_length_ok(*alg, out.signature.size())) return malformed;
  out.alg = *alg;
  out.signing_input = text.substr(0, dot2);
  return nullptr;
}

}  // namespace portcullis::filters::jwt
