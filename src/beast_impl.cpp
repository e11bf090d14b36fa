// The one translation unit that compiles Beast's implementation (BOOST_BEAST_SEPARATE_COMPILATION).
// Beast serves the HTTP that is not the data path (the control-plane client); the data path keeps
// the gateway's own strict parser (docs/architecture.md).
#include <boost/beast/src.hpp>
