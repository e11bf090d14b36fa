// One HTTP/2 stream's request and response (see stream.h).
#include "http/h2/stream.h"

#include <charconv>
#include <cstring>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/error_response.h"
#include "http/forwarding.h"
#include "http/h2/session.h"
#include "util/clock.h"
#include "util/http_date.h"

namespace portcullis::http::h2 {
namespace {

constexpr std::size_t kOutHighWater = 64 * 1024;  // response bytes a stream may have waiting

}  // namespace

Request::Request(WorkerContext& worker) : stream(worker.io()), exchange(worker) {}

std::shared_ptr<Request> Request::make(WorkerContext& worker) {
  auto request = std::make_shared<Request>(worker);
  request->stream.watchdog().bind(request);  // a pending deadline keeps the request it is in
  return request;
}

void Stream::begin(Session& session, std::int32_t id) {
  session_ = &session;
  id_ = id;
  peer_ = session.peer();
  watchdog_.clear();
  head_.reset();
  text_.clear();
  spans_.clear();
  value_sizes_.clear();
  list_bytes_ = 0;
  refusal_ = 0;
  refusal_message_ = "";
  expect_continue_ = false;
  in_.clear();
  reading_.clear();
  received_ = consumed_ = 0;
  body_ended_ = whole_ = discarding_ = body_cut_ = reset_ = abandoned_ = false;
  trailers_out_.clear();
  trailers_in_.clear();
  trailers_dropped_ = false;
  body_done_ = true;
  fields_.clear();
  out_.clear();
  out_sent_ = 0;
  head_pending_ = bodiless_ = submitted_ = out_ended_ = deferred_ = false;
  closed_ = false;
}

bool Stream::client_open() const { return !closed_ && session_->alive(); }

// --- the request head --------------------------------------------------------------------------

void Stream::add_field(std::string_view name, std::string_view value) {
  if (refusal_ != 0) return;
  list_bytes_ += name.size() + value.size() + 32;
  if (list_bytes_ > session_->max_header_bytes() || spans_.size() >= session_->max_header_count() + 4) {
    refusal_ = 431;
    refusal_message_ = "request header section too large";
    return;
  }
  spans_.emplace_back(static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(name.size()));
  value_sizes_.push_back(static_cast<std::uint32_t>(value.size()));
  text_.append(name);
  text_.append(value);
}

void Stream::end_headers(bool ended) {
  body_ended_ = ended;
  if (refusal_ != 0) return;
  // Cookie crumbs are joined into one field for HTTP/1.1 (RFC 9113 8.2.3), appended to text_
  // before any view into it is taken.
  std::size_t cookies = 0;
  for (const auto& [offset, size] : spans_) cookies += std::string_view(text_).substr(offset, size) == "cookie";
  const std::size_t joined_at = text_.size();
  if (cookies > 1) {
    for (std::size_t i = 0; i < spans_.size(); ++i) {
      if (std::string_view(text_).substr(spans_[i].first, spans_[i].second) != "cookie") continue;
      if (text_.size() != joined_at) text_ += "; ";
      text_.append(text_, spans_[i].first + spans_[i].second, value_sizes_[i]);  // append copes with itself
    }
  }
  const std::string_view text = text_;
  std::string_view method, path, authority, host;
  bool cookie_added = false;
  head_.fields.add("host", {});  // first, as HTTP/1.1 clients send it; its value is set below
  for (std::size_t i = 0; i < spans_.size(); ++i) {
    const std::string_view name = text.substr(spans_[i].first, spans_[i].second);
    const std::string_view value = text.substr(spans_[i].first + spans_[i].second, value_sizes_[i]);
    if (name == ":method") method = value;
    else if (name == ":path") path = value;
    else if (name == ":authority") authority = value;
    else if (name == "host") host = value;
    else if (name.front() == ':') continue;  // :scheme (nghttp2 checked the set)
    else if (name == "cookie" && cookies > 1) {
      if (!cookie_added) head_.fields.add("cookie", text.substr(joined_at));
      cookie_added = true;
    } else {
      head_.fields.add(name, value);
    }
  }
  // RFC 9113 8.3.1: a Host that names another authority than :authority makes the request malformed.
  if (!authority.empty() && !host.empty() && !iequals(authority, host)) {
    refusal_ = 400;
    refusal_message_ = "Host and :authority differ";
    return;
  }
  if (authority.empty()) authority = host;
  head_.fields.items().front().value = authority;
  head_.method_text = method;
  head_.method = method_from(method);
  if (head_.method == Method::connect) {
    refusal_ = 501;
    refusal_message_ = "CONNECT is not supported";
    return;
  }
  head_.target = path;
  const std::size_t q = path.find('?');
  head_.path = path.substr(0, q);
  head_.query = q == std::string_view::npos ? std::string_view{} : path.substr(q + 1);
  head_.host = authority;
  head_.version = 20;
  if (const std::string_view length = head_.fields.get("content-length"); !length.empty()) {
    head_.has_content_length =
        std::from_chars(length.data(), length.data() + length.size(), head_.content_length).ec == std::errc();
  }
  // A body of unknown length goes to an HTTP/1.1 origin chunked.
  head_.chunked = !ended && !head_.has_content_length;
  body_done_ = !head_.has_body();
  expect_continue_ = !body_done_ && iequals(head_.fields.get("expect"), "100-continue");
}

// --- the request body --------------------------------------------------------------------------

void Stream::on_data(const std::uint8_t* data, std::size_t size) {
  // The connection's window reopens at once, so a stream whose origin is slow never holds up the
  // others; the stream's own window reopens only as the exchange reads (consume()), which bounds
  // what a stream buffers to initial_stream_window.
  received_ += size;
  nghttp2_session_consume_connection(session_->native(), size);
  if (discarding_) {
    consume(size);
    return;
  }
  in_.append(reinterpret_cast<const char*>(data), size);
  in_wakeup_.notify();
}

void Stream::add_trailer(std::string_view name, std::string_view value) {
  if (trailers_dropped_) return;
  if (!trailers_in_.add(name, value, session_->max_header_bytes())) {
    trailers_dropped_ = true;
    trailers_in_.clear();
  }
}

const Fields* Stream::request_trailers() const {
  if (!body_ended_ || trailers_in_.fields.items().empty()) return nullptr;
  return &trailers_in_.fields;
}

void Stream::on_end_stream() {
  trailers_in_.finish();
  body_ended_ = true;
  in_wakeup_.notify();
}

void Stream::on_close() {
  closed_ = true;
  consumed_ = received_;  // the stream's window is gone with it; the connection's was reopened already
  wakeup_.notify();
  in_wakeup_.notify();
}

void Stream::on_client_eof() {
  if (body_ended_) return;
  body_cut_ = true;  // the client sends nothing more: a body still coming never will
  in_wakeup_.notify();
}

void Stream::consume(std::size_t n) {
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, received_ - consumed_));
  if (n == 0 || !session_->alive()) return;
  consumed_ += n;
  nghttp2_session_consume_stream(session_->native(), id_, n);
  session_->want_write();
}

