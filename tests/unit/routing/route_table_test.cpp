// Route matching: each pattern form, the method/host/header predicates, file-order priority, and
// pattern validation. Paths given to match() here are already canonical.
#include "routing/route_table.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "http/message.h"

using portcullis::http::Fields;
using portcullis::routing::literal_prefix;
using portcullis::routing::RouteRule;
using portcullis::routing::RouteTable;
using portcullis::routing::validate_pattern;

namespace {

RouteRule rule(std::string path, std::vector<std::string> methods = {}, std::string host = {},
               std::vector<std::pair<std::string, std::string>> headers = {}) {
  return RouteRule{std::move(path), std::move(methods), std::move(host), std::move(headers)};
}

// Matches a path with no method/host/header constraints in play.
int match_path(const RouteTable& t, std::string_view path) {
  static const Fields none;
  return t.match(path, "GET", "example.com", none);
}

}  // namespace

TEST_CASE("exact patterns match only themselves", "[route_table]") {
  RouteTable t({rule("/ping"), rule("/a/b"), rule("/"), rule("/dir/")});
  CHECK(match_path(t, "/ping") == 0);
  CHECK(match_path(t, "/ping/") == -1);
  CHECK(match_path(t, "/ping/x") == -1);
  CHECK(match_path(t, "/pin") == -1);
  CHECK(match_path(t, "/pingx") == -1);
  CHECK(match_path(t, "/PING") == -1);  // paths are case-sensitive
  CHECK(match_path(t, "/a/b") == 1);
  CHECK(match_path(t, "/a") == -1);
  CHECK(match_path(t, "/a/b/c") == -1);
  CHECK(match_path(t, "/") == 2);
  CHECK(match_path(t, "/dir/") == 3);
  CHECK(match_path(t, "/dir") == -1);
  CHECK(match_path(t, "//") == -1);
}

TEST_CASE("'/x/**' matches x itself and everything below it", "[route_table]") {
  RouteTable t({rule("/hello/**")});
  CHECK(match_path(t, "/hello") == 0);
  CHECK(match_path(t, "/hello/") == 0);
  CHECK(match_path(t, "/hello/a") == 0);
  CHECK(match_path(t, "/hello/a/b") == 0);
  CHECK(match_path(t, "/hello//x") == 0);
  CHECK(match_path(t, "/hellox") == -1);
  CHECK(match_path(t, "/hell") == -1);
  CHECK(match_path(t, "/") == -1);
  CHECK(match_path(t, "/other/hello") == -1);
}

TEST_CASE("'/**' matches every origin-form path", "[route_table]") {
  RouteTable t({rule("/**")});
  CHECK(match_path(t, "/") == 0);
  CHECK(match_path(t, "/a") == 0);
  CHECK(match_path(t, "/a/b/c/") == 0);
  CHECK(match_path(t, "//") == 0);
  CHECK(match_path(t, "*") == -1);  // OPTIONS * is not a path
  CHECK(match_path(t, "") == -1);
}

TEST_CASE("'*' matches exactly one non-empty segment", "[route_table]") {
  RouteTable t({rule("/api/*/items"), rule("/end/*")});
  CHECK(match_path(t, "/api/x/items") == 0);
  CHECK(match_path(t, "/api/anything-at-all/items") == 0);
  CHECK(match_path(t, "/api//items") == -1);
  CHECK(match_path(t, "/api/x/y/items") == -1);
  CHECK(match_path(t, "/api/items") == -1);
  CHECK(match_path(t, "/api/x/items/") == -1);
  CHECK(match_path(t, "/api/x/itemsx") == -1);
  CHECK(match_path(t, "/end/a") == 1);
  CHECK(match_path(t, "/end/") == -1);
  CHECK(match_path(t, "/end") == -1);
  CHECK(match_path(t, "/end/a/b") == -1);
}

TEST_CASE("'*' inside a segment matches a run within that segment", "[route_table]") {
  RouteTable t({rule("/static/*.css"), rule("/img/logo-*.png"), rule("/v/a*b*c")});
  CHECK(match_path(t, "/static/site.css") == 0);
  CHECK(match_path(t, "/static/.css") == 0);  // the run may be empty
  CHECK(match_path(t, "/static/a.b.css") == 0);
  CHECK(match_path(t, "/static/site.cssx") == -1);
  CHECK(match_path(t, "/static/site.js") == -1);
  CHECK(match_path(t, "/static/dir/site.css") == -1);  // does not cross a '/'
  CHECK(match_path(t, "/static/site.css/") == -1);
  CHECK(match_path(t, "/img/logo-big.png") == 1);
  CHECK(match_path(t, "/img/logo-.png") == 1);
  CHECK(match_path(t, "/img/logo.png") == -1);
  CHECK(match_path(t, "/v/abc") == 2);
  CHECK(match_path(t, "/v/aXXbYYc") == 2);
  CHECK(match_path(t, "/v/abcbc") == 2);  // needs backtracking
  CHECK(match_path(t, "/v/acb") == -1);
}

