# nghttp2 (Debian's libnghttp2-dev) as the imported target portcullis::nghttp2: the HTTP/2 framing,
# HPACK and flow control under the downstream HTTP/2 sessions (src/http/h2/). For the build and for
# the installed package's config (installed beside it). Sets PORTCULLIS_NGHTTP2_FOUND.
if(TARGET portcullis::nghttp2)
  set(PORTCULLIS_NGHTTP2_FOUND TRUE)
  return()
endif()
find_path(PORTCULLIS_NGHTTP2_INCLUDE_DIR nghttp2/nghttp2.h)
find_library(PORTCULLIS_NGHTTP2_LIBRARY NAMES nghttp2)
if(PORTCULLIS_NGHTTP2_INCLUDE_DIR AND PORTCULLIS_NGHTTP2_LIBRARY)
  add_library(portcullis::nghttp2 UNKNOWN IMPORTED)
  set_target_properties(portcullis::nghttp2 PROPERTIES
    IMPORTED_LOCATION "${PORTCULLIS_NGHTTP2_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${PORTCULLIS_NGHTTP2_INCLUDE_DIR}")
  set(PORTCULLIS_NGHTTP2_FOUND TRUE)
else()
  set(PORTCULLIS_NGHTTP2_FOUND FALSE)
endif()