void Stream::prepare_body() {
  // With trailers the body stays chunked for HTTP/1.1 origins: a Content-Length body has no room for them.
  if (!body_ended_ || !head_.has_body() || consumed_ != 0 || !trailers_in_.fields.items().empty()) return;
  // All of it is here: sent with the request head in one write, and again on a retry.
  whole_ = true;
  head_.chunked = false;
  head_.has_content_length = true;
  head_.content_length = in_.size();
  body_done_ = !head_.has_body();
}

std::optional<std::string_view> Stream::buffered_body() const {
  if (!whole_) return std::nullopt;
  return std::string_view(in_);
}

void Stream::consume_buffered_body() {
  body_done_ = true;
  consume(in_.size());
}

void Stream::rewind_body() {
  if (whole_) body_done_ = !head_.has_body();
}

net::awaitable<std::string_view> Stream::read_body(Context& ctx, boost::system::error_code& ec) {
  const ServerConfig& server = ctx.snapshot->config.server;
  auto fail = [&](ErrorKind kind, const char* message, boost::system::error_code code) {
    ctx.error = {kind, ErrorSource::downstream, 0, message};
    ec = code;
    return std::string_view{};
  };
  if (whole_) {
    if (body_done_) co_return std::string_view{};
    body_done_ = true;
    consume(in_.size());
    ctx.request_body_bytes += in_.size();
    co_return std::string_view(in_);
  }
  while (true) {
    if (abandoned_) {
      ec = boost::asio::error::operation_aborted;
      co_return std::string_view{};
    }
    if (!in_.empty()) {
      reading_.swap(in_);
      in_.clear();
      consume(reading_.size());
      ctx.request_body_bytes += reading_.size();
      if (ctx.request_body_bytes > ctx.body_limit(server.max_request_body_bytes))
        co_return fail(ErrorKind::body_too_large, "request body too large", boost::asio::error::message_size);
      co_return std::string_view(reading_);
    }
    if (body_ended_) {
      body_done_ = true;
      co_return std::string_view{};
    }
    if (!client_open() || body_cut_)
      co_return fail(ErrorKind::bad_request, "request body cut short", boost::asio::error::connection_reset);
    if (expect_continue_) {
      // The body is wanted now: the client that asked may send it (RFC 9110 10.1.1).
      expect_continue_ = false;
      static const Fields none;
      build_fields(100, none, nullptr);
      nghttp2_submit_headers(session_->native(), NGHTTP2_FLAG_NONE, id_, nullptr, fields_.entries().data(),
                           fields_.entries().size(), nullptr);
      session_->want_write();
    }
    const bool woken = co_await in_wakeup_.wait(coarse_now() + server.idle_timeout);
    if (!woken && !abandoned_)
      co_return fail(ErrorKind::bad_request, "request body not sent in time", boost::asio::error::timed_out);
  }
}

