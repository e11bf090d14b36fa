// Eureka's REST mapping over the embedded registry, without sockets.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discovery/embedded_registry.h"
#include "discovery/eureka_admin.h"

using namespace portcullis;
using namespace portcullis::discovery;
using json = nlohmann::json;

namespace {

struct Api {
  std::int64_t now = 5'000;
  EmbeddedRegistry registry{{}, [this] { return now; }};
  AdminResponse call(std::string_view method, std::string_view target, std::string_view body = {},
                     std::string_view accept = "application/json", std::string_view content_type = "application/json") {
    auto r = handle_eureka(registry, {method, target, body, accept, content_type});
    REQUIRE(r);
    return *r;
  }
};

const char* doc = R"({"instance": {"instanceId": "i-1", "hostName": "127.0.0.1", "app": "HELLO",
  "ipAddr": "127.0.0.1", "status": "UP", "port": {"$": 8001, "@enabled": "true"},
  "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
  "leaseInfo": {"renewalIntervalInSecs": 1, "durationInSecs": 3}}})";

}  // namespace

TEST_CASE_METHOD(Api, "register, read, heartbeat, override and cancel over the REST mapping", "[discovery][eureka]") {
  CHECK_FALSE(handle_eureka(registry, {"GET", "/health", {}, {}, {}}).has_value());

  CHECK(call("POST", "/eureka/apps/hello", doc).status == 204);
  auto apps = json::parse(call("GET", "/eureka/apps").body);
  CHECK(apps["applications"]["apps__hashcode"] == "UP_1_");
  CHECK(apps["applications"]["application"][0]["name"] == "HELLO");
  CHECK(apps["applications"]["application"][0]["instance"][0]["instanceId"] == "i-1");
  CHECK(apps["applications"]["application"][0]["instance"][0]["port"]["$"] == 8001);

  CHECK(json::parse(call("GET", "/eureka/apps/HELLO").body)["application"]["instance"].size() == 1);
  CHECK(json::parse(call("GET", "/eureka/apps/hello/i-1").body)["instance"]["status"] == "UP");
  CHECK(json::parse(call("GET", "/eureka/v2/instances/i-1").body)["instance"]["app"] == "HELLO");
  CHECK(call("GET", "/eureka/apps/nothing").status == 404);

  CHECK(call("PUT", "/eureka/apps/HELLO/i-1?status=UP&lastDirtyTimestamp=0").status == 200);
  CHECK(call("PUT", "/eureka/apps/HELLO/i-2?status=UP").status == 404);

  CHECK(call("PUT", "/eureka/apps/HELLO/i-1/status?value=OUT_OF_SERVICE").status == 200);
  auto one = json::parse(call("GET", "/eureka/apps/HELLO/i-1").body);
  CHECK(one["instance"]["status"] == "OUT_OF_SERVICE");
  CHECK(one["instance"]["overriddenStatus"] == "OUT_OF_SERVICE");
  CHECK(call("PUT", "/eureka/apps/HELLO/i-1/status?value=bogus").status == 400);
  CHECK(call("DELETE", "/eureka/apps/HELLO/i-1/status").status == 200);
  CHECK(json::parse(call("GET", "/eureka/apps/HELLO/i-1").body)["instance"]["status"] == "UP");

  CHECK(call("PUT", "/eureka/apps/HELLO/i-1/metadata?zone=z9").status == 200);
  CHECK(registry.find("hello", "i-1")->metadata.at("zone") == "z9");

  auto delta = json::parse(call("GET", "/eureka/apps/delta").body);
  CHECK(delta["applications"]["application"][0]["instance"][0]["actionType"] == "MODIFIED");

  CHECK(call("DELETE", "/eureka/apps/HELLO/i-1").status == 200);
  CHECK(call("DELETE", "/eureka/apps/HELLO/i-1").status == 404);
  CHECK(json::parse(call("GET", "/eureka/apps").body)["applications"]["application"].empty());
}

TEST_CASE_METHOD(Api, "percent-encoded ids and the lease from the document", "[discovery][eureka]") {
  json d = json::parse(doc);
  d["instance"]["instanceId"] = "127.0.0.1:hello:8001";
  CHECK(call("POST", "/eureka/apps/HELLO", d.dump()).status == 204);
  CHECK(call("PUT", "/eureka/apps/HELLO/127.0.0.1%3Ahello%3A8001").status == 200);
  now += 3'500;  // durationInSecs 3
  CHECK(registry.evict_expired() == 1);
}

TEST_CASE_METHOD(Api, "bad requests get clear answers", "[discovery][eureka]") {
  CHECK(call("POST", "/eureka/apps/HELLO", "{not json").status == 400);
  auto wrong_app = call("POST", "/eureka/apps/OTHER", doc);
  CHECK(wrong_app.status == 400);
  CHECK(wrong_app.body.find("OTHER") != std::string::npos);
  CHECK(call("POST", "/eureka/apps/HELLO", R"({"instance": {"instanceId": "x"}})").status == 400);
  // XML-only clients: refused, saying why.
  auto xml = call("GET", "/eureka/apps", {}, "application/xml");
  CHECK(xml.status == 406);
  CHECK(xml.body.find("application/json") != std::string::npos);
  CHECK(call("POST", "/eureka/apps/HELLO", "<instance/>", "application/json", "application/xml").status == 415);
  CHECK(call("GET", "/eureka/apps", {}, "*/*").status == 200);
  CHECK(call("GET", "/eureka/apps", {}, "").status == 200);
  CHECK(call("DELETE", "/eureka/apps").status == 405);
  CHECK(call("GET", "/eureka/vips/hello").status == 404);
}
