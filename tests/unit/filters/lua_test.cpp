// The lua filter: the ctx API, the sandbox, the budgets, load errors with positions, and scripts
// that change between builds (as a reload or a watched edit rebuilds them).
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "filters/lua/lua_filter.h"
#include "filters/lua/patterns.h"
#include "support.h"

using namespace filter_support;

namespace {

std::string script_dir() {
  static const std::string dir = [] {
    char pattern[] = "/tmp/portcullis-lua-unit-XXXXXX";
    const char* made = mkdtemp(pattern);
    REQUIRE(made);
    return std::string(made);
  }();
  return dir;
}

std::string write_script(const std::string& name, const std::string& text) {
  const std::string path = script_dir() + "/" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

std::unique_ptr<Built> lua_filter(const std::string& path, const std::string& extra = "") {
  return build("lua", "{ file: " + path + (extra.empty() ? "" : ", " + extra) + " }");
}

std::string header(const http::Fields& fields, std::string_view name) { return std::string(fields.get(name)); }

}  // namespace

TEST_CASE("lua: a pre filter reads and changes the request", "[lua]") {
  const auto path = write_script("pre.lua", R"(
    return {
      type = "pre", order = 7,
      run = function(ctx)
        local r = ctx.request
        r.set_header("X-Seen", r.method .. " " .. r.path .. " " .. r.query)
        r.set_header("X-Tenant", r.header("X-Api-Key") and "known" or "anonymous")
        r.remove_header("Cookie")
        ctx.response.set_header("X-From-Pre", "yes")
      end
    })");
  auto built = lua_filter(path);
  REQUIRE(built->filter);
  CHECK(built->filter->type() == FilterType::pre);
  CHECK(built->filter->order() == 7);
  Request req;
  req.ctx.canonical_path = "/api/v1/items";
  CHECK(built->filter->run(req.ctx) == Outcome::proceed);
  CHECK(header(req.head.fields, "X-Seen") == "GET /api/v1/items x=1");
  CHECK(header(req.head.fields, "X-Tenant") == "anonymous");
  CHECK_FALSE(req.head.fields.contains("Cookie"));
  REQUIRE(req.ctx.added_response_headers.size() == 1);
  CHECK(req.ctx.added_response_headers[0].first == "X-From-Pre");
}

TEST_CASE("lua: ctx.respond answers at the edge with status, body and headers", "[lua]") {
  const auto path = write_script("respond.lua", R"(
    return { type = "pre", run = function(ctx)
      if ctx.request.path == "/api/old" then
        return ctx.respond(410, "gone\n", { ["Content-Type"] = "text/plain" })
      end
    end })");
  auto built = lua_filter(path);
  REQUIRE(built->filter);
  Request req;
  req.ctx.canonical_path = "/api/old";
  REQUIRE(built->filter->run(req.ctx) == Outcome::respond);
  REQUIRE(req.ctx.local_response);
  CHECK(req.ctx.local_response->status == 410);
  CHECK(req.ctx.local_response->body == "gone\n");
  REQUIRE(req.ctx.local_response->headers.size() == 1);
  CHECK(req.ctx.local_response->headers[0].second == "text/plain");
  Request other;
  other.ctx.canonical_path = "/api/new";
  CHECK(built->filter->run(other.ctx) == Outcome::proceed);
  CHECK_FALSE(other.ctx.local_response);
}

TEST_CASE("lua: ctx.vars is one table per request across filters; post filters edit the response", "[lua]") {
  auto pre = lua_filter(write_script("vars-pre.lua", R"(
    return { type = "pre", run = function(ctx) ctx.vars.started = ctx.request.method .. ":" .. ctx.client_ip end })"));
  auto post = lua_filter(write_script("vars-post.lua", R"(
    return { type = "post", run = function(ctx)
      ctx.response.set_header("X-Vars", tostring(ctx.vars.started))
      ctx.response.set_header("X-Status", tostring(ctx.response.status))
      ctx.response.remove_header("Server")
      ctx.response.set_header("X-Route", tostring(ctx.route_id))
    end })"));
  REQUIRE(pre->filter);
  REQUIRE(post->filter);
  Request first, second;
  first.ctx.client_address = "192.0.2.1";
  second.ctx.client_address = "192.0.2.2";
  REQUIRE(pre->filter->run(first.ctx) == Outcome::proceed);
  // The second request's post filter sees its own (empty) vars, not the first request's.
  second.ctx.response_status = 404;
  REQUIRE(post->filter->run(second.ctx) == Outcome::proceed);
  CHECK(header(second.ctx.response_fields, "X-Vars") == "nil");
  first.ctx.response_status = 200;
  first.ctx.response_fields.add("Server", "origin");
  REQUIRE(post->filter->run(first.ctx) == Outcome::proceed);
  CHECK(header(first.ctx.response_fields, "X-Vars") == "GET:192.0.2.1");
  CHECK(header(first.ctx.response_fields, "X-Status") == "200");
  CHECK(header(first.ctx.response_fields, "X-Route") == "nil");
  CHECK_FALSE(first.ctx.response_fields.contains("Server"));
  // A reset context (the next request on a connection) starts with a fresh table.
  first.ctx.reset();
  first.ctx.request = &first.head;
  first.ctx.response_status = 200;
  REQUIRE(post->filter->run(first.ctx) == Outcome::proceed);
  CHECK(header(first.ctx.response_fields, "X-Vars") == "nil");
}

TEST_CASE("lua: should_filter decides whether run runs", "[lua]") {
  auto built = lua_filter(write_script("criterion.lua", R"(
    return { type = "pre",
      should_filter = function(ctx) return ctx.request.path:sub(1, 5) == "/api/" end,
      run = function(ctx) ctx.request.set_header("X-Ran", "1") end })"));
  REQUIRE(built->filter);
  Request api, other;
  api.ctx.canonical_path = "/api/x";
  other.ctx.canonical_path = "/static/x";
  CHECK(built->filter->should_filter(api.ctx));
  CHECK_FALSE(built->filter->should_filter(other.ctx));
  // A criterion cannot change the request: the attempt fails the request in run().
  auto meddler = lua_filter(write_script("meddler.lua", R"(
    return { type = "pre",
      should_filter = function(ctx) ctx.response.set_header("X", "y") return false end,
      run = function(ctx) end })"));
  REQUIRE(meddler->filter);
  Request req;
  CHECK(meddler->filter->should_filter(req.ctx));
  CHECK(meddler->filter->run(req.ctx) == Outcome::fail);
  CHECK(req.ctx.error.kind == ErrorKind::internal);
}

TEST_CASE("lua: the sandbox offers string, table and math only", "[lua]") {
  auto built = lua_filter(write_script("sandbox.lua", R"(
    local forbidden = { "os", "io", "debug", "package", "require", "load", "loadstring", "loadfile",
      "dofile", "collectgarbage", "getfenv", "setfenv", "newproxy", "module", "jit", "bit", "coroutine", "gcinfo" }
    return { type = "pre", run = function(ctx)
      local present = {}
      for _, name in ipairs(forbidden) do
        if _G[name] ~= nil then present[#present + 1] = name end
      end
      if string.dump ~= nil then present[#present + 1] = "string.dump" end
      if getmetatable("") ~= false then present[#present + 1] = "string metatable" end
      ctx.request.set_header("X-Present", table.concat(present, ","))
      ctx.request.set_header("X-Libs", type(string.upper) .. type(table.insert) .. type(math.floor))
    end })"));
  REQUIRE(built->filter);
  Request req;
  REQUIRE(built->filter->run(req.ctx) == Outcome::proceed);
  CHECK(header(req.head.fields, "X-Present") == "");
  CHECK(header(req.head.fields, "X-Libs") == "functionfunctionfunction");
}

TEST_CASE("lua: a script cannot change what another script sees", "[lua]") {
  auto vandal = lua_filter(write_script("vandal.lua", R"(
    return { type = "pre", run = function(ctx)
      string.upper = nil
      pcall(function() ctx.request = nil end)
      shared = "from vandal"
    end })"));
  auto victim = lua_filter(write_script("victim.lua", R"(
    return { type = "pre", run = function(ctx)
      ctx.request.set_header("X-Upper", string.upper("a") .. ("b"):upper() .. tostring(shared))
    end })"));
  REQUIRE(vandal->filter);
  REQUIRE(victim->filter);
  Request req;
  REQUIRE(vandal->filter->run(req.ctx) == Outcome::proceed);
  REQUIRE(victim->filter->run(req.ctx) == Outcome::proceed);
  CHECK(header(req.head.fields, "X-Upper") == "ABnil");
}

TEST_CASE("lua: the instruction budget stops endless loops, pcall or not; the VM keeps serving", "[lua]") {
  auto loop = lua_filter(write_script("loop.lua", R"(
    return { type = "pre", run = function(ctx)
      if ctx.request.path == "/spin" then while true do end end
      if ctx.request.path == "/sneaky" then
        while true do pcall(function() while true do end end) end
      end
      ctx.request.set_header("X-Ok", "1")
    end })"), "max_instructions: 100000");
  REQUIRE(loop->filter);
  for (const char* target : {"/spin", "/sneaky"}) {
    Request req;
    req.ctx.canonical_path = target;
    CHECK(loop->filter->run(req.ctx) == Outcome::fail);
    CHECK(req.ctx.error.kind == ErrorKind::internal);
  }
  Request fine;
  fine.ctx.canonical_path = "/fine";
  CHECK(loop->filter->run(fine.ctx) == Outcome::proceed);
  CHECK(header(fine.head.fields, "X-Ok") == "1");
  auto records = lua::Runtime::of(test_state())->records();
  bool found = false;
  for (const auto& r : records)
    if (r.path.ends_with("loop.lua")) {
      found = true;
      CHECK(r.last_error.find("loop.lua:") != std::string::npos);
      CHECK(r.last_error.find("instruction budget exceeded") != std::string::npos);
      CHECK(r.failed_calls == 2);
    }
  CHECK(found);
}

TEST_CASE("lua: the memory cap stops a memory hog; the VM keeps serving", "[lua]") {
  auto hog = lua_filter(write_script("hog.lua", R"(
    return { type = "pre", run = function(ctx)
      if ctx.request.path == "/big" then local s = string.rep("x", 64 * 1024 * 1024) end
      if ctx.request.path == "/many" then local t = {} for i = 1, 1e7 do t[i] = { i } end end
      ctx.request.set_header("X-Ok", "1")
    end })"), "max_memory: 2MiB, max_instructions: 1000000000");
  REQUIRE(hog->filter);
  for (const char* target : {"/big", "/many"}) {
    Request req;
    req.ctx.canonical_path = target;
    CHECK(hog->filter->run(req.ctx) == Outcome::fail);
  }
  Request fine;
  fine.ctx.canonical_path = "/fine";
  CHECK(hog->filter->run(fine.ctx) == Outcome::proceed);
  auto records = lua::Runtime::of(test_state())->records();
  for (const auto& r : records)
    if (r.path.ends_with("hog.lua")) CHECK(r.last_error.find("memory") != std::string::npos);
}

TEST_CASE("lua: scripts that do not load are config errors with the script's position", "[lua]") {
  struct Case {
    const char* name;
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"syntax.lua", "return {\n  type = 'pre',\n  run = function(ctx) if end\n}", "syntax.lua:3:"},
      {"raises.lua", "local x = nil\nreturn x.y", "raises.lua:2:"},
      {"number.lua", "return 42", "must return a filter table, not a number"},
      {"type.lua", "return { type = 'sometimes', run = function() end }", "type must be \"pre\""},
      {"norun.lua", "return { type = 'post' }", "needs a run function"},
      {"order.lua", "return { type = 'pre', order = 1.5, run = function() end }", "order must be an integer"},
      {"forever.lua", "while true do end", "instruction budget exceeded"},
      {"bytecode.lua", "\x1bLJ\x02", "attempt to load chunk with wrong mode"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto built = lua_filter(write_script(c.name, c.text));
    CHECK_FALSE(built->filter);
    REQUIRE(built->errors.list().size() == 1);
    CHECK(built->errors.list()[0].path == "filters[0].args.file");
    CHECK(built->errors.list()[0].message.find(c.expected) != std::string::npos);
  }
  auto missing = lua_filter(script_dir() + "/absent.lua");
  CHECK_FALSE(missing->filter);
  CHECK(missing->errors.joined().find("absent.lua: cannot be read") != std::string::npos);
  auto bad_args = build("lua", "{ file: x.lua, max_instructions: 10, max_memory: 1KiB, colour: red }");
  const std::string all = bad_args->errors.joined();
  CHECK(all.find("max_instructions") != std::string::npos);
  CHECK(all.find("max_memory") != std::string::npos);
  CHECK(all.find("colour") != std::string::npos);
}

TEST_CASE("lua: an edited script runs from the next build on; a broken edit keeps the running one", "[lua]") {
  const std::string path = write_script("edited.lua", "return { type = 'pre', run = function(ctx) "
                                                      "ctx.request.set_header('X-Version', 'one') end }");
  auto first = lua_filter(path);
  REQUIRE(first->filter);
  auto& v1 = static_cast<filters::LuaFilter&>(*first->filter);
  write_script("edited.lua", "return { type = 'post', order = 3, run = function(ctx) "
                             "ctx.response.set_header('X-Version', 'two') end }");
  auto second = lua_filter(path);
  REQUIRE(second->filter);
  auto& v2 = static_cast<filters::LuaFilter&>(*second->filter);
  CHECK(v2.script().hash != v1.script().hash);
  CHECK(v2.type() == FilterType::post);
  CHECK(v2.order() == 3);
  // The old snapshot's filter still runs its own version.
  Request old_req, new_req;
  REQUIRE(v1.run(old_req.ctx) == Outcome::proceed);
  CHECK(header(old_req.head.fields, "X-Version") == "one");
  REQUIRE(v2.run(new_req.ctx) == Outcome::proceed);
  CHECK(header(new_req.ctx.response_fields, "X-Version") == "two");

  write_script("edited.lua", "return { type = 'pre', run = function(ctx) oops( end }");
  auto third = lua_filter(path);
  REQUIRE(third->filter);  // refused: the running version stays, no config error
  CHECK(third->errors.list().empty());
  CHECK(static_cast<filters::LuaFilter&>(*third->filter).script().hash == v2.script().hash);
  bool shown = false;
  for (const auto& r : lua::Runtime::of(test_state())->records())
    if (r.path == path) shown = r.last_error.find("edited.lua:1:") != std::string::npos;
  CHECK(shown);
  const auto details = third->filter->details();
  CHECK(std::find_if(details.begin(), details.end(), [](const auto& kv) {
          return kv.first == "last_error" && kv.second.find("edited.lua:1:") != std::string::npos;
        }) != details.end());
}

TEST_CASE("lua: misuse of the API fails the request, not the worker", "[lua]") {
  auto built = lua_filter(write_script("misuse.lua", R"(
    return { type = "post", run = function(ctx)
      if ctx.response.status == 500 then return ctx.respond(200, "no") end
      if ctx.response.status == 502 then ctx.response.set_header("X-Bad", "a\r\nInjected: 1") end
      if ctx.response.status == 503 then ctx.request.set_header("X-Late", "1") end
      if ctx.response.status == 504 then error({}) end
    end })"));
  REQUIRE(built->filter);
  for (int status : {500, 502, 503, 504}) {
    INFO(status);
    Request req;
    req.ctx.response_status = status;
    CHECK(built->filter->run(req.ctx) == Outcome::fail);
    CHECK_FALSE(req.ctx.response_fields.contains("Injected"));
    CHECK_FALSE(req.ctx.response_fields.contains("X-Bad"));
  }
  Request ok;
  ok.ctx.response_status = 200;
  CHECK(built->filter->run(ok.ctx) == Outcome::proceed);
}

TEST_CASE("lua: error filters answer failures; one that fails leaves the request's own error", "[lua]") {
  auto page = lua_filter(write_script("error-page.lua", R"(
    return { type = "error", run = function(ctx)
      return ctx.respond(503, "sorry: " .. tostring(ctx.error), { ["Content-Type"] = "text/plain" })
    end })"));
  REQUIRE(page->filter);
  CHECK(page->filter->type() == FilterType::error);
  Request req;
  req.ctx.error = {ErrorKind::not_found, ErrorSource::downstream, 0, "no route"};
  REQUIRE(page->filter->run(req.ctx) == Outcome::respond);
  CHECK(req.ctx.local_response->status == 503);
  CHECK(req.ctx.local_response->body == "sorry: no route");

  auto broken = lua_filter(write_script("error-broken.lua", R"(
    return { type = "error", run = function(ctx) error("the error page broke") end })"));
  REQUIRE(broken->filter);
  Request other;
  other.ctx.error = {ErrorKind::not_found, ErrorSource::downstream, 0, "no route"};
  CHECK(broken->filter->run(other.ctx) == Outcome::fail);
  CHECK(other.ctx.error.kind == ErrorKind::not_found);
  CHECK(other.ctx.error.message == "no route");
}

TEST_CASE("lua: the shared ctx, string and math state cannot be changed by a script", "[lua]") {
  auto meddler = lua_filter(write_script("rawset.lua", R"(
    return { type = "pre", run = function(ctx)
      local results = {}
      results[#results + 1] = tostring(pcall(rawset, ctx, "vars", { stolen = true }))
      results[#results + 1] = tostring(pcall(rawset, ctx.request, "path", "/forged"))
      results[#results + 1] = tostring(pcall(setmetatable, ctx, nil))
      results[#results + 1] = tostring(("").dump)
      results[#results + 1] = tostring(math.randomseed)
      ctx.request.set_header("X-Results", table.concat(results, ","))
    end })"));
  REQUIRE(meddler->filter);
  Request req;
  req.ctx.canonical_path = "/real";
  REQUIRE(meddler->filter->run(req.ctx) == Outcome::proceed);
  CHECK(header(req.head.fields, "X-Results") == "false,false,false,nil,nil");
  auto reader = lua_filter(write_script("reader.lua", R"(
    return { type = "pre", run = function(ctx) ctx.request.set_header("X-Path", ctx.request.path) end })"));
  REQUIRE(reader->filter);
  REQUIRE(reader->filter->run(req.ctx) == Outcome::proceed);
  CHECK(header(req.head.fields, "X-Path") == "/real");
}

TEST_CASE("lua: a returned table with metamethods is checked without running them", "[lua]") {
  auto strict = lua_filter(write_script("strict.lua", R"(
    local t = { type = "pre", run = function(ctx) ctx.request.set_header("X-Strict", "ok") end }
    return setmetatable(t, { __index = function(_, key) error("no field " .. key) end }))"));
  REQUIRE(strict->filter);  // order and should_filter are simply absent
  Request req;
  REQUIRE(strict->filter->run(req.ctx) == Outcome::proceed);
  CHECK(header(req.head.fields, "X-Strict") == "ok");
  auto hidden = lua_filter(write_script("hidden.lua", R"(
    return setmetatable({}, { __index = { type = "pre", run = function() end } }))"));
  CHECK_FALSE(hidden->filter);
  CHECK(hidden->errors.joined().find("type must be") != std::string::npos);
}

TEST_CASE("lua: request data a call copies counts against its memory budget; log lines are capped", "[lua]") {
  auto bomb = lua_filter(write_script("copy-bomb.lua", R"(
    return { type = "pre", run = function(ctx)
      local big = string.rep("x", 100000)
      for i = 1, 1000 do ctx.request.set_header("X-Big", big) end
    end })"), "max_memory: 4MiB");
  REQUIRE(bomb->filter);
  Request req;
  CHECK(bomb->filter->run(req.ctx) == Outcome::fail);
  bool memory = false;
  for (const auto& r : lua::Runtime::of(test_state())->records())
    if (r.path.ends_with("copy-bomb.lua")) memory = r.last_error.find("memory cap reached") != std::string::npos;
  CHECK(memory);
  auto chatty = lua_filter(write_script("chatty.lua", R"(
    return { type = "pre", run = function(ctx) for i = 1, 100000 do log.info("line", i) end end })"));
  REQUIRE(chatty->filter);
  Request quiet;
  CHECK(chatty->filter->run(quiet.ctx) == Outcome::proceed);
}

TEST_CASE("lua: pattern functions that could backtrack past the budget are refused before they run", "[lua]") {
  using lua::pattern_worst_case;
  CHECK(pattern_worst_case("/api/", 8192) == Approx(8193.0));  // no repetition: one scan
  CHECK(pattern_worst_case("^/users/(%d+)$", 100) == Approx(101.0));
  CHECK(pattern_worst_case("Bearer (.+)", 8192) == Approx(8193.0 * 8193.0));
  CHECK(pattern_worst_case("(%w+)-(%w+)", 10) == Approx(11.0 * 11 * 11));  // the '-' after ')' is a literal
  CHECK(pattern_worst_case("[a-z%-]+%-", 10) == Approx(11.0 * 11));
  CHECK(pattern_worst_case("%b()%f[%w]x*", 10) == Approx(11.0 * 11));
  CHECK(pattern_worst_case(".-.-.-x", 8192) > 1e15);

  auto built = lua_filter(write_script("patterns.lua", R"lua(
    return { type = "pre", run = function(ctx)
      local value = ctx.request.header("Authorization")
      if ctx.request.path == "/costly" then
        return value:find(".-.-.-y")
      end
      ctx.request.set_header("X-Token", tostring(#value:match("Bearer (.+)")))
      ctx.request.set_header("X-Plain", tostring(string.find(value, ".-.-.-", 1, true)))
      local n = 0
      for _ in value:sub(1, 64):gmatch("x") do n = n + 1 end
      ctx.request.set_header("X-Count", tostring(n))
    end })lua"));
  REQUIRE(built->filter);
  const std::string bearer = "Bearer " + std::string(8000, 'x'), long_value(8000, 'x');  // fields are views
  Request ok;
  ok.head.fields.add("Authorization", bearer);
  REQUIRE(built->filter->run(ok.ctx) == Outcome::proceed);
  CHECK(header(ok.head.fields, "X-Token") == "8000");
  CHECK(header(ok.head.fields, "X-Plain") == "nil");
  CHECK(header(ok.head.fields, "X-Count") == "57");
  Request costly;
  costly.head.fields.add("Authorization", long_value);
  costly.ctx.canonical_path = "/costly";
  CHECK(built->filter->run(costly.ctx) == Outcome::fail);
  bool refused = false;
  for (const auto& r : lua::Runtime::of(test_state())->records())
    if (r.path.ends_with("patterns.lua")) refused = r.last_error.find("pattern too costly") != std::string::npos;
  CHECK(refused);
}
