# Tests of the command-line tools (tools/, bench/): they run the built
# programs as a user would, in real processes, over real transports.
if(TARGET ipm-send AND TARGET ipm-recv AND TARGET ipm-bench AND TARGET zmq-baseline)
  set(IPM_TOOLS_TEST_DEPS ipm-send ipm-recv ipm-bench zmq-baseline)
  list(TRANSFORM IPM_SHIPPED_PLUGINS PREPEND ipm_ OUTPUT_VARIABLE _ipm_tool_plugins)
  list(APPEND IPM_TOOLS_TEST_DEPS ${_ipm_tool_plugins})
  set(IPM_TOOLS_TEST_ENV "")
  if(IPM_SANITIZE STREQUAL "thread" AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/zmq_tsan.supp)
    set(IPM_TOOLS_TEST_ENV ENVIRONMENT
        "TSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/zmq_tsan.supp")
  endif()
  foreach(name tools_sendrecv tools_errors tools_bench)
    ipm_add_test(${name} SOURCES ${name}.c tools_proc.c LABELS tools TIMEOUT 300
                 ${IPM_TOOLS_TEST_ENV})
    add_dependencies(${name} ${IPM_TOOLS_TEST_DEPS})
  endforeach()
endif()