TEST_CASE("an encoded slash in a path is one segment's text", "[route_table]") {
  RouteTable t({rule("/files/*"), rule("/raw/a%2Fb")});
  CHECK(match_path(t, "/files/a%2Fb") == 0);
  CHECK(match_path(t, "/files/a/b") == -1);
  CHECK(match_path(t, "/raw/a%2Fb") == 1);
  CHECK(match_path(t, "/raw/a/b") == -1);
}

TEST_CASE("the first matching rule in file order wins", "[route_table]") {
  SECTION("a broad rule listed first shadows a specific one") {
    RouteTable t({rule("/**"), rule("/api/**"), rule("/api/users")});
    CHECK(match_path(t, "/api/users") == 0);
    CHECK(match_path(t, "/x") == 0);
  }
  SECTION("a specific rule listed first wins over a broad one after it") {
    RouteTable t({rule("/api/users"), rule("/api/*"), rule("/api/**"), rule("/**")});
    CHECK(match_path(t, "/api/users") == 0);
    CHECK(match_path(t, "/api/orders") == 1);
    CHECK(match_path(t, "/api/orders/7") == 2);
    CHECK(match_path(t, "/api") == 2);
    CHECK(match_path(t, "/other") == 3);
  }
  SECTION("a wildcard listed before a literal wins") {
    RouteTable t({rule("/a/*/c"), rule("/a/b/c"), rule("/a/*.x/c")});
    CHECK(match_path(t, "/a/b/c") == 0);
    CHECK(match_path(t, "/a/b.x/c") == 0);
  }
  SECTION("a glob listed first beats a later '*' and literal") {
    RouteTable t({rule("/a/*.x"), rule("/a/*"), rule("/a/b.x")});
    CHECK(match_path(t, "/a/b.x") == 0);
    CHECK(match_path(t, "/a/b.y") == 1);
  }
  SECTION("identical patterns: the first whose predicates pass") {
    RouteTable t({rule("/p", {"POST"}), rule("/p"), rule("/p")});
    Fields none;
    CHECK(t.match("/p", "POST", "h", none) == 0);
    CHECK(t.match("/p", "GET", "h", none) == 1);
  }
  SECTION("a shallow '**' listed later loses to a deeper earlier rule") {
    RouteTable t({rule("/a/b/c/d"), rule("/a/**")});
    CHECK(match_path(t, "/a/b/c/d") == 0);
    CHECK(match_path(t, "/a/b/c") == 1);
  }
}

TEST_CASE("methods are compared exactly, any listed one matches", "[route_table]") {
  RouteTable t({rule("/m", {"GET", "HEAD"}), rule("/m", {"DELETE"})});
  Fields none;
  CHECK(t.match("/m", "GET", "h", none) == 0);
  CHECK(t.match("/m", "HEAD", "h", none) == 0);
  CHECK(t.match("/m", "DELETE", "h", none) == 1);
  CHECK(t.match("/m", "get", "h", none) == -1);
  CHECK(t.match("/m", "POST", "h", none) == -1);
  CHECK(t.match("/m", "", "h", none) == -1);
}

TEST_CASE("exact hosts ignore case and port", "[route_table]") {
  RouteTable t({rule("/**", {}, "api.example.com"), rule("/**", {}, "10.0.0.1")});
  Fields none;
  CHECK(t.match("/", "GET", "api.example.com", none) == 0);
  CHECK(t.match("/", "GET", "API.Example.COM", none) == 0);
  CHECK(t.match("/", "GET", "api.example.com:8080", none) == 0);
  CHECK(t.match("/", "GET", "api.example.com:", none) == 0);
  CHECK(t.match("/", "GET", "10.0.0.1:443", none) == 1);
  CHECK(t.match("/", "GET", "example.com", none) == -1);
  CHECK(t.match("/", "GET", "x.api.example.com", none) == -1);
  CHECK(t.match("/", "GET", "api.example.co", none) == -1);
  CHECK(t.match("/", "GET", "api.example.com.evil", none) == -1);
  CHECK(t.match("/", "GET", "", none) == -1);
  CHECK(t.match("/", "GET", "[::1]:80", none) == -1);
}

