// Lua filters through the real daemon and a real origin: headers both ways, ctx.vars across
// phases, should_filter, answers at the edge, scripts edited and directories changed while the
// gateway runs, and runaway scripts.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;

namespace {

// Writes the script the way editors save: a new file renamed over the old one.
void save(const std::string& path, const std::string& text) {
  write_file(path + ".tmp", text);
  REQUIRE(std::rename((path + ".tmp").c_str(), path.c_str()) == 0);
}

std::string admin_get(int admin_port, const std::string& target) {
  auto r = request(admin_port, "GET", target);
  return r ? r->body : std::string();
}

const char* kPre = R"(
return {
  type = "pre", order = 10,
  should_filter = function(ctx) return ctx.request.path:sub(1, 5) == "/api/" end,
  run = function(ctx)
    ctx.request.set_header("X-Tenant", ctx.request.header("X-Api-Key") and "known" or "anonymous")
    ctx.vars.seen = ctx.request.method .. " " .. ctx.request.path
    if ctx.request.path == "/api/old" then
      return ctx.respond(410, "gone\n", { ["Content-Type"] = "text/plain" })
    end
  end
})";

const char* kPost = R"(
return {
  type = "post",
  run = function(ctx)
    if ctx.vars.seen then ctx.response.set_header("X-Seen-By-Lua", ctx.vars.seen) end
    ctx.response.set_header("X-Route", ctx.route_id or "none")
  end
})";

}  // namespace

