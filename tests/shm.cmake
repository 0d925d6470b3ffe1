# Tests of the shared-memory transport plugins (plugins/shm). Each test
# forks real processes where users would have two.
set(IPM_SHM_TEST_PLUGINS ipm_ShmPublisher ipm_ShmSubscriber ipm_ShmSender ipm_ShmReceiver)

function(ipm_add_shm_test name)
  ipm_add_test(${name} SOURCES ${name}.c shm_util.c LABELS shm ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/plugins/shm)
  add_dependencies(${name} ${IPM_SHM_TEST_PLUGINS})
endfunction()

if(TARGET ipm_ShmPublisher)
  foreach(t shm_pubsub shm_drops shm_sendrecv shm_crash shm_harden shm_loans shm_fanin)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
      ipm_add_shm_test(${t} TIMEOUT 120)
    endif()
  endforeach()
endif()
