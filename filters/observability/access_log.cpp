// access_log: one JSON line per request (time, request id, method, path, route, service, instance,
// status, bytes, durations), written when the exchange is over. To stdout by default, or
// `args: { path: FILE }`, reopened on SIGUSR1 for log rotation.
#include <charconv>

#include "config/snapshot.h"
#include "observability/access_log.h"
#include "pipeline/registry.h"

namespace portcullis::filters {
namespace {

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, _] = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, end);
}

void append_ms(std::string& out, Clock::duration d) {
  char buf[32];
  double ms = std::chrono::duration<double, std::milli>(d).count();
  auto [end, _] = std::to_chars(buf, buf + sizeof(buf), ms, std::chars_format::fixed, 3);
  out.append(buf, end);
}

void field(std::string& out, const char* name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":\"";
  observability::append_json_escaped(out, value);
  out += '"';
}

class AccessLogFilter final : public Filter {
 public:
  explicit AccessLogFilter(std::shared_ptr<observability::LogSink> sink)
      : Filter("access_log", FilterType::post, 1000), sink_(std::move(sink)) {}

  Outcome run(Context&) const override { return Outcome::proceed; }
  bool wants_completion() const override { return true; }

  void on_complete(const Context& ctx) const override {
    std::string& out = sink_->buffer(ctx.worker);
    out += "{\"time\":\"";
    observability::append_timestamp(out);
    out += '"';
    field(out, "request_id", ctx.request_id);
    field(out, "client", ctx.client_address);
    field(out, "method", ctx.request->method_text);
    field(out, "path", ctx.request->target);
    field(out, "route", ctx.route ? std::string_view(ctx.route->id) : std::string_view{});
    const Service* service = ctx.service ? ctx.service : ctx.route ? ctx.route->service : nullptr;
    field(out, "service", service ? std::string_view(service->name) : std::string_view{});
    if (ctx.variant) field(out, "variant", ctx.variant->name);
    field(out, "instance", ctx.instance ? std::string_view(ctx.instance->address) : std::string_view{});
    out += ",\"status\":";
    append_number(out, static_cast<std::uint64_t>(ctx.response_status));
    out += ",\"bytes_in\":";
    append_number(out, ctx.request_body_bytes);
    out += ",\"bytes_out\":";
    append_number(out, ctx.response_body_bytes);
    out += ",\"duration_ms\":";
    append_ms(out, ctx.end - ctx.start);
    if (ctx.upstream_headers != Clock::time_point{}) {
      out += ",\"upstream_ms\":";
      append_ms(out, ctx.upstream_headers - ctx.upstream_start);
    }
    if (ctx.error) field(out, "error", ctx.error.message);
    out += "}\n";
    sink_->maybe_flush(ctx.worker);
  }

 private:
  std::shared_ptr<observability::LogSink> sink_;
};

}  // namespace

std::unique_ptr<Filter> make_access_log(FilterBuild& build) {
  auto path = build.args.string("path");
  std::string error;
  auto sink = observability::LogSink::open(path.value_or(""), error);
  if (!sink) {
    build.args.error("path", error);
    return nullptr;
  }
  return std::make_unique<AccessLogFilter>(std::move(sink));
}

}  // namespace portcullis::filters
