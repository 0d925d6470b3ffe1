# zmq-baseline: the raw-libzmq figures ipm-bench is compared with (same
# harness, same two-frame wire form, same PUSH/PULL sockets). bench/run.sh
# runs both side by side.
include(${PROJECT_SOURCE_DIR}/tools/common/common.cmake)
if(TARGET PkgConfig::ZMQ)
  add_executable(zmq-baseline ${CMAKE_CURRENT_LIST_DIR}/zmq_baseline.c)
  target_link_libraries(zmq-baseline PRIVATE ipm_bench_core PkgConfig::ZMQ)
endif()

# ipm-demo: everything scripts/demo.sh runs (the tools, the baseline and every
# plugin), so that the demo builds no tests and stays within its minute.
set(ipm_demo_deps ipm-send ipm-recv ipm-bench)
if(TARGET zmq-baseline)
  list(APPEND ipm_demo_deps zmq-baseline)
endif()
list(TRANSFORM IPM_SHIPPED_PLUGINS PREPEND ipm_ OUTPUT_VARIABLE _ipm_demo_plugins)
list(APPEND ipm_demo_deps ${_ipm_demo_plugins})
add_custom_target(ipm-demo)
add_dependencies(ipm-demo ${ipm_demo_deps})
