# Findlibp11: libp11 ships only a pkg-config file (no CMake config), on Debian and elsewhere.
# Defines the imported target libp11::libp11.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_LIBP11 QUIET libp11)
endif()
find_path(LIBP11_INCLUDE_DIR libp11.h HINTS ${PC_LIBP11_INCLUDE_DIRS})
find_library(LIBP11_LIBRARY NAMES p11 libp11 HINTS ${PC_LIBP11_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(libp11 REQUIRED_VARS LIBP11_LIBRARY LIBP11_INCLUDE_DIR
                                  VERSION_VAR PC_LIBP11_VERSION)
if(libp11_FOUND AND NOT TARGET libp11::libp11)
  add_library(libp11::libp11 UNKNOWN IMPORTED)
  set_target_properties(libp11::libp11 PROPERTIES IMPORTED_LOCATION "${LIBP11_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${LIBP11_INCLUDE_DIR}")
endif()
mark_as_advanced(LIBP11_INCLUDE_DIR LIBP11_LIBRARY)
