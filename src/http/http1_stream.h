// One HTTP/1.1 request on a Connection, as the Exchange's Downstream: the request body read from
// the connection (decoded from chunked, 100 Continue sent when the body is first needed) and the
// response written to it (the head held until the first body bytes so both leave in one write,
// chunked framing when the length is unknown, Connection: close when the connection ends).
#pragma once
#include <cstdint>
#include <string>

#include <boost/asio/buffer.hpp>

#include "http/buffer.h"
#include "http/downstream.h"
#include "http/exchange.h"
#include "http/parser.h"

namespace portcullis::http {

class Connection;

class Http1Stream final : public Downstream {
 public:
  // Binds to the connection for one request whose head has been parsed into head().
  void begin(Connection& connection);
  // After the exchange: the connection may carry another request only if this is false.
  bool must_close() const { return close_; }
  // Reads and drops a body the exchange did not read (at most 1 MiB, and never one that the
  // client may not send: Expect without 100 Continue); false when the connection must close.
  net::awaitable<bool> discard_body(Context& ctx);
  // Leaves only the bytes of the next pipelined request in the connection's buffer.
  void keep_pipelined();

  RequestHead& head() override { return head_; }
  std::string_view head_bytes() const override;
  const Peer& peer() const override { return peer_; }
  Watchdog& watchdog() override;
  bool client_open() const override;

  bool body_pending() const override { return !body_done_; }
  std::optional<std::string_view> buffered_body() const override;
  void consume_buffered_body() override;
  void rewind_body() override;
  net::awaitable<std::string_view> read_body(Context& ctx, boost::system::error_code& ec) override;

  net::awaitable<bool> send_informational(const ResponseHead& head, std::string_view raw) override;
  void send_head(const ResponseStart& start) override;
  net::awaitable<bool> send_body(std::span<const std::string_view> pieces, bool last) override;
  net::awaitable<bool> end() override;
  bool response_started() const override { return started_; }
  net::awaitable<void> tunnel(Context& ctx, UpstreamConnection& upstream, std::string_view head,
                              std::string_view early) override;

 private:
  net::awaitable<bool> write(std::span<const net::const_buffer> buffers);
  bool fail_body(Context& ctx, ErrorKind kind, const char* message, boost::system::error_code& ec);

  Connection* conn_ = nullptr;
  Peer peer_;
  RequestHead head_;
  ChunkedDecoder chunked_;
  Buffer body_buf_;               // body bytes read after the head's buffer was used up
  std::size_t body_start_ = 0;    // offset of the body in the connection's buffer
  std::size_t body_cursor_ = 0;   // offset of the unread body bytes there
  std::uint64_t body_left_ = 0;   // content-length bytes still to read
  bool body_done_ = true;
  bool buffered_whole_ = false;   // the whole body came with the head
  bool sent_continue_ = false;
  std::string out_;               // the serialised response head (capacity kept)
  bool head_pending_ = false;     // out_ holds a head not written yet
  bool started_ = false;          // response bytes went out
  bool chunked_out_ = false;      // the body is framed as chunks
  bool terminated_ = false;       // the last chunk went out
  bool close_ = false;            // the connection ends after this response
};

// What the worker keeps between requests: the stream state and the exchange, with their buffers.
struct Http1Request {
  explicit Http1Request(WorkerContext& worker) : exchange(worker) {}
  Http1Stream stream;
  Exchange exchange;
};

}  // namespace portcullis::http
