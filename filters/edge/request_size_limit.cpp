// request_size_limit: a pre filter that lowers the request body limit below the server's
// max_request_body_bytes. A Content-Length over the limit is answered 413 before any byte of the
// body is read; otherwise ctx.max_body_bytes carries the limit, and the session enforces it while
// it streams the body (the only way to hold a chunked body to it).
//
//   filters:
//     - name: request_size_limit
//       args: { max_bytes: 1MiB }
#include <limits>

#include "filters/edge/request_size_limit.h"

#include <yaml-cpp/yaml.h>

#include "util/units.h"

namespace portcullis::filters {
namespace {

constexpr int default_order = 2;  // before any filter that reads or waits on the body

class RequestSizeLimitFilter final : public Filter {
 public:
  explicit RequestSizeLimitFilter(std::uint64_t max_bytes)
      : Filter("request_size_limit", FilterType::pre, default_order), max_bytes_(max_bytes) {}

  Outcome run(Context& ctx) const override {
    const http::RequestHead& head = *ctx.request;
    // With no bodies allowed a chunked body is refused at once: it cannot be known to be empty
    // before it is read, and a limit of 0 would mean "the server's limit" to the session.
    if ((head.has_content_length && head.content_length > max_bytes_) || (max_bytes_ == 0 && head.chunked)) {
      ctx.error = {ErrorKind::rejected, ErrorSource::downstream, 413, "request body too large", false};
      return Outcome::fail;
    }
    // Only ever lowers the limit: another filter (or another request_size_limit) may be stricter.
    if (max_bytes_ > 0 && (ctx.max_body_bytes == 0 || max_bytes_ < ctx.max_body_bytes)) ctx.max_body_bytes = max_bytes_;
    return Outcome::proceed;
  }

 private:
  std::uint64_t max_bytes_;
};

}  // namespace

std::unique_ptr<Filter> make_request_size_limit(FilterBuild& build) {
  if (!build.args.node("max_bytes")) {
    build.args.error("max_bytes", "is required (bytes, or a size such as 64KiB, 1MiB, 10KB)");
    return nullptr;
  }
  const auto bytes = build.args.size("max_bytes", 0, std::numeric_limits<std::uint64_t>::max());
  if (!bytes) return nullptr;
  return std::make_unique<RequestSizeLimitFilter>(*bytes);
}

}  // namespace portcullis::filters
