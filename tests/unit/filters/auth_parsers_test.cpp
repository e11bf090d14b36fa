// The auth filters' parsers on their own (the rooms the fuzz targets drive): JWS compact tokens
// taken apart, and the HMAC Authorization header, signed-header list and IMF-fixdate.
#include <catch2/catch.hpp>

#include "filters/auth/hmac_signature.h"
#include "filters/auth/jwt_token.h"
#include "jwt_support.h"

using namespace portcullis::filters;
using jwt_support::b64url;

namespace {

std::array<bool, jwt::alg_count> allow(std::initializer_list<jwt::Alg> algs) {
  std::array<bool, jwt::alg_count> out{};
  for (jwt::Alg a : algs) out[static_cast<std::size_t>(a)] = true;
  return out;
}

}  // namespace

TEST_CASE("a JWS compact token is taken apart into what was signed, its algorithm, kid and signature", "[jwt]") {
  const std::string header = b64url(R"({"alg":"HS256","kid":"k1"})"), payload = b64url(R"({"sub":"a"})");
  const std::string text = header + "." + payload + "." + b64url(std::string(32, 'x'));
  jwt::Token token;
  REQUIRE(jwt::decode_token(text, allow({jwt::Alg::hs256}), token) == nullptr);
  CHECK(token.signing_input == header + "." + payload);
  CHECK(token.alg == jwt::Alg::hs256);
  CHECK(token.has_kid);
  CHECK(token.kid == "k1");
  CHECK(token.payload_text == R"({"sub":"a"})");
  CHECK(token.signature == std::string(32, 'x'));
  // The same buffers serve the next token: nothing of the first one stays.
  const std::string bare = b64url(R"({"alg":"HS256"})") + "." + payload + "." + b64url(std::string(32, 'y'));
  REQUIRE(jwt::decode_token(bare, allow({jwt::Alg::hs256}), token) == nullptr);
  CHECK_FALSE(token.has_kid);
  CHECK(token.kid.empty());
}

TEST_CASE("malformed tokens and unaccepted algorithms are refused with their reason", "[jwt]") {
  const std::string payload = b64url("{}"), sig32 = b64url(std::string(32, 's'));
  const auto hs = allow({jwt::Alg::hs256});
  jwt::Token t;
  auto reason = [&](const std::string& text, const std::array<bool, jwt::alg_count>& allowed) {
    const char* r = jwt::decode_token(text, allowed, t);
    return std::string(r ? r : "");
  };
  const std::string hs256 = b64url(R"({"alg":"HS256"})");
  CHECK(reason(hs256 + "." + payload + "." + sig32, hs).empty());
  CHECK(reason(hs256 + "." + payload, hs) == "malformed token");                          // two parts
  CHECK(reason(hs256 + "." + payload + "." + sig32 + ".x", hs) == "malformed token");     // four
  CHECK(reason(hs256 + "." + payload + "." + sig32 + "=", hs) == "malformed token");      // padding
  CHECK(reason(b64url("[1]") + "." + payload + "." + sig32, hs) == "malformed token");     // not an object
  CHECK(reason(b64url(R"({"alg":7})") + "." + payload + "." + sig32, hs) == "malformed token");
  CHECK(reason(hs256 + "." + payload + "." + b64url(std::string(31, 's')), hs) == "malformed token");
  CHECK(reason(b64url(R"({"alg":"none"})") + "." + payload + ".", hs) == "algorithm not accepted");
  CHECK(reason(hs256 + "." + payload + "." + sig32, allow({jwt::Alg::rs256})) == "algorithm not accepted");
  CHECK(reason(b64url(R"({"alg":"HS256","crit":["x"]})") + "." + payload + "." + sig32, hs) ==
        "unsupported critical header");
  CHECK(reason(b64url(R"({"alg":"HS256","kid":3})") + "." + payload + "." + sig32, hs) == "malformed token");
}