TEST_CASE("'*.suffix' hosts match subdomains, not the apex", "[route_table]") {
  RouteTable t({rule("/**", {}, "*.example.com")});
  Fields none;
  CHECK(t.match("/", "GET", "a.example.com", none) == 0);
  CHECK(t.match("/", "GET", "a.b.example.com", none) == 0);
  CHECK(t.match("/", "GET", "A.EXAMPLE.com:8443", none) == 0);
  CHECK(t.match("/", "GET", "example.com", none) == -1);
  CHECK(t.match("/", "GET", "example.com:80", none) == -1);
  CHECK(t.match("/", "GET", "badexample.com", none) == -1);
  CHECK(t.match("/", "GET", "a.example.org", none) == -1);
  CHECK(t.match("/", "GET", "", none) == -1);
}

TEST_CASE("a rule without a host matches any host, including none", "[route_table]") {
  RouteTable t({rule("/x")});
  Fields none;
  CHECK(t.match("/x", "GET", "", none) == 0);
  CHECK(t.match("/x", "GET", "anything:1", none) == 0);
}

TEST_CASE("headers: every listed one present with the exact value", "[route_table]") {
  RouteTable t({rule("/h/**", {}, {}, {{"X-Version", "2"}, {"X-Tenant", "acme"}}),
                rule("/h/**", {}, {}, {{"x-version", "2"}}), rule("/h/**")});
  SECTION("both present") {
    Fields f;
    f.add("x-tenant", "acme");
    f.add("X-VERSION", "2");
    CHECK(t.match("/h/a", "GET", "h", f) == 0);
  }
  SECTION("one missing falls through to the next rule") {
    Fields f;
    f.add("X-Version", "2");
    CHECK(t.match("/h/a", "GET", "h", f) == 1);
  }
  SECTION("values are case-sensitive and exact") {
    Fields f;
    f.add("X-Version", "2");
    f.add("X-Tenant", "ACME");
    CHECK(t.match("/h/a", "GET", "h", f) == 1);
    Fields g;
    g.add("X-Version", "20");
    CHECK(t.match("/h/a", "GET", "h", g) == 2);
    Fields h;
    h.add("X-Version", " 2");
    CHECK(t.match("/h/a", "GET", "h", h) == 2);
  }
  SECTION("a repeated field matches when any occurrence has the value") {
    Fields f;
    f.add("X-Version", "1");
    f.add("X-Version", "2");
    CHECK(t.match("/h/a", "GET", "h", f) == 1);
  }
  SECTION("no fields") {
    Fields f;
    CHECK(t.match("/h/a", "GET", "h", f) == 2);
  }
}

TEST_CASE("all predicates must pass together", "[route_table]") {
  RouteTable t({rule("/api/**", {"POST"}, "*.example.com", {{"X-Key", "k"}}),
                rule("/api/**", {"POST"}), rule("/**")});
  Fields with_key;
  with_key.add("X-Key", "k");
  Fields without;
  CHECK(t.match("/api/x", "POST", "a.example.com", with_key) == 0);
  CHECK(t.match("/api/x", "POST", "a.example.com", without) == 1);
  CHECK(t.match("/api/x", "POST", "example.com", with_key) == 1);
  CHECK(t.match("/api/x", "GET", "a.example.com", with_key) == 2);
  CHECK(t.match("/other", "POST", "a.example.com", with_key) == 2);
}

TEST_CASE("empty, default and moved-from tables", "[route_table]") {
  RouteTable empty;
  CHECK(empty.size() == 0);
  CHECK(match_path(empty, "/") == -1);
  RouteTable none(std::vector<RouteRule>{});
  CHECK(match_path(none, "/x") == -1);

  RouteTable a({rule("/a"), rule("/b")});
  CHECK(a.size() == 2);
  RouteTable b(std::move(a));
  CHECK(b.size() == 2);
  CHECK(match_path(b, "/b") == 1);
  CHECK(a.size() == 0);              // NOLINT(bugprone-use-after-move): moved-from must stay usable
  CHECK(match_path(a, "/a") == -1);  // NOLINT(bugprone-use-after-move)
  RouteTable c;
  c = std::move(b);
  CHECK(match_path(c, "/a") == 0);
}

