# ipm-bench: latency, throughput and startup time of any ipm types; shares its
# harness (tools/common/bench_*.c) with the raw-libzmq baseline in bench/.
# Installed (with its RPATH) by cmake/IpmInstall.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/common/common.cmake)
add_executable(ipm-bench ${CMAKE_CURRENT_LIST_DIR}/ipm-bench.c)
target_link_libraries(ipm-bench PRIVATE ipm_bench_core ipm_tool_common)
