# Tests of the POSIX message-queue plugins (plugins/mq). The cross-process
# tests fork real processes; mq_foreign_sender is a plain C program (mq_open
# and mq_send only, no ipm) playing a peer that does not speak ipm.
set(IPM_MQ_TEST_PLUGINS ipm_MqSender ipm_MqReceiver)

function(ipm_add_mq_test name)
  ipm_add_test(${name} SOURCES ${name}.c mq_util.c LIBRARIES ipm_mq_rt LABELS mq ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/mq)
  add_dependencies(${name} ${IPM_MQ_TEST_PLUGINS})
endfunction()

if(TARGET ipm_MqSender)
  add_executable(mq_foreign_sender mq_foreign_sender.c)
  target_link_libraries(mq_foreign_sender PRIVATE ipm_mq_rt)
  foreach(t mq_sendrecv mq_process mq_foreign mq_limits)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      ipm_add_mq_test(${t} TIMEOUT 180)
    endif()
  endforeach()
  if(TARGET mq_foreign)
    add_dependencies(mq_foreign mq_foreign_sender)
    target_compile_definitions(mq_foreign PRIVATE
      MQ_FOREIGN_SENDER="$<TARGET_FILE:mq_foreign_sender>")
  endif()
endif()
