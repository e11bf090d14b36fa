// Eureka JSON codec: round trips, the shapes Spring's eureka-client sends, tolerance, refusals.
#include <catch2/catch.hpp>

#include "discovery/eureka_codec.h"

using namespace portcullis;
using namespace portcullis::discovery;
using json = nlohmann::json;

namespace {

// What Spring Cloud Netflix's eureka-client (Jackson codec) POSTs to /eureka/apps/HELLO.
const char* spring_document = R"({"instance": {
  "instanceId": "host1:hello:8080", "hostName": "host1", "app": "HELLO", "ipAddr": "10.0.0.5",
  "status": "UP", "overriddenStatus": "UNKNOWN",
  "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": 443, "@enabled": "false"},
  "countryId": 1,
  "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
  "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90, "registrationTimestamp": 0,
                "lastRenewalTimestamp": 0, "evictionTimestamp": 0, "serviceUpTimestamp": 0},
  "metadata": {"management.port": "8080", "zone": "eu-1a", "weight": "3"},
  "homePageUrl": "http://host1:8080/", "statusPageUrl": "http://host1:8080/actuator/info",
  "healthCheckUrl": "http://host1:8080/actuator/health", "vipAddress": "hello", "secureVipAddress": "hello",
  "isCoordinatingDiscoveryServer": "false", "lastUpdatedTimestamp": "1700000000000",
  "lastDirtyTimestamp": "1700000000001"}})";

}  // namespace

TEST_CASE("a Spring eureka-client registration decodes", "[discovery][eureka]") {
  EurekaInstance i;
  std::string error;
  REQUIRE(decode_instance(json::parse(spring_document), i, error));
  CHECK(i.app == "HELLO");
  CHECK(i.instance_id == "host1:hello:8080");
  CHECK(i.ip_addr == "10.0.0.5");
  CHECK(i.port == 8080);
  CHECK(i.port_enabled);
  CHECK_FALSE(i.secure_port_enabled);
  CHECK(i.status == InstanceStatus::up);
  CHECK_FALSE(i.overridden_status.has_value());  // UNKNOWN = no override
  CHECK(i.duration_secs == 90);
  CHECK(i.last_dirty_ts == 1700000000001);
  CHECK(i.metadata.at("management.port") == "8080");

  auto d = to_discovered(i);
  REQUIRE(d);
  CHECK(d->host == "10.0.0.5");
  CHECK(d->port == 8080);
  CHECK(d->id == "host1:hello:8080");
  CHECK(d->zone == "eu-1a");
  CHECK(d->weight == 3);
}

TEST_CASE("the codec round-trips an instance and an applications document", "[discovery][eureka]") {
  EurekaInstance i;
  std::string error;
  REQUIRE(decode_instance(json::parse(spring_document), i, error));
  i.overridden_status = InstanceStatus::out_of_service;
  i.data_center_name = "Amazon";
  i.data_center_metadata = {{"availability-zone", "us-east-1c"}};
  EurekaInstance back;
  REQUIRE(decode_instance(json{{"instance", encode_instance(i)}}, back, error));
  // The encoded status is the effective one, so compare what a client sees.
  CHECK(back.effective_status() == InstanceStatus::out_of_service);
  back.status = i.status;
  CHECK(back == i);
  CHECK(to_discovered(back)->zone == "us-east-1c");  // dataCenterInfo wins over metadata.zone

  EurekaApplications apps;
  apps.apps_hashcode = "OUT_OF_SERVICE_1_";
  apps.versions_delta = "7";
  apps.applications.push_back({"HELLO", {i}});
  json doc = encode_applications(apps);
  CHECK(doc["applications"]["application"][0]["name"] == "HELLO");
  CHECK(doc["applications"]["application"][0]["instance"][0]["port"]["$"] == 8080);
  CHECK(doc["applications"]["application"][0]["instance"][0]["port"]["@enabled"] == "true");
  EurekaApplications decoded;
  REQUIRE(decode_applications(doc, decoded, error));
  CHECK(decoded.apps_hashcode == "OUT_OF_SERVICE_1_");
  CHECK(decoded.versions_delta == "7");
  REQUIRE(decoded.applications.size() == 1);
  REQUIRE(decoded.applications[0].instances.size() == 1);
  CHECK(decoded.applications[0].instances[0].instance_id == i.instance_id);
}

