// Path canonicalisation: the decoding, dot-segment and rejection rules that decide which route a
// request can reach, including the encodings attackers use to slip past a prefix.
#include "routing/path.h"

#include <catch2/catch.hpp>
#include <string>

using portcullis::routing::canonicalize_path;
using portcullis::routing::PathError;

namespace {

// The canonical form, or "<error>" so failures show what went wrong in one CHECK.
std::string canon(std::string_view raw) {
  std::string out;
  const PathError e = canonicalize_path(raw, out);
  switch (e) {
    case PathError::none: return out;
    case PathError::bad_percent_encoding: return "<bad_percent_encoding>";
    case PathError::above_root: return "<above_root>";
    case PathError::not_absolute: return "<not_absolute>";
    case PathError::bad_character: return "<bad_character>";
  }
  return "<?>";
}

}  // namespace

TEST_CASE("canonicalize_path leaves plain paths alone", "[path]") {
  CHECK(canon("/") == "/");
  CHECK(canon("/a") == "/a");
  CHECK(canon("/a/b/c") == "/a/b/c");
  CHECK(canon("/a/b/") == "/a/b/");
  CHECK(canon("/Mixed/Case") == "/Mixed/Case");
  CHECK(canon("/a-b_c~d.e") == "/a-b_c~d.e");
}

TEST_CASE("canonicalize_path keeps empty segments", "[path]") {
  CHECK(canon("//") == "//");
  CHECK(canon("/a//b") == "/a//b");
  CHECK(canon("/a/b//") == "/a/b//");
}

TEST_CASE("canonicalize_path decodes escapes once, either hex case", "[path]") {
  CHECK(canon("/%41%62c") == "/Abc");
  CHECK(canon("/a%20b") == "/a b");
  CHECK(canon("/%7e%7E") == "/~~");
  CHECK(canon("/caf%C3%A9") == "/caf\xC3\xA9");
  // Reserved characters are decoded too: matching is on decoded text.
  CHECK(canon("/a%3Fb%23c") == "/a?b#c");
  CHECK(canon("/%3B%40") == "/;@");
  // Nothing is decoded twice.
  CHECK(canon("/%2541") == "/%2541");  // %25 stays encoded: decoded once, never twice
  CHECK(canon("/%252F") == "/%252F");
  CHECK(canon("/%252e%252e/x") == "/%252e%252e/x");
}

TEST_CASE("canonicalize_path keeps an encoded slash as data", "[path]") {
  CHECK(canon("/a%2Fb") == "/a%2Fb");
  CHECK(canon("/a%2fb") == "/a%2Fb");  // upper-cased
  // An encoded slash does not split a segment, so it cannot be used to form a dot-segment.
  CHECK(canon("/a/..%2Fb") == "/a/..%2Fb");
  CHECK(canon("/a/%2F..") == "/a/%2F..");
  CHECK(canon("/a%2F../b") == "/a%2F../b");
}

TEST_CASE("canonicalize_path rejects malformed and NUL escapes", "[path]") {
  CHECK(canon("/%") == "<bad_percent_encoding>");
  CHECK(canon("/a%") == "<bad_percent_encoding>");
  CHECK(canon("/%1") == "<bad_percent_encoding>");
  CHECK(canon("/a%1/b") == "<bad_percent_encoding>");
  CHECK(canon("/%G1") == "<bad_percent_encoding>");
  CHECK(canon("/%1G") == "<bad_percent_encoding>");
  CHECK(canon("/%%41") == "<bad_percent_encoding>");
  CHECK(canon("/% 1") == "<bad_percent_encoding>");
  CHECK(canon("/%00") == "<bad_percent_encoding>");
  CHECK(canon("/a%00b") == "<bad_percent_encoding>");
}

TEST_CASE("canonicalize_path rejects raw control characters and spaces", "[path]") {
  CHECK(canon("/a b") == "<bad_character>");
  CHECK(canon("/a\tb") == "<bad_character>");
  CHECK(canon("/a\rb") == "<bad_character>");
  CHECK(canon("/a\nb") == "<bad_character>");
  CHECK(canon("/a\x7f") == "<bad_character>");
  CHECK(canon("/\x01") == "<bad_character>");
  CHECK(canon(std::string_view("/a\0b", 4)) == "<bad_character>");
}

TEST_CASE("canonicalize_path requires an absolute path", "[path]") {
  CHECK(canon("") == "<not_absolute>");
  CHECK(canon("a/b") == "<not_absolute>");
  CHECK(canon("*") == "<not_absolute>");
  CHECK(canon("%2Fa") == "<not_absolute>");
  CHECK(canon("http://h/a") == "<not_absolute>");
}

TEST_CASE("canonicalize_path removes dot-segments", "[path]") {
  CHECK(canon("/.") == "/");
  CHECK(canon("/./") == "/");
  CHECK(canon("/a/.") == "/a/");
  CHECK(canon("/a/./b") == "/a/b");
  CHECK(canon("/a/b/..") == "/a/");
  CHECK(canon("/a/b/../") == "/a/");
  CHECK(canon("/a/b/../c") == "/a/c");
  CHECK(canon("/a/b/../../c") == "/c");
  CHECK(canon("/a/..") == "/");
  CHECK(canon("/a/../") == "/");
  CHECK(canon("/a/./../b/./c/.") == "/b/c/");
  CHECK(canon("/a//../b") == "/a/b");  // ".." removes the empty segment
  CHECK(canon("//..") == "/");
  // Segments that merely contain dots are ordinary.
  CHECK(canon("/a/.../b") == "/a/.../b");
  CHECK(canon("/a/..b/.c") == "/a/..b/.c");
  CHECK(canon("/a/b../c.") == "/a/b../c.");
}

TEST_CASE("canonicalize_path treats %2E like a dot", "[path]") {
  CHECK(canon("/a/%2E/b") == "/a/b");
  CHECK(canon("/a/%2e%2e/b") == "/b");
  CHECK(canon("/a/.%2E/b") == "/b");
  CHECK(canon("/a/%2E./b") == "/b");
  CHECK(canon("/a/b/%2E%2E") == "/a/");
  CHECK(canon("/%2e%2e") == "<above_root>");
  CHECK(canon("/admin/../%2E%2E/etc") == "<above_root>");
}

TEST_CASE("canonicalize_path refuses to climb above the root", "[path]") {
  CHECK(canon("/..") == "<above_root>");
  CHECK(canon("/../") == "<above_root>");
  CHECK(canon("/../a") == "<above_root>");
  CHECK(canon("/a/../..") == "<above_root>");
  CHECK(canon("/a/../../b") == "<above_root>");
  CHECK(canon("/./..") == "<above_root>");
}

TEST_CASE("canonicalize_path clears the output first", "[path]") {
  std::string out = "stale";
  REQUIRE(canonicalize_path("/x", out) == PathError::none);
  CHECK(out == "/x");
  out = "stale";
  CHECK(canonicalize_path("x", out) == PathError::not_absolute);
  CHECK(out.empty());
}
