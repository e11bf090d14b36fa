// The etcd provider's pure parts: base64, prefix ranges, values, the watch stream splitter.
#include <catch2/catch.hpp>

#include "discovery/etcd_provider.h"

using namespace portcullis;
using namespace portcullis::discovery;

TEST_CASE("base64 matches etcd's JSON gateway encoding", "[discovery][etcd]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("/portcullis/services/hello/") == "L3BvcnRjdWxsaXMvc2VydmljZXMvaGVsbG8v");
  CHECK(base64_encode("a") == "YQ==");
  CHECK(base64_encode("ab") == "YWI=");
  for (std::string s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) CHECK(base64_decode(base64_encode(s)) == s);
  CHECK_FALSE(base64_decode("abc").has_value());
  CHECK_FALSE(base64_decode("a!==").has_value());
}

TEST_CASE("a prefix's range end increments its last byte", "[discovery][etcd]") {
  CHECK(etcd_prefix_end("/p/hello/") == "/p/hello0");
  CHECK(etcd_prefix_end("a\xff") == "b");
  CHECK(etcd_prefix_end("") == std::string(1, '\0'));
}

TEST_CASE("instance values decode and bad ones say why", "[discovery][etcd]") {
  std::string error;
  auto d = decode_etcd_instance("i1", R"({"host": "127.0.0.1", "port": 8001, "zone": "z", "weight": 2,
      "status": "out_of_service", "metadata": {"v": "1", "n": 2}})", error);
  REQUIRE(d);
  CHECK(d->id == "i1");
  CHECK(d->host == "127.0.0.1");
  CHECK(d->port == 8001);
  CHECK(d->zone == "z");
  CHECK(d->weight == 2);
  CHECK(d->status == InstanceStatus::out_of_service);
  CHECK(d->metadata == std::map<std::string, std::string>{{"n", "2"}, {"v", "1"}});
  auto v6 = decode_etcd_instance("i2", R"({"host": "[::1]", "port": "9"})", error);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->status == InstanceStatus::up);

  CHECK_FALSE(decode_etcd_instance("x", "nope", error));
  CHECK_FALSE(decode_etcd_instance("x", R"({"port": 1})", error));
  CHECK(error.find("host") != std::string::npos);
  CHECK_FALSE(decode_etcd_instance("x", R"({"host": "db.internal", "port": 1})", error));
  CHECK(error.find("IP") != std::string::npos);
  CHECK_FALSE(decode_etcd_instance("x", R"({"host": "127.0.0.1", "port": 0})", error));
  CHECK_FALSE(decode_etcd_instance("x", R"({"host": "127.0.0.1", "port": 1, "weight": -1})", error));
}

TEST_CASE("the watch stream is cut into whole objects however it is split", "[discovery][etcd]") {
  std::string stream = "{\"result\":{\"created\":true}}\n{\"result\":{\"events\":[{\"kv\":{\"key\":\"a}{\\\"\"}}]}}\n{\"x\":1}";
  for (std::size_t step : {1u, 2u, 7u, 1000u}) {
    JsonStreamSplitter splitter;
    std::vector<std::string> objects;
    for (std::size_t i = 0; i < stream.size(); i += step)
      splitter.feed(std::string_view(stream).substr(i, step), [&](std::string_view o) { objects.emplace_back(o); });
    REQUIRE(objects.size() == 3);
    CHECK(objects[0] == "{\"result\":{\"created\":true}}");
    CHECK(objects[1] == "{\"result\":{\"events\":[{\"kv\":{\"key\":\"a}{\\\"\"}}]}}");
    CHECK(objects[2] == "{\"x\":1}");
  }
}
