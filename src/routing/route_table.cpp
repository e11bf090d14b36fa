// Route patterns compiled into a segment trie. A match walks the canonical path one segment at a
// time, so its cost depends on the path's depth and the trie's fan-out at each level, not on how
// many routes the config has; it allocates nothing.
#include "routing/route_table.h"

#include <climits>
#include <map>

namespace portcullis::routing {

namespace {

constexpr std::uint32_t no_node = UINT32_MAX;

// Above this many literal children a node gets a hash index; below it a linear scan over a few
// short strings is as fast and keeps small tables compact.
constexpr std::size_t linear_children_max = 8;

bool forbidden_in_pattern(unsigned char c) { return c <= 0x20 || c == 0x7f; }

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = fold(c);
  return out;
}

// FNV-1a: cheap for the short segments paths are made of, and good enough spread for a table that
// is sized at twice its load.
std::uint64_t hash_segment(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// '*' matches any run (possibly empty) within one segment. Iterative with a single backtrack point,
// which is enough for '*'-only globs and keeps the worst case at O(|glob| * |text|).
bool glob_match(std::string_view glob, std::string_view text) {
  std::size_t g = 0, t = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = t;
    } else if (g < glob.size() && glob[g] == text[t]) {
      ++g;
      ++t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

// Patterns may spell an encoded slash either way; the canonical path always has "%2F".
std::string normalise_segment(std::string_view seg) {
  std::string out(seg);
  for (std::size_t i = 0; i + 2 < out.size(); ++i)
    if (out[i] == '%' && out[i + 1] == '2' && out[i + 2] == 'f') out[i + 2] = 'F';
  return out;
}

// Drops a ":port" suffix, leaving a bracketed IPv6 literal intact.
std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const std::size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

}  // namespace

std::string validate_pattern(std::string_view pattern) {
  if (pattern.empty()) return "path pattern is empty";
  if (pattern.front() != '/') return "path pattern must start with '/'";
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '?' || c == '#')
      return "path pattern must not contain '?' or '#': the query and fragment are not matched";
    if (forbidden_in_pattern(static_cast<unsigned char>(c)))
      return "path pattern must not contain spaces or control characters";
    if (c == '%') {
      // Matching is on the decoded path, so an escape in a pattern would only ever match a
      // double-encoded request. The one escape that survives canonicalisation is %2F.
      if (i + 2 >= pattern.size() || !is_hex(pattern[i + 1]) || !is_hex(pattern[i + 2]))
        return "path pattern has a malformed percent-escape";
      if (pattern[i + 1] != '2' || fold(pattern[i + 2]) != 'f')
        return "path pattern may not percent-encode anything but '/' (%2F); write the character "
               "itself";
    }
  }

  std::size_t pos = 1;
  for (;;) {
    const std::size_t slash = pattern.find('/', pos);
    const std::string_view seg =
        pattern.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    const bool last = slash == std::string_view::npos;
    if (seg == "**") {
      if (!last) return "'**' is only allowed as the last segment of a path pattern";
    } else if (seg.find("**") != std::string_view::npos) {
      return "'**' must be a whole segment (\"/a/**\"), not part of one (\"" + std::string(seg) +
             "\")";
    } else if (seg == "." || seg == "..") {
      return "path pattern must not contain '.' or '..' segments: canonical paths never have them";
    }
    if (last) break;
    pos = slash + 1;
  }
  return "";
}

