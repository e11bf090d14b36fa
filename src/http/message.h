// HTTP/1.1 message heads as views into the connection's read buffer: parsing copies nothing, and
// filters that add or change fields store the new text in the request's arena (pipeline/context.h).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace portcullis::http {

struct Field {
  std::string_view name;
  std::string_view value;
};

// ASCII-only case folding on purpose: field names are tokens, and locale-aware tolower would make
// matching depend on the process's locale. Inline: most calls end at the length check.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + ('a' - 'A')) : a[i];
    const char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + ('a' - 'A')) : b[i];
    if (x != y) return false;
  }
  return true;
}

// An ordered list of fields. Small and flat: lookups are linear, which beats hashing for the
// 5-20 fields a real request carries.
class Fields {
 public:
  void clear() { items_.clear(); }
  void add(std::string_view name, std::string_view value) { items_.push_back({name, value}); }
  // First value of `name` (case-insensitive), or an empty view with found=false.
  const Field* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::string_view get(std::string_view name) const {
    const Field* f = find(name);
    return f ? f->value : std::string_view{};
  }
  std::size_t count(std::string_view name) const;
  // Removes every field named `name`; returns how many were removed.
  std::size_t remove(std::string_view name);
  // The same, also for the name spelled with '_' for '-': frameworks that map headers to CGI-style
  // variables read X_Consumer as X-Consumer, so a header the gateway vouches for goes in both forms.
  std::size_t remove_any_spelling(std::string_view name);
  // Replaces all fields named `name` with one.
  void set(std::string_view name, std::string_view value);
  std::vector<Field>& items() { return items_; }
  const std::vector<Field>& items() const { return items_; }
  std::size_t size() const { return items_.size(); }

 private:
  std::vector<Field> items_;
};

enum class Method : std::uint8_t { get, head, post, put, delete_, connect, options, trace, patch, other };
Method method_from(std::string_view text);

struct RequestHead {
  std::string_view method_text;
  Method method = Method::other;
  std::string_view target;  // byte-exact request-target
  int version = 11;         // 10 or 11; 20 for a request that came over HTTP/2
  Fields fields;

  // Derived while parsing:
  std::string_view host;        // from Host, or the authority of an absolute-form target
  std::string_view path;        // target's path (origin-form), before canonicalisation
  std::string_view query;       // without '?'; empty when none
  bool absolute_form = false;
  bool chunked = false;
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool keep_alive = true;       // after Connection/version rules
  bool expect_continue = false;
  bool upgrade = false;         // Connection: upgrade + Upgrade present
  std::size_t head_bytes = 0;   // bytes of the head in the buffer (request line .. empty line)

  // Back to a fresh head; the field list keeps its memory (no allocation per request).
  void reset() {
    Fields kept = std::move(fields);
    kept.clear();
    *this = RequestHead{};
    fields = std::move(kept);
  }
  bool has_body() const { return chunked || content_length > 0; }
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version = 11;
  Fields fields;
  bool chunked = false;
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool keep_alive = true;
  std::size_t head_bytes = 0;

  void reset() {
    Fields kept = std::move(fields);
    kept.clear();
    *this = ResponseHead{};
    fields = std::move(kept);
  }
};

std::string_view reason_phrase(int status);

}  // namespace portcullis::http
