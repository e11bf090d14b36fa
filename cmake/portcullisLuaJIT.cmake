# LuaJIT (Debian's libluajit2-5.1-dev) as the imported target portcullis::luajit, for the build and
# for the installed package's config (installed beside it). Sets PORTCULLIS_LUAJIT_FOUND.
if(TARGET portcullis::luajit)
  set(PORTCULLIS_LUAJIT_FOUND TRUE)
  return()
endif()
find_path(PORTCULLIS_LUAJIT_INCLUDE_DIR luajit.h PATH_SUFFIXES luajit-2.1)
find_library(PORTCULLIS_LUAJIT_LIBRARY NAMES luajit-5.1)
if(PORTCULLIS_LUAJIT_INCLUDE_DIR AND PORTCULLIS_LUAJIT_LIBRARY)
  add_library(portcullis::luajit UNKNOWN IMPORTED)
  set_target_properties(portcullis::luajit PROPERTIES
    IMPORTED_LOCATION "${PORTCULLIS_LUAJIT_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${PORTCULLIS_LUAJIT_INCLUDE_DIR}")
  set(PORTCULLIS_LUAJIT_FOUND TRUE)
else()
  set(PORTCULLIS_LUAJIT_FOUND FALSE)
endif()