TEST_CASE("the HMAC Authorization header parses in any parameter order and refuses the rest", "[hmac_auth]") {
  hmac::Signature sig;
  REQUIRE(hmac::parse_authorization(R"(  hmac-sha512 signature="c2ln" , keyId="k1",headers="date x-content-sha256" )",
                                    true, true, sig) == nullptr);
  CHECK(sig.algorithm == hmac::Algorithm::sha512);
  CHECK(sig.key_id == "k1");
  CHECK(sig.headers == "date x-content-sha256");
  CHECK(sig.signature == "c2ln");
  auto refusal = [](std::string_view value, bool sha256 = true, bool sha512 = true) {
    hmac::Signature s;
    const char* r = hmac::parse_authorization(value, sha256, sha512, s);
    return std::string(r ? r : "");
  };
  const std::string ok = R"(keyId="k",headers="date",signature="c2ln")";
  CHECK(refusal("HMAC-SHA256 " + ok).empty());
  CHECK(refusal("HMAC-SHA256 " + ok, false, true) == "expected an HMAC-SHA256 or HMAC-SHA512 signature");
  CHECK(refusal("Bearer " + ok) == "expected an HMAC-SHA256 or HMAC-SHA512 signature");
  CHECK(refusal("HMAC-SHA256") == "malformed HMAC signature");
  CHECK(refusal(R"(HMAC-SHA256 keyId="k",headers="date")") == "malformed HMAC signature");           // no signature
  CHECK(refusal("HMAC-SHA256 " + ok + R"(,keyId="j")") == "malformed HMAC signature");               // twice
  CHECK(refusal(R"(HMAC-SHA256 keyId="k",headers="date",signature="c2ln",realm="x")") == "malformed HMAC signature");
  CHECK(refusal(R"(HMAC-SHA256 keyId=k,headers="date",signature="c2ln")") == "malformed HMAC signature");  // unquoted
  CHECK(refusal(R"(HMAC-SHA256 keyId="k" headers="date",signature="c2ln")") == "malformed HMAC signature");  // no comma
  CHECK(refusal("HMAC-SHA256 " + std::string(hmac::max_authorization, 'x')) == "Authorization header too long");
}

TEST_CASE("signed header names: lower case, once each, at most 32", "[hmac_auth]") {
  hmac::SignedNames names;
  REQUIRE(hmac::split_signed_names("  date   x-content-sha256 host ", names) == nullptr);
  REQUIRE(names.count == 3);
  CHECK(names.names[0] == "date");
  CHECK(names.names[2] == "host");
  CHECK(std::string(hmac::split_signed_names("date Host", names)) == "signed header names must be lower case");
  CHECK(std::string(hmac::split_signed_names("date date", names)) == "a signed header is listed twice");
  std::string many;
  for (int i = 0; i < 33; ++i) many += "h" + std::to_string(i) + " ";
  CHECK(std::string(hmac::split_signed_names(many, names)) == "too many signed headers");
  CHECK(hmac::split_signed_names("", names) == nullptr);
  CHECK(names.count == 0);
}

TEST_CASE("IMF-fixdate to seconds, and nothing for other forms or impossible dates", "[hmac_auth]") {
  CHECK(hmac::parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK(hmac::parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  CHECK(hmac::parse_imf_fixdate("Sat, 31 Dec 2016 23:59:60 GMT") == 1483228800);  // a leap second
  CHECK_FALSE(hmac::parse_imf_fixdate("Sunday, 06-Nov-94 08:49:37 GMT"));         // RFC 850 form
  CHECK_FALSE(hmac::parse_imf_fixdate("Sun Nov  6 08:49:37 1994"));               // asctime form
  CHECK_FALSE(hmac::parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 UTC"));
  CHECK_FALSE(hmac::parse_imf_fixdate("Thu, 30 Feb 2023 08:49:37 GMT"));
  CHECK_FALSE(hmac::parse_imf_fixdate("Sun, 06 Nvo 1994 08:49:37 GMT"));
  CHECK_FALSE(hmac::parse_imf_fixdate("Sun, 06 Nov 1969 08:49:37 GMT"));
  CHECK_FALSE(hmac::parse_imf_fixdate("Sun, 06 Nov 1994 24:00:00 GMT"));
  CHECK_FALSE(hmac::parse_imf_fixdate("Sun, 06 Nov 1994 08:4x:37 GMT"));
}
