# nng-baseline: the raw-libnng figures that ipm-bench's NngSender ->
# NngReceiver rows are compared with (same harness, same wire form, same
# buffer settings). bench/run.sh runs both side by side.
include(${PROJECT_SOURCE_DIR}/tools/common/common.cmake)
if(TARGET ipm::nng)
  add_executable(nng-baseline ${CMAKE_CURRENT_LIST_DIR}/nng_baseline.c)
  target_link_libraries(nng-baseline PRIVATE ipm_bench_core ipm::nng)
endif()