TEST_CASE("numbers as strings, plain ports and single objects are accepted", "[discovery][eureka]") {
  std::string error;
  EurekaInstance i;
  REQUIRE(decode_instance(json::parse(R"({"hostName": "127.0.0.1", "app": "x", "port": "8081",
      "leaseInfo": {"durationInSecs": "5"}})"), i, error));
  CHECK(i.instance_id == "127.0.0.1");  // no instanceId: hostName, as Eureka's getId()
  CHECK(i.app == "X");
  CHECK(i.port == 8081);
  CHECK(i.duration_secs == 5);
  auto d = to_discovered(i);
  REQUIRE(d);
  CHECK(d->host == "127.0.0.1");  // hostName is an IP and ipAddr is missing

  REQUIRE(decode_instance(json::parse(R"({"instanceId": "a", "ipAddr": "::1", "port": {"$": "9000", "@enabled": true}})"),
                          i, error));
  CHECK(i.port == 9000);
  CHECK(to_discovered(i)->host == "::1");

  // Jettison-era documents: one application and one instance as objects, not arrays.
  EurekaApplications apps;
  REQUIRE(decode_applications(json::parse(R"({"applications": {"versions__delta": 1, "apps__hashcode": "UP_1_",
      "application": {"name": "one", "instance": {"instanceId": "i1", "ipAddr": "127.0.0.1", "port": 1}}}})"),
                              apps, error));
  REQUIRE(apps.applications.size() == 1);
  CHECK(apps.applications[0].name == "ONE");
  CHECK(apps.applications[0].instances.at(0).app == "ONE");
  CHECK(apps.versions_delta == "1");

  REQUIRE(decode_applications(json::parse(R"({"applications": {"apps__hashcode": ""}})"), apps, error));
  CHECK(apps.applications.empty());
}

TEST_CASE("malformed Eureka documents are refused with the field named", "[discovery][eureka]") {
  std::string error;
  EurekaInstance i;
  CHECK_FALSE(decode_instance(json::parse("[1,2]"), i, error));
  CHECK_FALSE(decode_instance(json::parse(R"({"instance": "x"})"), i, error));
  CHECK_FALSE(decode_instance(json::parse(R"({"port": 80})"), i, error));
  CHECK(error.find("instanceId") != std::string::npos);
  CHECK_FALSE(decode_instance(json::parse(R"({"instanceId": "a", "port": 80})"), i, error));
  CHECK(error.find("ipAddr") != std::string::npos);
  CHECK_FALSE(decode_instance(json::parse(R"({"instanceId": "a", "ipAddr": "1.2.3.4", "port": 70000})"), i, error));
  CHECK(error.find("port") != std::string::npos);
  CHECK_FALSE(decode_instance(json::parse(R"({"instanceId": "a", "ipAddr": "1.2.3.4", "port": {"@enabled": "true"}})"), i, error));
  CHECK_FALSE(decode_instance(json::parse(R"({"instanceId": "a", "ipAddr": "1.2.3.4", "port": "80x"})"), i, error));

  EurekaApplications apps;
  CHECK_FALSE(decode_applications(json::parse(R"({"apps": {}})"), apps, error));
  CHECK_FALSE(decode_applications(json::parse(R"({"applications": {"application": [1]}})"), apps, error));
  CHECK_FALSE(decode_applications(json::parse(R"({"applications": {"application": [{"name": "a", "instance": 5}]}})"),
                                  apps, error));
  CHECK(error.find("application A") != std::string::npos);

  // Decodes, but carries no IP literal: not routable.
  REQUIRE(decode_instance(json::parse(R"({"instanceId": "a", "hostName": "db.internal", "port": 80})"), i, error));
  CHECK_FALSE(to_discovered(i).has_value());
}

TEST_CASE("the reconcile hashcode counts statuses in name order", "[discovery][eureka]") {
  EurekaInstance up1, up2, down, oos;
  down.status = InstanceStatus::down;
  oos.overridden_status = InstanceStatus::out_of_service;  // the override is what counts
  CHECK(reconcile_hashcode({}) == "");
  CHECK(reconcile_hashcode({&up1}) == "UP_1_");
  CHECK(reconcile_hashcode({&up1, &down, &up2, &oos}) == "DOWN_1_OUT_OF_SERVICE_1_UP_2_");
}