TEST_CASE("Lua filters change requests and responses; edge answers never reach the origin", "[lua]") {
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  const std::string dir = temp_dir() + "/lua-basic";
  run_command("mkdir -p " + dir);
  write_file(dir + "/pre.lua", kPre);
  write_file(dir + "/post.lua", kPost);
  Gateway gw(config("  app:\n    instances: [\"" + origin.address() + "\"]\n",
                    "  - { id: api, path: /api/**, service: app, strip_prefix: false }\n"
                    "  - { id: other, path: /other/**, service: app, strip_prefix: false }\n",
                    "filters:\n  - { name: lua, args: { file: " + dir + "/pre.lua } }\n"
                    "  - { name: lua, args: { file: " + dir + "/post.lua } }\n"));

  SECTION("a pre filter's header reaches the origin; the post filter's, with ctx.vars, the client") {
    auto r = request(gw.port(), "GET", "/api/items", {{"X-Api-Key", "k1"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("X-Seen-By-Lua") == "GET /api/items");
    CHECK(r->header("X-Route") == "api");
    REQUIRE(origin.wait_requests(1));
    CHECK(origin.received_all().find("X-Tenant: known\r\n") != std::string::npos);
  }
  SECTION("should_filter false skips the filter") {
    auto r = request(gw.port(), "GET", "/other/items");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_FALSE(r->has_header("X-Seen-By-Lua"));
    CHECK(r->header("X-Route") == "other");
    REQUIRE(origin.wait_requests(1));
    CHECK(origin.received_all().find("X-Tenant") == std::string::npos);
  }
  SECTION("an answer at the edge never reaches the origin; post filters still run on it") {
    auto r = request(gw.port(), "GET", "/api/old");
    REQUIRE(r);
    CHECK(r->status == 410);
    CHECK(r->body == "gone\n");
    CHECK(r->header("Content-Type") == "text/plain");
    CHECK(r->header("X-Seen-By-Lua") == "GET /api/old");
    auto after = request(gw.port(), "GET", "/other/x");  // the origin's first request is this one
    REQUIRE(after);
    REQUIRE(origin.wait_requests(1));
    CHECK(origin.requests() == 1);
    CHECK(origin.received_all().find("/api/old") == std::string::npos);
  }
  SECTION("GET /admin/filters lists the lua filters with file and version") {
    const auto body = nlohmann::json::parse(admin_get(gw.admin_port(), "/admin/filters"));
    REQUIRE(body["routes"].size() == 2);
    const auto& filters = body["routes"][0]["filters"];
    REQUIRE(filters.size() == 2);
    CHECK(filters[0]["name"] == "lua");
    CHECK(filters[0]["type"] == "pre");
    CHECK(filters[0]["order"] == 10);
    CHECK(filters[0]["file"] == dir + "/pre.lua");
    CHECK(filters[0]["hash"].get<std::string>().size() == 64);
    CHECK(filters[1]["type"] == "post");
    CHECK(filters[1]["file"] == dir + "/post.lua");
    CHECK(body["lua_scripts"].size() >= 2);
  }
}

TEST_CASE("A lua script edited under load takes effect without a failed request or a restart", "[lua]") {
  Backend backend("lua-live");
  const std::string dir = temp_dir() + "/lua-live";
  run_command("mkdir -p " + dir);
  const std::string script = dir + "/version.lua";
  auto version = [](const std::string& v) {
    return "return { type = 'post', run = function(ctx) ctx.response.set_header('X-Version', '" + v + "') end }";
  };
  write_file(script, version("one"));
  Gateway gw(config("  app:\n    instances: [\"" + backend.address() + "\"]\n",
                    "  - { id: api, path: /api/**, service: app }\n",
                    "filters:\n  - { name: lua, args: { file: " + script + " } }\n", 2));
  const int pid = gw.process().pid();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> saw_two{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t)
    load.emplace_back([&] {
      Client c(gw.port());
      while (!stop) {
        c.send("GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n");
        auto r = c.read_response();
        if (!r || r->status != 200 || (r->header("X-Version") != "one" && r->header("X-Version") != "two")) {
          ++failed;
          return;
        }
        ++ok;
        if (r->header("X-Version") == "two") saw_two = true;
      }
    });
  REQUIRE(eventually([&] { return ok.load() > 50; }));
  save(script, version("two"));
  const bool took_effect = eventually([&] { return saw_two.load(); }, std::chrono::seconds(3));
  // A broken edit is refused and version two keeps running.
  save(script, "return { type = 'post', run = function(ctx) oops( end }");
  REQUIRE(eventually([&] {
    return admin_get(gw.admin_port(), "/admin/filters").find("version.lua:1:") != std::string::npos;
  }));
  const int before = ok.load();
  REQUIRE(eventually([&] { return ok.load() > before + 50; }));
  stop = true;
  for (auto& t : load) t.join();
  CHECK(took_effect);
  CHECK(failed.load() == 0);
  CHECK(gw.process().pid() == pid);
  CHECK(gw.process().running());
  auto r = request(gw.port(), "GET", "/api/hello");
  REQUIRE(r);
  CHECK(r->header("X-Version") == "two");
  const std::string metrics = admin_get(gw.admin_port(), "/metrics");
  CHECK(metrics.find("portcullis_lua_errors_total{filter=\"" + script + "\",kind=\"load\"} 1") != std::string::npos);
}

TEST_CASE("A runaway lua script answers 500 quickly while other requests are served", "[lua]") {
  Backend backend("lua-runaway");
  const std::string dir = temp_dir() + "/lua-runaway";
  run_command("mkdir -p " + dir);
  write_file(dir + "/spin.lua", R"(
    return { type = "pre", run = function(ctx)
      if ctx.request.path == "/api/spin" then while true do end end
    end })");
  write_file(dir + "/hog.lua", R"(
    return { type = "pre", run = function(ctx)
      if ctx.request.path == "/api/hog" then local t = {} for i = 1, 1e8 do t[i] = "x" .. i end end
    end })");
  Gateway gw(config("  app:\n    instances: [\"" + backend.address() + "\"]\n",
                    "  - { id: api, path: /api/**, service: app }\n",
                    "filters:\n  - { name: lua, args: { file: " + dir + "/spin.lua } }\n"
                    "  - { name: lua, args: { file: " + dir + "/hog.lua, max_memory: 4MiB, max_instructions: 1000000000 } }\n"));
  Client keep(gw.port());
  for (int i = 0; i < 3; ++i) {
    for (const char* target : {"/api/spin", "/api/hog"}) {
      auto r = request(gw.port(), "GET", target);
      REQUIRE(r);
      CHECK(r->status == 500);
    }
    keep.send("GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n");
    auto fine = keep.read_response();
    REQUIRE(fine);
    CHECK(fine->status == 200);
  }
  const std::string metrics = admin_get(gw.admin_port(), "/metrics");
  CHECK(metrics.find("kind=\"instructions\"} 3") != std::string::npos);
  CHECK(metrics.find("kind=\"memory\"} 3") != std::string::npos);
  CHECK(gw.process().output().find("instruction budget exceeded") != std::string::npos);
}

TEST_CASE("lua.dir: a new script is picked up, a removed one dropped, a failing post filter gives 500", "[lua]") {
  Backend backend("lua-dir");
  const std::string dir = temp_dir() + "/lua-dir";
  run_command("mkdir -p " + dir);
  write_file(dir + "/a.lua", "return { type = 'pre', order = 1, run = function(ctx) "
                             "ctx.response.set_header('X-A', 'a') end }");
  write_file(dir + "/notes.txt", "not a script");
  Gateway gw(config("  app:\n    instances: [\"" + backend.address() + "\"]\n",
                    "  - { id: api, path: /api/**, service: app }\n", "lua:\n  dir: " + dir + "\n"));
  auto header_of = [&](const std::string& name) {
    auto r = request(gw.port(), "GET", "/api/hello");
    return r ? r->header(name) : std::string("no answer");
  };
  CHECK(header_of("X-A") == "a");
  save(dir + "/b.lua", "return { type = 'post', run = function(ctx) ctx.response.set_header('X-B', 'b') end }");
  CHECK(eventually([&] { return header_of("X-B") == "b"; }));
  CHECK(header_of("X-A") == "a");
  REQUIRE(std::remove((dir + "/a.lua").c_str()) == 0);
  CHECK(eventually([&] { return header_of("X-A").empty(); }));
  CHECK(header_of("X-B") == "b");
  save(dir + "/c.lua", "return { type = 'post', run = function(ctx) error('post filter broke') end }");
  CHECK(eventually([&] {
    auto r = request(gw.port(), "GET", "/api/hello");
    return r && r->status == 500;
  }));
  CHECK(gw.process().output().find("post filter broke") != std::string::npos);
  // The error answer goes through the post filters again: b.lua's header is on it.
  auto failed = request(gw.port(), "GET", "/api/hello");
  REQUIRE(failed);
  CHECK(failed->status == 500);
  CHECK(failed->header("X-B") == "b");
  // On an answer that is an error already, a failing post filter leaves it as it is.
  auto unrouted = request(gw.port(), "GET", "/nowhere");
  REQUIRE(unrouted);
  CHECK(unrouted->status == 404);
  CHECK(unrouted->body.find("no route") != std::string::npos);
  CHECK(gw.process().running());
}

TEST_CASE("The example lua filters work as their comments say", "[lua]") {
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nServer: origin/1\r\nContent-Length: 2\r\n\r\nok"}});
  const std::string examples = std::string(SOURCE_DIR) + "/examples/lua";
  Gateway gw(config("  app:\n    instances: [\"" + origin.address() + "\"]\n",
                    "  - { id: api, path: /api/**, service: app, strip_prefix: false }\n",
                    "filters:\n  - { name: lua, args: { file: " + examples + "/tenant.lua } }\n"
                    "  - { name: lua, args: { file: " + examples + "/cohort.lua } }\n"));
  auto retired = request(gw.port(), "GET", "/api/old");
  REQUIRE(retired);
  CHECK(retired->status == 410);
  CHECK(retired->header("Content-Type") == "application/json");
  auto r = request(gw.port(), "GET", "/api/items", {{"X-Api-Key", "acme-123"}});
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-Tenant") == "acme");
  CHECK_FALSE(r->has_header("Server"));
  REQUIRE(origin.wait_requests(1));
  CHECK(origin.requests() == 1);
  CHECK(origin.received_all().find("X-Tenant: acme\r\n") != std::string::npos);
}