std::string literal_prefix(std::string_view pattern) {
  std::string_view prefix = pattern;
  const std::size_t star = pattern.find('*');
  if (star != std::string_view::npos) {
    const std::size_t slash = pattern.rfind('/', star);
    prefix = slash == std::string_view::npos ? std::string_view{} : pattern.substr(0, slash);
  }
  if (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return std::string(prefix);
}

struct RouteTable::Impl {
  enum class HostKind : std::uint8_t { any, exact, suffix };

  struct Rule {
    std::vector<std::string> methods;
    HostKind host_kind = HostKind::any;
    std::string host;  // lower-cased; for suffix rules the ".example.com" part, dot included
    std::vector<std::pair<std::string, std::string>> headers;
  };

  struct Node {
    std::string segment;  // the literal segment leading here (empty for root/wildcard nodes)
    std::uint64_t hash = 0;
    std::vector<std::uint32_t> literals;  // literal children
    std::vector<std::uint32_t> slots;  // open-addressed index over `literals` (child + 1), or empty
    std::uint32_t star = no_node;      // "*" child
    std::vector<std::pair<std::string, std::uint32_t>> globs;  // "*.css"-style children
    std::vector<int> exact_rules;  // patterns that end at this node, ascending
    std::vector<int> rest_rules;   // patterns ending in "/**" here, ascending
    int min_rule = INT_MAX;        // smallest rule index in this subtree, for pruning
  };

  // Everything one match needs, passed by reference down the recursion so nothing is copied.
  struct Query {
    std::string_view path;
    std::string_view method;
    std::string_view host;  // port already removed
    const http::Fields& fields;
    int best = INT_MAX;
  };

  std::vector<Node> nodes;
  std::vector<Rule> rules;

  explicit Impl(const std::vector<RouteRule>& input) {
    nodes.emplace_back();  // root
    rules.reserve(input.size());
    // Build-time index of literal children; the node-local tables are filled in at the end once
    // every node's final fan-out is known.
    std::map<std::pair<std::uint32_t, std::string>, std::uint32_t, std::less<>> literal_index;

    for (std::size_t i = 0; i < input.size(); ++i) {
      const int index = static_cast<int>(i);
      rules.push_back(compile_rule(input[i]));
      std::string_view pattern = input[i].path;
      if (pattern.empty() || pattern.front() != '/') continue;  // invalid: can never match

      std::uint32_t node = 0;
      nodes[node].min_rule = std::min(nodes[node].min_rule, index);
      std::size_t pos = 1;
      bool rest = false;
      for (;;) {
        const std::size_t slash = pattern.find('/', pos);
        const std::string_view seg = pattern.substr(
            pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
        if (seg == "**") {
          rest = true;
          break;
        }
        node = child_for(node, seg, literal_index);
        nodes[node].min_rule = std::min(nodes[node].min_rule, index);
        if (slash == std::string_view::npos) break;
        pos = slash + 1;
      }
      (rest ? nodes[node].rest_rules : nodes[node].exact_rules).push_back(index);
    }

    for (Node& n : nodes) build_slots(n);
  }

  static Rule compile_rule(const RouteRule& in) {
    Rule r;
    r.methods = in.methods;
    r.headers = in.headers;
    if (in.host.empty()) {
      r.host_kind = HostKind::any;
    } else if (in.host.size() > 2 && in.host[0] == '*' && in.host[1] == '.') {
      r.host_kind = HostKind::suffix;
      r.host = lower(std::string_view(in.host).substr(1));
    } else {
      r.host_kind = HostKind::exact;
      r.host = lower(host_without_port(in.host));
    }
    return r;
  }

  std::uint32_t child_for(
      std::uint32_t parent, std::string_view raw_seg,
      std::map<std::pair<std::uint32_t, std::string>, std::uint32_t, std::less<>>& index) {
    const std::string seg = normalise_segment(raw_seg);
    const auto fresh = [&] {
      nodes.emplace_back();
      return static_cast<std::uint32_t>(nodes.size() - 1);
    };
    if (seg == "*") {
      if (nodes[parent].star == no_node) {
        const std::uint32_t child = fresh();
        nodes[parent].star = child;
      }
      return nodes[parent].star;
    }
    if (seg.find('*') != std::string::npos) {
      for (const auto& [glob, child] : nodes[parent].globs)
        if (glob == seg) return child;
      const std::uint32_t child = fresh();
      nodes[parent].globs.emplace_back(seg, child);
      return child;
    }
    auto key = std::make_pair(parent, seg);
    if (auto it = index.find(key); it != index.end()) return it->second;
    const std::uint32_t child = fresh();
    nodes[child].segment = seg;
    nodes[child].hash = hash_segment(seg);
    nodes[parent].literals.push_back(child);
    index.emplace(std::move(key), child);
    return child;
  }

  void build_slots(Node& n) {
    if (n.literals.size() <= linear_children_max) return;
    std::size_t cap = 16;
    while (cap < n.literals.size() * 2) cap <<= 1;
    n.slots.assign(cap, 0);
    for (std::uint32_t child : n.literals) {
      std::size_t at = nodes[child].hash & (cap - 1);
      while (n.slots[at] != 0) at = (at + 1) & (cap - 1);
      n.slots[at] = child + 1;
    }
  }

  std::uint32_t find_literal(const Node& n, std::string_view seg) const {
    if (n.slots.empty()) {
      for (std::uint32_t child : n.literals)
        if (nodes[child].segment == seg) return child;
      return no_node;
    }
    const std::uint64_t h = hash_segment(seg);
    const std::size_t mask = n.slots.size() - 1;
    for (std::size_t at = h & mask;; at = (at + 1) & mask) {
      const std::uint32_t slot = n.slots[at];
      if (slot == 0)
        return no_node;  // tables are at most half full, so an empty slot always exists
      const Node& child = nodes[slot - 1];
      if (child.hash == h && child.segment == seg) return slot - 1;
    }
  }

  bool host_matches(const Rule& r, std::string_view host) const {
    switch (r.host_kind) {
      case HostKind::any: return true;
      case HostKind::exact: return http::iequals(host, r.host);
      case HostKind::suffix:
        // Strictly longer than ".example.com": "*.example.com" is about subdomains, not the apex.
        return host.size() > r.host.size() &&
               http::iequals(host.substr(host.size() - r.host.size()), r.host);
    }
    return false;
  }

  bool predicates_pass(const Rule& r, const Query& q) const {
    if (!r.methods.empty()) {
      bool any = false;
      for (const std::string& m : r.methods)
        if (m == q.method) {
          any = true;
          break;
        }
      if (!any) return false;
    }
    if (!host_matches(r, q.host)) return false;
    for (const auto& [name, value] : r.headers) {
      bool found = false;
      for (const http::Field& f : q.fields.items())
        if (http::iequals(f.name, name) && f.value == value) {
          found = true;
          break;
        }
      if (!found) return false;
    }
    return true;
  }

  // Lists are ascending, so the first rule that passes is the best this list can offer, and
  // anything at or past the current best cannot improve it.
  void consider(const std::vector<int>& list, Query& q) const {
    for (int index : list) {
      if (index >= q.best) return;
      if (predicates_pass(rules[static_cast<std::size_t>(index)], q)) {
        q.best = index;
        return;
      }
    }
  }

  // `pos` is where the next path segment starts, or npos when the path is used up. A trie node at
  // depth d is only ever reached after exactly d segments, so each node is visited at most once
  // and the recursion is no deeper than the longest pattern.
  void visit(std::uint32_t id, std::size_t pos, Query& q) const {
    const Node& n = nodes[id];
    if (n.min_rule >= q.best) return;
    consider(n.rest_rules, q);
    if (pos == std::string_view::npos) {
      consider(n.exact_rules, q);
      return;
    }
    const std::size_t slash = q.path.find('/', pos);
    const std::string_view seg =
        q.path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    const std::size_t next = slash == std::string_view::npos ? std::string_view::npos : slash + 1;

    if (!n.literals.empty()) {
      const std::uint32_t child = find_literal(n, seg);
      if (child != no_node) visit(child, next, q);
    }
    if (seg.empty()) return;  // wildcards never match an empty segment
    if (n.star != no_node) visit(n.star, next, q);
    for (const auto& [glob, child] : n.globs)
      if (nodes[child].min_rule < q.best && glob_match(glob, seg)) visit(child, next, q);
  }
};

RouteTable::RouteTable() : impl_(std::make_unique<Impl>(std::vector<RouteRule>{})) {}
RouteTable::RouteTable(const std::vector<RouteRule>& rules)
    : impl_(std::make_unique<Impl>(rules)) {}
RouteTable::~RouteTable() = default;
RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;

int RouteTable::match(std::string_view path, std::string_view method, std::string_view host,
                      const http::Fields& fields) const {
  // Only origin-form paths are routed; "*" (OPTIONS *) and a moved-from table match nothing.
  if (!impl_ || path.empty() || path.front() != '/') return -1;
  Impl::Query q{path, method, host_without_port(host), fields};
  impl_->visit(0, 1, q);
  return q.best == INT_MAX ? -1 : q.best;
}

std::size_t RouteTable::size() const { return impl_ ? impl_->rules.size() : 0; }

}  // namespace portcullis::routing
