// Duration and size parsing: every unit, the bare-number forms and the malformed inputs that must
// be refused rather than read as something else.
#include <catch2/catch.hpp>

#include "util/units.h"

using namespace std::chrono_literals;
using portcullis::parse_duration;
using portcullis::parse_size;

TEST_CASE("parse_duration accepts every unit", "[units]") {
  CHECK(parse_duration("10ns") == std::optional<portcullis::Duration>(10ns));
  CHECK(parse_duration("500us") == std::optional<portcullis::Duration>(500us));
  CHECK(parse_duration("250ms") == std::optional<portcullis::Duration>(250ms));
  CHECK(parse_duration("3s") == std::optional<portcullis::Duration>(3s));
  CHECK(parse_duration("2m") == std::optional<portcullis::Duration>(2min));
  CHECK(parse_duration("1h") == std::optional<portcullis::Duration>(1h));
}

TEST_CASE("parse_duration reads a bare number as seconds", "[units]") {
  CHECK(parse_duration("5") == std::optional<portcullis::Duration>(5s));
  CHECK(parse_duration("0") == std::optional<portcullis::Duration>(0s));
  CHECK(parse_duration("1.5") == std::optional<portcullis::Duration>(1500ms));
  CHECK(parse_duration("0.25s") == std::optional<portcullis::Duration>(250ms));
  CHECK(parse_duration(" 3s ") == std::optional<portcullis::Duration>(3s));
}

TEST_CASE("parse_duration rejects malformed text", "[units]") {
  for (const char* text : {"", " ", "s", "3x", "3 sec", "-1s", "1.2.3s", "abc", "3S", "1e3s",
                           "99999999999h"}) {
    INFO(text);
    CHECK_FALSE(parse_duration(text));
  }
}

TEST_CASE("parse_size accepts binary and decimal units", "[units]") {
  CHECK(parse_size("1024") == std::optional<std::uint64_t>(1024));
  CHECK(parse_size("512B") == std::optional<std::uint64_t>(512));
  CHECK(parse_size("64KiB") == std::optional<std::uint64_t>(65536));
  CHECK(parse_size("10MiB") == std::optional<std::uint64_t>(10485760));
  CHECK(parse_size("1GiB") == std::optional<std::uint64_t>(1073741824));
  CHECK(parse_size("10KB") == std::optional<std::uint64_t>(10000));
  CHECK(parse_size("10kB") == std::optional<std::uint64_t>(10000));
  CHECK(parse_size("5MB") == std::optional<std::uint64_t>(5000000));
  CHECK(parse_size("2GB") == std::optional<std::uint64_t>(2000000000));
  CHECK(parse_size("1.5KiB") == std::optional<std::uint64_t>(1536));
  CHECK(parse_size("0") == std::optional<std::uint64_t>(0));
}

TEST_CASE("parse_size rejects malformed text and fractions of a byte", "[units]") {
  for (const char* text : {"", "B", "10XB", "-1", "1.5", "0.5B", "10 MiBs", "ten", "10mib",
                           "99999999999GiB"}) {
    INFO(text);
    CHECK_FALSE(parse_size(text));
  }
}
