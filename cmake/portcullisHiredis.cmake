# hiredis (Debian's libhiredis-dev) as the imported target portcullis::hiredis, for the build and
# for the installed package's config (installed beside it). Debian's HiredisConfig.cmake defines no
# target and fails when find_package asks for no version, so it is not used.
# Sets PORTCULLIS_HIREDIS_FOUND.
if(TARGET portcullis::hiredis)
  set(PORTCULLIS_HIREDIS_FOUND TRUE)
  return()
endif()
find_path(PORTCULLIS_HIREDIS_INCLUDE_DIR hiredis/hiredis.h)
find_library(PORTCULLIS_HIREDIS_LIBRARY hiredis)
if(PORTCULLIS_HIREDIS_INCLUDE_DIR AND PORTCULLIS_HIREDIS_LIBRARY)
  add_library(portcullis::hiredis UNKNOWN IMPORTED)
  set_target_properties(portcullis::hiredis PROPERTIES
    IMPORTED_LOCATION "${PORTCULLIS_HIREDIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${PORTCULLIS_HIREDIS_INCLUDE_DIR}")
  set(PORTCULLIS_HIREDIS_FOUND TRUE)
else()
  set(PORTCULLIS_HIREDIS_FOUND FALSE)
endif()
