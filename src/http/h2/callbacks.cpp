// nghttp2's callbacks for downstream sessions (see callbacks.h).
#include "http/h2/callbacks.h"

#include "http/h2/session.h"
#include "http/h2/stream.h"

namespace portcullis::http::h2 {
namespace {

Session& owner(void* user) { return *static_cast<Session*>(user); }

Request* request_of(nghttp2_session* session, std::int32_t id) {
  return static_cast<Request*>(nghttp2_session_get_stream_user_data(session, id));
}

nghttp2_session_callbacks* make_table() {
  nghttp2_session_callbacks* c = nullptr;
  nghttp2_session_callbacks_new(&c);
  nghttp2_session_callbacks_set_on_begin_headers_callback(c, &Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(c, &Callbacks::on_header);
  nghttp2_session_callbacks_set_on_begin_frame_callback(c, &Callbacks::on_begin_frame);
  nghttp2_session_callbacks_set_on_frame_recv_callback(c, &Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, &Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(c, &Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(c, &Callbacks::on_frame_send);
  return c;
}

}  // namespace

const nghttp2_session_callbacks* Callbacks::table() {
  static nghttp2_session_callbacks* const table = make_table();
  return table;
}

int Callbacks::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    owner(user).open_stream(frame->hd.stream_id);
  return 0;
}

int Callbacks::on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t name_size, const std::uint8_t* value, std::size_t value_size, std::uint8_t,
                         void*) {
  Request* r = request_of(session, frame->hd.stream_id);
  if (!r || frame->hd.type != NGHTTP2_HEADERS) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), name_size);
  const std::string_view v(reinterpret_cast<const char*>(value), value_size);
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) r->stream.add_field(n, v);
  else r->stream.add_trailer(n, v);  // a second block: the request's trailers
  return 0;
}

// Flood budgets, counted as frames begin (before nghttp2 does any work for them).
int Callbacks::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
  Session& s = owner(user);
  switch (hd->type) {
    case NGHTTP2_HEADERS:
      s.block_bytes_ = hd->length;
      break;
    case NGHTTP2_CONTINUATION:
      // A header block that never ends (CVE-2024-27316) is cut here.
      s.block_bytes_ += hd->length;
      if (s.block_bytes_ > s.max_block_bytes_) s.calm_down(Session::Flood::headers);
      break;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PRIORITY:
      // CVE-2019-9512, 9515: frames that cost the gateway work (or an answer) and carry nothing.
      if (!s.control_.take(coarse_now())) s.calm_down(Session::Flood::control);
      break;
    default:
      break;
  }
  return 0;
}

int Callbacks::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  Session& s = owner(user);
  Request* r = request_of(session, frame->hd.stream_id);
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS || (frame->hd.type == NGHTTP2_DATA && frame->hd.length > 0))
    s.last_progress_ = coarse_now();
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (!r) break;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        r->stream.end_headers(end_stream);
        r->starting = true;
        s.starting_.push_back(r);
      } else if (end_stream) {
        r->stream.on_end_stream();  // trailers end the body
      }
      break;
    case NGHTTP2_DATA:
      // Empty DATA frames that do not end the stream carry nothing (CVE-2019-9518).
      if (frame->hd.length == 0 && !end_stream && !s.control_.take(coarse_now()))
        s.calm_down(Session::Flood::control);
      if (r && end_stream) r->stream.on_end_stream();
      break;
    default:
      break;
  }
  return 0;
}

int Callbacks::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                             std::size_t size, void*) {
  if (Request* r = request_of(session, stream_id)) r->stream.on_data(data, size);
  return 0;
}

int Callbacks::on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t, void* user) {
  // The stream's user data is still set while this runs.
  if (Request* r = request_of(session, stream_id)) {
    // A stream reset before its answer ended, by the client (rapid reset, CVE-2023-44487) or by
    // nghttp2 for a stream error the client provoked: each may have cost an origin request.
    Session& s = owner(user);
    // Whatever the error code: a reset with NO_ERROR cuts a stream short all the same.
    if (!r->stream.response_ended() && !r->stream.reset_by_gateway() && !s.resets_.take(coarse_now()))
      s.calm_down(Session::Flood::resets);
    r->stream.on_close();
    owner(user).release(*r);
  }
  return 0;
}

int Callbacks::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void*) {
  if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
  // The answer is complete and the client is still sending a body nobody will read: it may stop
  // (RFC 9113 8.1).
  Request* r = request_of(session, frame->hd.stream_id);
  if (r && !r->stream.request_ended())
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  return 0;
}

}  // namespace portcullis::http::h2
