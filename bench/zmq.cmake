# zmq-baseline: the raw-libzmq figures ipm-bench is compared with (same
# harness, same two-frame wire form, same PUSH/PULL sockets). bench/run.sh
# runs both side by side.
include(${PROJECT_SOURCE_DIR}/tools/common/common.cmake)
add_executable(zmq-baseline ${CMAKE_CURRENT_LIST_DIR}/zmq_baseline.c)
target_link_libraries(zmq-baseline PRIVATE ipm_bench_core PkgConfig::ZMQ)
