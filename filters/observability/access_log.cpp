// access_log: one JSON line per request (time, request id, method, path, route, service, instance,
// status, bytes, durations), written when the exchange is over. To stdout by default, or
// `args: { path: FILE }`, reopened on SIGUSR1 for log rotation.

#include "config/runtime_state.h"
#include "config/snapshot.h"
#include "observability/access_log.h"
#include "pipeline/registry.h"

namespace portcullis::filters {
namespace {

// Milliseconds with three decimals ("12.345"), from whole microseconds: no floating point.
void put_ms(StringWriter& out, Clock::duration d) {
  const auto us = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  out.number(static_cast<std::uint64_t>(us / 1000));
  const int frac = static_cast<int>(us % 1000);
  const char tail[4] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                        static_cast<char>('0' + frac % 10)};
  out.put({tail, sizeof(tail)});
}

// ,"name":"value" with the value escaped.
void field(StringWriter& out, std::string_view name, std::string_view value) {
  out.put(",\"");
  out.put(name);
  out.put("\":\"");
  observability::append_json_escaped(out, value);
  out.put('"');
}

class AccessLogFilter final : public Filter {
 public:
  explicit AccessLogFilter(std::shared_ptr<observability::LogSink> sink)
      : Filter("access_log", FilterType::post, 1000), sink_(std::move(sink)) {}

  Outcome run(Context&) const override { return Outcome::proceed; }
  bool wants_completion() const override { return true; }

  void on_complete(const Context& ctx) const override {
    {
      StringWriter out(sink_->buffer(ctx.worker), 512 + ctx.request->target.size() * 6);
      out.put("{\"time\":\"");
      observability::append_timestamp(out);
      out.put('"');
      field(out, "request_id", ctx.request_id);
      field(out, "client", ctx.client_address);
      field(out, "method", ctx.request->method_text);
      const int version = ctx.request->version;
      field(out, "protocol", version == 20 ? "HTTP/2.0" : version == 10 ? "HTTP/1.0" : "HTTP/1.1");
      field(out, "path", ctx.request->target);
      field(out, "route", ctx.route ? std::string_view(ctx.route->id) : std::string_view{});
      const Service* service = ctx.service ? ctx.service : ctx.route ? ctx.route->service : nullptr;
      field(out, "service", service ? std::string_view(service->name) : std::string_view{});
      if (ctx.variant) field(out, "variant", ctx.variant->name);
      field(out, "instance", ctx.instance ? std::string_view(ctx.instance->address) : std::string_view{});
      out.put(",\"status\":");
      out.number(static_cast<std::uint64_t>(ctx.response_status));
      out.put(",\"bytes_in\":");
      out.number(ctx.request_body_bytes);
      out.put(",\"bytes_out\":");
      out.number(ctx.response_body_bytes);
      out.put(",\"duration_ms\":");
      put_ms(out, ctx.end - ctx.start);
      if (ctx.upstream_headers != Clock::time_point{}) {
        out.put(",\"upstream_ms\":");
        put_ms(out, ctx.upstream_headers - ctx.upstream_start);
      }
      if (ctx.error) field(out, "error", ctx.error.message);
      out.put("}\n");
    }
    sink_->maybe_flush(ctx.worker);
  }

 private:
  std::shared_ptr<observability::LogSink> sink_;
};

}  // namespace

std::unique_ptr<Filter> make_access_log(FilterBuild& build) {
  auto path = build.args.string("path");
  std::string error;
  auto sink = build.state.access_log(path.value_or(""), error);
  if (!sink) {
    build.args.error("path", error);
    return nullptr;
  }
  return std::make_unique<AccessLogFilter>(std::move(sink));
}

}  // namespace portcullis::filters
