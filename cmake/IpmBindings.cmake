# The C++ and Python bindings: header-only C++ over libipm (ipm.hpp, and the
# DUNE-DAQ API in Sender.hpp / Receiver.hpp / Subscriber.hpp), and the Python
# package `ipm` (ctypes over libipm.so). Included by the top-level
# CMakeLists.txt after core/, so that the ipm target exists.
#
# Both bindings are optional parts of the build:
#   - C++ is enabled only if a C++ compiler exists (check_language); the
#     headers are installed either way, and the C++ tests need the compiler.
#   - The DUNE headers include <nlohmann/json.hpp>; without nlohmann_json
#     (Debian nlohmann-json3-dev) they are still installed but not tested,
#     and ipm::dune is not defined.
#   - Python needs no compiler; its tests need a python3 that can import
#     pytest (IPM_PYTHON).
#
# Targets (also exported by find_package(ipm)):
#   ipm::ipmcxx   INTERFACE: ipm.hpp, C++17, links ipm::ipm
#   ipm::dune     INTERFACE: the DUNE-DAQ headers, links ipm::ipmcxx and
#                 nlohmann_json::nlohmann_json (exported in its own file,
#                 loaded by ipmConfig.cmake only where nlohmann_json is found)

include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  set(IPM_HAVE_CXX ON)
else()
  set(IPM_HAVE_CXX OFF)
  message(STATUS "ipm: no C++ compiler found; the C++ bindings are installed but not tested")
endif()

find_package(nlohmann_json 3 QUIET)
if(NOT nlohmann_json_FOUND)
  message(STATUS "ipm: nlohmann_json not found (Debian: nlohmann-json3-dev); the DUNE-DAQ "
                 "headers (ipm/Sender.hpp, Receiver.hpp, Subscriber.hpp) are installed but "
                 "their tests are not built, and ipm::dune is not defined")
endif()

set(IPM_CXX_HEADERS
  ${PROJECT_SOURCE_DIR}/include/ipm/ipm.hpp
  ${PROJECT_SOURCE_DIR}/include/ipm/Sender.hpp
  ${PROJECT_SOURCE_DIR}/include/ipm/Receiver.hpp
  ${PROJECT_SOURCE_DIR}/include/ipm/Subscriber.hpp)
set(IPM_CXX_DETAIL_HEADERS
  ${PROJECT_SOURCE_DIR}/include/ipm/detail/cxx.hpp
  ${PROJECT_SOURCE_DIR}/include/ipm/detail/dune.hpp)

# Properties are set directly rather than with target_compile_features, which
# would need CXX enabled in this build; the consumer's compiler honours them.
add_library(ipmcxx INTERFACE)
add_library(ipm::ipmcxx ALIAS ipmcxx)
target_link_libraries(ipmcxx INTERFACE ipm)
set_property(TARGET ipmcxx PROPERTY INTERFACE_COMPILE_FEATURES cxx_std_17)

if(nlohmann_json_FOUND)
  add_library(ipmdune INTERFACE)
  add_library(ipm::dune ALIAS ipmdune)
  set_target_properties(ipmdune PROPERTIES EXPORT_NAME dune)
  target_link_libraries(ipmdune INTERFACE ipmcxx nlohmann_json::nlohmann_json)
endif()

# ------------------------------------------------------------ install
install(FILES ${IPM_CXX_HEADERS}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ipm COMPONENT Development)
install(FILES ${IPM_CXX_DETAIL_HEADERS}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ipm/detail COMPONENT Development)
install(TARGETS ipmcxx EXPORT ipmTargets)
if(TARGET ipmdune)
  install(TARGETS ipmdune EXPORT ipmDuneTargets)
  install(EXPORT ipmDuneTargets NAMESPACE ipm:: FILE ipmDuneTargets.cmake
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ipm COMPONENT Development)
endif()

# The Python package goes to IPM_PYTHON_INSTALL_DIR (relative to the prefix:
# lib/python3/dist-packages, where Debian's python3 looks under /usr and
# /usr/local; elsewhere add it to PYTHONPATH). It finds libipm.so through
# _install.py, written here with the path from the package to the library
# directory, relative so that the prefix can be moved.
set(IPM_PYTHON_INSTALL_DIR lib/python3/dist-packages
    CACHE STRING "Where the Python package ipm is installed, relative to the prefix")
mark_as_advanced(IPM_PYTHON_INSTALL_DIR)
if(IS_ABSOLUTE "${IPM_PYTHON_INSTALL_DIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(_ipm_py_libdir "${CMAKE_INSTALL_FULL_LIBDIR}")
else()
  file(RELATIVE_PATH _ipm_py_libdir "/ipm-prefix/${IPM_PYTHON_INSTALL_DIR}/ipm"
       "/ipm-prefix/${CMAKE_INSTALL_LIBDIR}")
endif()
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/python/_install.py CONTENT
"# Written by cmake --install: where libipm.so is, relative to this package.\n\
LIBDIR = \"${_ipm_py_libdir}\"\n\
SONAME = \"$<TARGET_SONAME_FILE_NAME:ipm>\"\n")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/ipm
  DESTINATION ${IPM_PYTHON_INSTALL_DIR} COMPONENT Runtime
  PATTERN __pycache__ EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/python/_install.py
  DESTINATION ${IPM_PYTHON_INSTALL_DIR}/ipm COMPONENT Runtime)

# A python3 that can run the pytest suite: Debian's own (/usr/bin/python3,
# with python3-pytest) is preferred over whatever python3 comes first on
# PATH (a pyenv or venv one may lack pytest).
if(NOT IPM_PYTHON)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  foreach(candidate /usr/bin/python3 ${Python3_EXECUTABLE})
    if(EXISTS ${candidate})
      execute_process(COMMAND ${candidate} -c "import pytest, ctypes"
        RESULT_VARIABLE _ipm_py_rc OUTPUT_QUIET ERROR_QUIET)
      if(_ipm_py_rc EQUAL 0)
        set(IPM_PYTHON ${candidate} CACHE FILEPATH "python3 that runs the pytest suite")
        break()
      endif()
    endif()
  endforeach()
endif()
if(IPM_PYTHON)
  message(STATUS "ipm: Python tests run with ${IPM_PYTHON} -m pytest")
else()
  message(STATUS "ipm: no python3 with pytest found (Debian: python3-pytest); "
                 "the Python tests are not registered")
endif()