void Stream::abandon_body() {
  abandoned_ = true;
  in_wakeup_.notify();
}

// --- the response --------------------------------------------------------------------------------

void Stream::build_fields(int status, const Fields& fields, const ResponseStart* start) {
  const bool has_connection = fields.contains("connection");
  char length[24];
  std::string_view content_length;
  if (start && start->content_length >= 0) {
    const auto r = std::to_chars(length, length + sizeof(length), static_cast<std::uint64_t>(start->content_length));
    content_length = std::string_view(length, static_cast<std::size_t>(r.ptr - length));
  }
  fields_.clear();
  auto put = [&](std::string_view name, std::string_view value, bool fold, std::string_view prefix = {}) {
    fields_.add(name, value, fold, prefix);
  };
  const char code[3] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                        static_cast<char>('0' + status % 10)};
  put(":status", std::string_view(code, 3), false);
  bool has_request_id = false, has_date = false, has_server = false;
  for (const auto& f : fields.items()) {
    if (skip_forwarding(fields, f.name, has_connection) || iequals(f.name, "content-length") || f.name.empty()) continue;
    has_request_id = has_request_id || iequals(f.name, "x-request-id");
    has_date = has_date || iequals(f.name, "date");
    has_server = has_server || iequals(f.name, "server");
    put(f.name, f.value, true);
  }
  if (start) {
    if (!has_date) put("date", http_date_now(), false);
    if (start->server_header && !has_server) put("server", "portcullis", false);
    if (!has_request_id && !start->request_id.empty()) put("x-request-id", start->request_id, false);
    if (!start->via.empty()) put("via", start->via, false, start->via_http2 ? "2 " : "1.1 ");
    if (!content_length.empty()) put("content-length", content_length, false);
  }
  fields_.finish();
}

bool Stream::submit(bool with_body) {
  nghttp2_data_provider provider;
  provider.source.ptr = this;
  provider.read_callback = &Stream::read_data;
  const int rv = nghttp2_submit_response(session_->native(), id_, fields_.entries().data(), fields_.entries().size(),
                                         with_body ? &provider : nullptr);
  head_pending_ = false;
  submitted_ = true;
  session_->want_write();
  return rv == 0;
}

void Stream::reset_stream(std::uint32_t code) {
  if (closed_ || reset_ || !session_->alive()) return;
  reset_ = true;
  nghttp2_submit_rst_stream(session_->native(), NGHTTP2_FLAG_NONE, id_, code);
  session_->want_write();
}

