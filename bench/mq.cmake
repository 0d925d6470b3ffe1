# mq-baseline: the raw POSIX message-queue figures that ipm-bench's
# MqSender -> MqReceiver is compared with (same harness, same queue
# attributes and wire form). bench/run.sh runs both side by side.
include(${PROJECT_SOURCE_DIR}/tools/common/common.cmake)
if(TARGET ipm_mq_rt)
  add_executable(mq-baseline ${CMAKE_CURRENT_LIST_DIR}/mq_baseline.c)
  target_link_libraries(mq-baseline PRIVATE ipm_bench_core ipm_mq_rt)
endif()
