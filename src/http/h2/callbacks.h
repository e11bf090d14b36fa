// nghttp2's callbacks for a downstream session: each turns one event of the protocol into a call
// on the Session or one of its streams, and keeps the flood budgets (see session.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include <nghttp2/nghttp2.h>

namespace portcullis {
struct ServerConfig;
}

namespace portcullis::http::h2 {

struct Callbacks {
  static const nghttp2_session_callbacks* table();  // made once, shared by every session

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t name_size,
                       const std::uint8_t* value, std::size_t value_size, std::uint8_t flags, void* user);
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t size, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
};

// The raw size a request's header block (HEADERS and CONTINUATION frames) may reach before the
// connection is ended: twice the decoded limit, so an honest oversized head gets 431 instead.
std::size_t max_header_block(const ServerConfig& server);

}  // namespace portcullis::http::h2