ssize_t Stream::read_data(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* s = static_cast<Stream*>(source->ptr);
  const std::size_t n = std::min(length, s->out_.size() - s->out_sent_);
  std::memcpy(buf, s->out_.data() + s->out_sent_, n);
  s->out_sent_ += n;
  if (s->out_sent_ == s->out_.size()) {
    s->out_.clear();
    s->out_sent_ = 0;
    if (s->out_ended_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      // Trailers end the stream instead of the last DATA frame.
      const auto& trailers = s->trailers_out_.entries();
      if (!trailers.empty() &&
          nghttp2_submit_trailer(s->session_->native(), s->id_, trailers.data(), trailers.size()) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    } else if (n == 0) {
      s->deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  s->wakeup_.notify();  // a body waiting for room goes on
  return static_cast<ssize_t>(n);
}

net::awaitable<bool> Stream::send_informational(const ResponseHead& head, std::string_view) {
  if (!client_open()) co_return false;
  if (head.status == 101) co_return true;
  if (head.status == 100) {
    if (!expect_continue_) co_return true;  // one 100 at most, and only to a client that asked
    expect_continue_ = false;
  }
  build_fields(head.status, head.fields, nullptr);
  nghttp2_submit_headers(session_->native(), NGHTTP2_FLAG_NONE, id_, nullptr, fields_.entries().data(),
                           fields_.entries().size(), nullptr);
  session_->want_write();
  co_return true;
}

void Stream::send_head(const ResponseStart& start) {
  // Copied now: the fields are views into the origin's buffer, which the exchange reuses.
  build_fields(start.status, *start.fields, &start);
  bodiless_ = start.bodiless;
  head_pending_ = true;
}

net::awaitable<bool> Stream::send_body(std::span<const std::string_view> pieces, bool last) {
  if (!client_open()) co_return false;
  if (head_pending_ && bodiless_) {
    out_ended_ = true;
    co_return submit(false);
  }
  if (out_sent_ > 0) {
    out_.erase(0, out_sent_);
    out_sent_ = 0;
  }
  for (std::string_view piece : pieces) out_.append(piece);
  if (last) out_ended_ = true;
  if (head_pending_) {
    // A response that ends with its head has no DATA frame (trailers follow a DATA frame).
    if (!submit(!(last && out_.empty() && trailers_out_.empty()))) co_return false;
  } else if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(session_->native(), id_);
    session_->want_write();
  }
  // A client that does not read (a zero window) holds at most this much of the gateway's memory,
  // and for at most the idle timeout.
  const auto deadline = coarse_now() + session_->server().idle_timeout;
  while (out_.size() - out_sent_ > kOutHighWater && client_open()) {
    const bool woken = co_await wakeup_.wait(deadline);
    if (!woken) {
      reset_stream(NGHTTP2_CANCEL);
      co_return false;
    }
  }
  co_return client_open();
}

net::awaitable<bool> Stream::end() {
  if (submitted_ && out_ended_) co_return client_open();
  co_return co_await send_body({}, true);
}

void Stream::set_trailers(const Fields& trailers) {
  // Names lower-cased; pseudo-fields and connection-specific fields never go in trailers.
  trailers_out_.clear();
  for (const auto& f : trailers.items()) {
    if (f.name.empty() || f.name.front() == ':' || is_hop_by_hop(f.name) || iequals(f.name, "content-length")) continue;
    trailers_out_.add(f.name, f.value, true);
  }
  trailers_out_.finish();
}

void Stream::after_exchange() {
  discarding_ = true;
  if (closed_ || !session_->alive()) return;
  // Unread body bytes reopen the stream's window (the connection's reopened when they came).
  consume(in_.size());
  in_.clear();
  if (!response_ended()) reset_stream(NGHTTP2_INTERNAL_ERROR);
}

void Stream::answer(int status, const char* message) {
  discarding_ = true;
  consume(received_ - consumed_);
  out_ = error_body(status, message, {});
  out_sent_ = 0;
  Fields fields;
  fields.add("content-type", "application/json");
  ResponseStart start;
  start.status = status;
  start.fields = &fields;
  start.content_length = static_cast<std::int64_t>(out_.size());
  build_fields(status, fields, &start);
  out_ended_ = true;
  submit(true);
}

}  // namespace portcullis::http::h2
