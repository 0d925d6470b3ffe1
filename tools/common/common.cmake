# Helpers shared by the command-line tools (tools/) and the benchmark
# baselines (bench/). Included by each tool's .cmake file; the guard makes the
# targets exist once, whichever includes it first.
include_guard(GLOBAL)

# Option parsing, printing, JSON, percentiles, signals. Sizes are parsed by
# libipm (ipm_parse_size), so that a size means the same on a command line as
# in a connection string; the raw-libzmq baseline links libipm for that alone.
add_library(ipm_tool_util STATIC
  ${CMAKE_CURRENT_LIST_DIR}/util_error.c
  ${CMAKE_CURRENT_LIST_DIR}/util_parse.c
  ${CMAKE_CURRENT_LIST_DIR}/util_signal.c
  ${CMAKE_CURRENT_LIST_DIR}/util_print.c
  ${CMAKE_CURRENT_LIST_DIR}/util_json.c
  ${CMAKE_CURRENT_LIST_DIR}/util_stats.c)
target_include_directories(ipm_tool_util PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(ipm_tool_util PUBLIC m ipm::ipm)

# Opening "connection string or FILE.ini:section" with libipm, error reports.
add_library(ipm_tool_common STATIC ${CMAKE_CURRENT_LIST_DIR}/tool_ipm.c)
target_link_libraries(ipm_tool_common PUBLIC ipm_tool_util ipm::ipm)

# The benchmark harness: roles in two processes (or two threads for
# inproc://), latency and throughput patterns, table and JSON reports. Both
# ipm-bench and the raw-libzmq baseline run on it, so that they measure the
# same things the same way.
add_library(ipm_bench_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/bench_cli.c
  ${CMAKE_CURRENT_LIST_DIR}/bench_run.c
  ${CMAKE_CURRENT_LIST_DIR}/bench_roles.c
  ${CMAKE_CURRENT_LIST_DIR}/bench_report.c)
target_link_libraries(ipm_bench_core PUBLIC ipm_tool_util Threads::Threads)
