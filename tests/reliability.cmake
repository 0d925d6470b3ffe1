# Reliability tests (issue 6): hostile input, faults with real processes,
# threads, resource churn, soak. Labels:
#   reliability  every test here
#   threads      tests whose point is concurrency; the TSan run takes these
#   fault        killed peers, bad endpoints, slow consumers (forked processes)
#   regression   inputs found by fuzzing or review; each pins a fixed bug
#   soak         the long versions (10 million messages, 10 000 objects); not run
#                by default: ctest -LE soak runs everything else, and the soak
#                tests skip (exit 77) unless IPM_SOAK=1 is set in the environment:
#                IPM_SOAK=1 ctest -L soak
#   core         also taken by the valgrind run (scripts/ci-valgrind.sh)
#
# Options:
#   IPM_VALGRIND  add a copy valgrind.<test> (label valgrind) of every test
#                 labelled core, run under valgrind memcheck
option(IPM_VALGRIND "Add valgrind.<test> copies of the core tests (label valgrind)" OFF)

add_library(ipm_rel_util STATIC rel_util.c)
target_link_libraries(ipm_rel_util PUBLIC ipm_test_support)

# Plugins the tests use, built before them when they exist.
list(TRANSFORM IPM_SHIPPED_PLUGINS PREPEND ipm_ OUTPUT_VARIABLE IPM_REL_PLUGINS)

# libzmq is not built with TSan; its suppression (one line, libzmq's own
# calls only) is in tsan.supp, which scripts/ci-sanitizers.sh passes.
function(ipm_add_rel_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    set(ARG_SOURCES ${name}.c)
  endif()
  ipm_add_test(${name} SOURCES ${ARG_SOURCES} LIBRARIES ipm_rel_util
               ${ARG_UNPARSED_ARGUMENTS})
  if(IPM_REL_PLUGINS)
    add_dependencies(${name} ${IPM_REL_PLUGINS})
  endif()
  set_property(TEST ${name} APPEND PROPERTY LABELS reliability)
  set_property(TEST ${name} PROPERTY SKIP_RETURN_CODE 77)
endfunction()

ipm_add_rel_test(rel_bad_input LABELS core TIMEOUT 120)
ipm_add_rel_test(rel_threads_loader LABELS threads TIMEOUT 300)
ipm_add_rel_test(rel_threads_lifecycle LABELS threads TIMEOUT 300)
ipm_add_rel_test(rel_callbacks LABELS threads TIMEOUT 300)
ipm_add_rel_test(rel_fault_restart LABELS fault TIMEOUT 300)
ipm_add_rel_test(rel_fault_slow_subscriber LABELS fault TIMEOUT 300)
ipm_add_rel_test(rel_fault_endpoints LABELS fault TIMEOUT 300)
ipm_add_rel_test(rel_endpoint_lists LABELS fault TIMEOUT 120)
ipm_add_rel_test(rel_churn TIMEOUT 300)
ipm_add_rel_test(rel_churn_long SOURCES rel_churn.c LABELS soak TIMEOUT 3600
                 ENVIRONMENT IPM_REL_SOAK_MODE=1)
ipm_add_rel_test(rel_soak TIMEOUT 600)
ipm_add_rel_test(rel_soak_long SOURCES rel_soak.c LABELS soak TIMEOUT 7200
                 ENVIRONMENT IPM_REL_SOAK_MODE=1)

# Regressions: each test names the bug it pins, so that it stays fixed.
ipm_add_rel_test(rel_regress_core LABELS regression TIMEOUT 120)
ipm_add_rel_test(rel_regress_log LABELS regression TIMEOUT 60 ENVIRONMENT IPM_LOG=debug)
if(TARGET ipm_ZmqSender)
  ipm_add_rel_test(rel_regress_zmq LABELS regression TIMEOUT 60)
endif()
# Issue 10, the core's part: fork, destroy while waiting, plugin loading
# without running code, INI files that hang or take quadratic time.
# It exercises both shipped families.
if(TARGET ipm_ZmqSender AND TARGET ipm_ShmSender)
  ipm_add_rel_test(rel_harden_core LABELS regression threads TIMEOUT 300)
  foreach(fixture IN LISTS IPM_TEST_PLUGINS) # LoopSender, RunsCode, ... by path
    if(TARGET ${fixture})
      add_dependencies(rel_harden_core ${fixture})
    endif()
  endforeach()
endif()
# The shm readers are hidden inside the plugins: compile them in.
if(TARGET ipm_ShmReceiver)
  file(GLOB _ipm_shm_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/plugins/shm/*.c)
  ipm_add_rel_test(rel_regress_shm SOURCES rel_regress_shm.c ${_ipm_shm_sources}
                   LABELS regression TIMEOUT 120)
  target_include_directories(rel_regress_shm PRIVATE ${PROJECT_SOURCE_DIR}/plugins/shm)
endif()

# valgrind.<test>: each test labelled core (tests/core.cmake, rel_bad_input)
# again under memcheck. Only definite leaks fail (a plugin's or library's
# one-time allocations stay reachable and are not leaks); valgrind.supp
# holds the third-party exceptions, each with its reason.
if(IPM_VALGRIND)
  find_program(IPM_VALGRIND_EXECUTABLE valgrind REQUIRED)
  get_property(_ipm_all_tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS _ipm_all_tests)
    get_test_property(${t} LABELS _labels)
    if(NOT _labels OR NOT "core" IN_LIST _labels OR NOT TARGET ${t})
      continue()
    endif()
    get_test_property(${t} ENVIRONMENT _env)
    get_test_property(${t} TIMEOUT _timeout)
    math(EXPR _timeout "${_timeout} * 10")
    add_test(NAME valgrind.${t}
      COMMAND ${IPM_VALGRIND_EXECUTABLE} --tool=memcheck --error-exitcode=1
              --leak-check=full --errors-for-leak-kinds=definite
              --show-leak-kinds=definite --num-callers=40 --gen-suppressions=all
              --child-silent-after-fork=yes
              --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/valgrind.supp
              $<TARGET_FILE:${t}>)
    set_tests_properties(valgrind.${t} PROPERTIES LABELS valgrind TIMEOUT ${_timeout})
    if(_env)
      set_tests_properties(valgrind.${t} PROPERTIES ENVIRONMENT "${_env}")
    endif()
  endforeach()
endif()

# Network faults between hosts (issue 13): three network namespaces on a
# bridge, a sender and a receiver on different hosts over tcp for each
# family built, a host cut off and restored (and delay/loss with netem where
# the kernel has it); prints what was lost, duplicated or reordered and the
# recovery time. Needs root: skipped (77) with the reason otherwise.
if(TARGET ipm-send AND TARGET ipm-recv)
  add_test(NAME rel_netns_faults
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/netns/netns_faults.sh
                   ${PROJECT_BINARY_DIR}/bin "zmq nats nng")
  set_tests_properties(rel_netns_faults PROPERTIES LABELS "reliability;fault;netns"
                       TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL ON)
endif()
