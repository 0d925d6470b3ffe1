# Tests of the bindings (label `bindings`): the C++ wrapper ipm.hpp, the
# DUNE-DAQ API (DUNE's README examples as written, and a program in the style
# of DUNE's own tests on ZeroMQ tcp/ipc and shared memory), the Python
# package's pytest suite, and both bindings used from an installed tree.
# C++ tests need a C++ compiler, the DUNE ones nlohmann_json, the Python
# ones a python3 with pytest; cmake/IpmBindings.cmake says at configure
# time which are missing.

set(_ipm_bindings_dir ${CMAKE_CURRENT_SOURCE_DIR}/bindings)

# The programs exchange messages over ZeroMQ and shared memory: a build
# without either family says so and runs none of them.
if(NOT TARGET ipm_ZmqSender OR NOT TARGET ipm_ShmSender)
  message(STATUS "ipm: bindings tests need the Zmq and Shm families; not built")
  return()
endif()
# Plugins the programs load by name must be built before they run.
list(TRANSFORM IPM_SHIPPED_PLUGINS PREPEND ipm_ OUTPUT_VARIABLE _ipm_bindings_plugins)

if(IPM_HAVE_CXX)
  function(ipm_add_cxx_test name source)
    add_executable(${name} ${_ipm_bindings_dir}/${source})
    target_link_libraries(${name} PRIVATE ${ARGN})
    set_target_properties(${name} PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
                                             CXX_EXTENSIONS OFF)
    if(_ipm_bindings_plugins)
      add_dependencies(${name} ${_ipm_bindings_plugins})
    endif()
  endfunction()

  ipm_add_cxx_test(bindings_cxx cxx_wrapper.cpp ipm::ipmcxx)
  add_test(NAME bindings_cxx COMMAND bindings_cxx)
  set_tests_properties(bindings_cxx PROPERTIES LABELS bindings TIMEOUT 120)

  if(TARGET ipm::dune)
    ipm_add_cxx_test(bindings_dune_readme dune_readme.cpp ipm::dune)
    add_test(NAME bindings_dune_readme COMMAND bindings_dune_readme)
    # The README's examples use tcp://127.0.0.1:12345 as written.
    set_tests_properties(bindings_dune_readme PROPERTIES LABELS bindings TIMEOUT 120
                         RESOURCE_LOCK tcp_12345)

    ipm_add_cxx_test(bindings_dune_style dune_style.cpp ipm::dune)
    foreach(family zmq-tcp zmq-ipc shm)
      add_test(NAME bindings_dune_style_${family} COMMAND bindings_dune_style ${family})
      set_tests_properties(bindings_dune_style_${family} PROPERTIES LABELS bindings
                           TIMEOUT 180)
    endforeach()
  else()
    message(STATUS "ipm: bindings_dune_* tests not built (no nlohmann_json)")
  endif()
else()
  message(STATUS "ipm: C++ binding tests skipped (no C++ compiler)")
endif()

# The pytest suite, one ctest entry per file so that a failure names its
# area. pytest exits 5 when it collected nothing (a renamed file, a filter
# matching nothing), which ctest counts as a failure like any non-zero exit;
# --strict-markers and -W error keep typos and warnings from passing quietly.
# In an ASan build python3 (not built with it) must preload the runtime to
# load libipm.so; CPython's own allocations at exit are not ours to check, so
# leak detection is off for the interpreter (the C tests check ours).
set(_ipm_python "${IPM_PYTHON}")
set(_ipm_py_env_mod "")
set(_ipm_py_preload "")
if(IPM_SANITIZE STREQUAL "address")
  if(IPM_SANITIZER_RUNTIME)
    set(_ipm_py_preload "LD_PRELOAD=${IPM_SANITIZER_RUNTIME}")
    set(_ipm_py_env_mod "ASAN_OPTIONS=string_append:: detect_leaks=0")
  else()
    message(STATUS "ipm: Python binding tests not run in this ASan build "
                   "(${CMAKE_C_COMPILER} names no libasan.so to preload)")
    set(_ipm_python "")
  endif()
elseif(IPM_SANITIZE STREQUAL "thread")
  set(_ipm_python "") # a TSan runtime cannot be preloaded into python3
endif()
if(_ipm_python AND EXISTS ${PROJECT_SOURCE_DIR}/python/tests)
  set(_ipm_py_env ${_ipm_py_preload}
    "PYTHONPATH=${PROJECT_SOURCE_DIR}/python"
    "IPM_LIBRARY=$<TARGET_FILE:ipm>"
    "IPM_BIN_DIR=${PROJECT_BINARY_DIR}/bin"
    "IPM_PLUGIN_PATH="
    "PYTHONDONTWRITEBYTECODE=1")
  foreach(area api interop async)
    if(NOT EXISTS ${PROJECT_SOURCE_DIR}/python/tests/test_${area}.py)
      message(FATAL_ERROR "python/tests/test_${area}.py is missing")
    endif()
    add_test(NAME bindings_python_${area}
      COMMAND ${_ipm_python} -m pytest -q -p no:cacheprovider --strict-markers -W error
              ${PROJECT_SOURCE_DIR}/python/tests/test_${area}.py)
    set_tests_properties(bindings_python_${area} PROPERTIES LABELS "bindings;python"
      TIMEOUT 300 ENVIRONMENT "${_ipm_py_env}" ENVIRONMENT_MODIFICATION "${_ipm_py_env_mod}")
  endforeach()
endif()

# Both bindings against an installed tree: find_package(ipm) with
# ipm::ipmcxx and ipm::dune, the Python package found from the prefix alone,
# and pip install into a venv offline.
if(EXISTS ${_ipm_bindings_dir}/install_test.sh)
add_test(NAME bindings_install
  COMMAND bash ${_ipm_bindings_dir}/install_test.sh ${PROJECT_SOURCE_DIR}
          ${PROJECT_BINARY_DIR} "${CMAKE_CXX_COMPILER}" "${_ipm_python}")
set_tests_properties(bindings_install PROPERTIES LABELS "bindings;sdk" TIMEOUT 600
  ENVIRONMENT "IPM_PLUGIN_PATH=;IPM_SANITIZER_FLAGS=${IPM_SANITIZER_FLAGS};IPM_SANITIZER_RUNTIME=${IPM_SANITIZER_RUNTIME}"
  ENVIRONMENT_MODIFICATION "${_ipm_py_env_mod}" RESOURCE_LOCK tcp_12345)
endif()
