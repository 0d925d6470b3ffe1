# nats-baseline: the raw-cnats figures that ipm-bench's NATS rows are
# compared with (same harness, same wire form, same options; --strategy
# core or jetstream). bench/run.sh runs both side by side against a
# nats-server it starts.
include(${PROJECT_SOURCE_DIR}/tools/common/common.cmake)
if(TARGET ipm::nats_client)
  add_executable(nats-baseline ${CMAKE_CURRENT_LIST_DIR}/nats_baseline.c
                               ${PROJECT_SOURCE_DIR}/plugins/nats/nats_topic.c)
  target_include_directories(nats-baseline PRIVATE ${PROJECT_SOURCE_DIR}/plugins/nats)
  target_link_libraries(nats-baseline PRIVATE ipm_bench_core ipm::nats_client)
endif()