TEST_CASE("large tables match by trie, with file order kept", "[route_table]") {
  std::vector<RouteRule> rules;
  for (int i = 0; i < 10000; ++i) {
    rules.push_back(rule("/svc" + std::to_string(i) + "/**"));
    rules.push_back(rule("/api/v1/svc" + std::to_string(i) + "/items/*"));
  }
  rules.push_back(rule("/api/**"));
  rules.push_back(rule("/svc42/**"));  // duplicate of an early rule: never wins
  RouteTable t(rules);
  CHECK(t.size() == 20002);
  CHECK(match_path(t, "/svc0") == 0);
  CHECK(match_path(t, "/svc42/x/y") == 84);
  CHECK(match_path(t, "/svc9999/a") == 19998);
  CHECK(match_path(t, "/api/v1/svc9999/items/7") == 19999);
  CHECK(match_path(t, "/api/v1/svc9999/items") == 20000);
  CHECK(match_path(t, "/api/v1/svc10000/items/7") == 20000);
  CHECK(match_path(t, "/svc10000") == -1);
  CHECK(match_path(t, "/nope") == -1);
}

TEST_CASE("validate_pattern accepts the documented forms", "[route_table]") {
  for (const char* p : {"/", "/ping", "/hello/**", "/**", "/api/*/items", "/static/*.css", "/a/b/",
                        "/a//b", "/v/a*b*c", "/files/a%2Fb", "/files/a%2fb", "/x-y_z~1.2"})
    CHECK(validate_pattern(p) == "");
}

TEST_CASE("validate_pattern rejects malformed patterns with a message", "[route_table]") {
  for (const char* p :
       {"",        "ping",    "*/x",  "**",   "/a/**/b", "/**/a", "/a**",  "/**.css", "/a/b**",
        "/a/***",  "/a/x**y", "/a?b", "/a#b", "/a/?",    "/a b",  "/a\tb", "/a\x7f",  "/a/./b",
        "/a/../b", "/.",      "/..",  "/a%",  "/a%4",    "/a%zz", "/a%41", "/a%2e%2e"}) {
    INFO("pattern: " << p);
    CHECK_FALSE(validate_pattern(p).empty());
  }
  CHECK(validate_pattern("/a/**/b").find("last") != std::string::npos);
}

TEST_CASE("literal_prefix stops before the first wildcard", "[route_table]") {
  CHECK(literal_prefix("/hello/**") == "/hello");
  CHECK(literal_prefix("/api/*/x") == "/api");
  CHECK(literal_prefix("/ping") == "/ping");
  CHECK(literal_prefix("/**") == "");
  CHECK(literal_prefix("/") == "");
  CHECK(literal_prefix("/a/b/") == "/a/b");
  CHECK(literal_prefix("/static/*.css") == "/static");
  CHECK(literal_prefix("/a/b/c*/**") == "/a/b");
  CHECK(literal_prefix("/api/v1/**") == "/api/v1");
}

TEST_CASE("Fields helpers used by matching", "[route_table][fields]") {
  using portcullis::http::iequals;
  CHECK(iequals("Content-Type", "content-type"));
  CHECK_FALSE(iequals("a", "ab"));
  CHECK_FALSE(iequals("x-a", "x_a"));
  Fields f;
  f.add("A", "1");
  f.add("b", "2");
  f.add("a", "3");
  CHECK(f.get("a") == "1");
  CHECK(f.count("A") == 2);
  CHECK(f.find("missing") == nullptr);
  f.set("a", "9");
  CHECK(f.count("a") == 1);
  CHECK(f.items().front().value == "9");  // set keeps the first occurrence's position
  CHECK(f.remove("B") == 1);
  CHECK(f.size() == 1);
  f.set("new", "v");
  CHECK(f.items().back().name == "new");
  CHECK(f.remove("absent") == 0);
}

TEST_CASE("method_from and reason_phrase", "[fields]") {
  using portcullis::http::Method;
  using portcullis::http::method_from;
  using portcullis::http::reason_phrase;
  CHECK(method_from("GET") == Method::get);
  CHECK(method_from("HEAD") == Method::head);
  CHECK(method_from("POST") == Method::post);
  CHECK(method_from("PUT") == Method::put);
  CHECK(method_from("DELETE") == Method::delete_);
  CHECK(method_from("CONNECT") == Method::connect);
  CHECK(method_from("OPTIONS") == Method::options);
  CHECK(method_from("TRACE") == Method::trace);
  CHECK(method_from("PATCH") == Method::patch);
  CHECK(method_from("get") == Method::other);
  CHECK(method_from("PROPFIND") == Method::other);
  CHECK(method_from("") == Method::other);
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(100) == "Continue");
  CHECK(reason_phrase(404) == "Not Found");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(429) == "Too Many Requests");
  CHECK(reason_phrase(502) == "Bad Gateway");
  CHECK(reason_phrase(511) == "Network Authentication Required");
  CHECK(reason_phrase(299) == "Unknown");
  CHECK(reason_phrase(0) == "Unknown");
  CHECK(reason_phrase(600) == "Unknown");
}
