// The one translation unit that compiles Asio's implementation (BOOST_ASIO_SEPARATE_COMPILATION),
// its TLS stream included.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
