// One HTTP/2 stream as the Exchange's Downstream: the request head made from the HEADERS block
// (pseudo-headers to method, target and Host; cookie crumbs joined), the request body from its DATA
// frames (the flow-control window reopened as the exchange reads it, so a client can send only as
// fast as the origin takes it), and the response handed to nghttp2 as HEADERS, DATA and the end of
// the stream, with the output bounded per stream.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "http/downstream.h"
#include "http/exchange.h"
#include "http/h2/header_block.h"
#include "http/h2/nv_list.h"
#include "http/h2/wakeup.h"
#include "http/watchdog.h"

namespace portcullis::http::h2 {

class Session;

class Stream final : public Downstream {
 public:
  explicit Stream(boost::asio::io_context& ioc) : watchdog_(ioc), wakeup_(ioc), in_wakeup_(ioc) {}

  // --- what the session tells the stream ---------------------------------------------------
  void begin(Session& session, std::int32_t id);
  std::int32_t id() const { return id_; }
  // A field of the request's header block; false once the block is over the limits (it is then
  // answered with 431 and not forwarded).
  void add_field(std::string_view name, std::string_view value);
  // The header block is complete: the request head is built. `ended`: END_STREAM came with it.
  void end_headers(bool ended);
  // 0 when the head can be served, else the status the gateway answers with itself, and why.
  int refusal() const { return refusal_; }
  const char* refusal_message() const { return refusal_message_; }
  void add_trailer(std::string_view name, std::string_view value);
  void on_data(const std::uint8_t* data, std::size_t size);
  void on_end_stream();
  void on_close();
  void on_client_eof();  // the client closed its side
  // The exchange is about to start: a body that has arrived whole goes out in one write.
  void prepare_body();
  // The exchange is over: a response not ended is reset; unread body bytes are given back to the
  // connection's window.
  void after_exchange();
  bool closed() const { return closed_; }
  bool request_ended() const { return body_ended_; }
  bool response_ended() const { return out_ended_ && !head_pending_; }
  bool reset_by_gateway() const { return reset_; }  // a zero-window client, a response cut short
  // nghttp2's data source callback for the response body.
  static ssize_t read_data(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*);
  // A response the gateway makes itself before any exchange (431, 501): head and a short JSON body.
  void answer(int status, const char* message);

  // --- Downstream ----------------------------------------------------------------------------
  RequestHead& head() override { return head_; }
  std::string_view head_bytes() const override { return {}; }
  const Peer& peer() const override { return peer_; }
  Watchdog& watchdog() override { return watchdog_; }
  bool client_open() const override;

  bool body_pending() const override { return !body_done_; }
  std::optional<std::string_view> buffered_body() const override;
  void consume_buffered_body() override;
  void rewind_body() override;
  net::awaitable<std::string_view> read_body(Context& ctx, boost::system::error_code& ec) override;
  void abandon_body() override;
  const Fields* request_trailers() const override;

  net::awaitable<bool> send_informational(const ResponseHead& head, std::string_view raw) override;
  void send_head(const ResponseStart& start) override;
  net::awaitable<bool> send_body(std::span<const std::string_view> pieces, bool last) override;
  net::awaitable<bool> end() override;
  void set_trailers(const Fields& trailers) override;
  bool response_started() const override { return submitted_; }
  net::awaitable<void> tunnel(Context&, UpstreamConnection&, std::string_view, std::string_view) override {
    co_return;  // never reached: an HTTP/2 request carries no Upgrade
  }

 private:
  void consume(std::size_t n);
  bool submit(bool with_body);
  void reset_stream(std::uint32_t code);
  // Copies `fields` (names lower-cased, connection-specific ones left out) and the gateway's own
  // fields into fields_, after `:status`.
  void build_fields(int status, const Fields& fields, const ResponseStart* start);

  Session* session_ = nullptr;
  std::int32_t id_ = 0;
  Peer peer_;
  Watchdog watchdog_;
  Wakeup wakeup_;     // the exchange waiting for its output to drain
  Wakeup in_wakeup_;  // a read of the request body waiting for bytes (it may run beside the response)

  // The request head: the fields' bytes in text_, their offsets in spans_ until the block ends.
  RequestHead head_;
  std::string text_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> spans_;  // (offset, name size), value follows
  std::vector<std::uint32_t> value_sizes_;
  std::size_t list_bytes_ = 0;  // RFC 9113 counting: name + value + 32 a field
  int refusal_ = 0;
  const char* refusal_message_ = "";
  bool expect_continue_ = false;  // the client waits for 100 Continue before it sends the body

  // The request body.
  std::string in_;         // received, not yet read by the exchange
  std::string reading_;    // the piece read_body returned last
  std::uint64_t received_ = 0, consumed_ = 0;
  bool body_ended_ = false;  // END_STREAM received
  bool body_done_ = true;    // the exchange has read all of it
  bool whole_ = false;       // the body was all there when the exchange started (in_ holds it)
  bool discarding_ = false;  // nobody reads the body any more: its bytes are dropped as they come
  bool body_cut_ = false;    // the client closed its side before the body ended
  bool reset_ = false;       // the gateway reset the stream
  bool abandoned_ = false;   // abandon_body(): reads end at once
  HeaderBlock trailers_in_;  // the request's trailers (dropped whole past the header list limit)
  bool trailers_dropped_ = false;

  // The response.
  NvList fields_;                    // the response head's fields (names lower-cased)
  std::string out_;                  // body bytes not yet taken by nghttp2, from out_sent_
  std::size_t out_sent_ = 0;
  bool head_pending_ = false;        // send_head stored a head not submitted yet
  bool bodiless_ = false;
  bool submitted_ = false;           // HEADERS handed to nghttp2
  bool out_ended_ = false;           // the body's end handed over
  bool deferred_ = false;            // nghttp2 waits for more body bytes
  bool closed_ = true;               // nghttp2 closed the stream (or it has not begun)
  // The response's trailers (set_trailers), sent after the last DATA frame.
  NvList trailers_out_;
};

// What a session keeps per stream and reuses: the stream state and the exchange.
struct Request : std::enable_shared_from_this<Request> {
  explicit Request(WorkerContext& worker);
  static std::shared_ptr<Request> make(WorkerContext& worker);
  Stream stream;
  Exchange exchange;
  bool starting = false;  // its header block completed in the read being processed
  bool running = false;   // the exchange coroutine has started and not ended
};

}  // namespace portcullis::http::h2
