// Reusing a context for the next request without giving its memory back.
#include "pipeline/context.h"

#include <new>

namespace portcullis {

void Context::reset() {
  // Every field back to its default by rebuilding the object, except the containers, whose
  // capacity is kept: the next request on this context fills them without allocating.
  http::Fields fields = std::move(response_fields);
  fields.clear();
  auto added = std::move(added_response_headers);
  added.clear();
  auto attributes = std::move(attributes_);
  attributes.clear();
  this->~Context();
  new (this) Context();
  response_fields = std::move(fields);
  added_response_headers = std::move(added);
  attributes_ = std::move(attributes);
}

}  // namespace portcullis
