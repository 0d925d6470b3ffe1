# ipm-shm-bench: the shared-memory transports beside memcpy, a bare futex
# ping-pong, the Zmq plugins over ipc:// and (when found) iceoryx's C binding.
if(TARGET ipm_ShmSender)
  set(_ipm_shm_bench_src ${CMAKE_CURRENT_LIST_DIR}/shm_bench.c
                         ${CMAKE_CURRENT_LIST_DIR}/shm_bench_util.c)
  find_library(IPM_ICEORYX_C_LIBRARY iceoryx_binding_c)
  file(GLOB _ipm_iox_inc LIST_DIRECTORIES true /usr/include/iceoryx/v* /usr/local/include/iceoryx/v*)
  find_path(IPM_ICEORYX_C_INCLUDE_DIR iceoryx_binding_c/api.h PATHS ${_ipm_iox_inc})
  add_executable(ipm-shm-bench ${_ipm_shm_bench_src})
  target_link_libraries(ipm-shm-bench PRIVATE ipm::ipm)
  add_dependencies(ipm-shm-bench ipm_ShmSender ipm_ShmReceiver ipm_ShmPublisher ipm_ShmSubscriber)
  if(TARGET ipm_ZmqSender AND TARGET ipm_ZmqReceiver)
    add_dependencies(ipm-shm-bench ipm_ZmqSender ipm_ZmqReceiver) # the ipc:// comparison
  endif()
  if(IPM_ICEORYX_C_LIBRARY AND IPM_ICEORYX_C_INCLUDE_DIR)
    message(STATUS "ipm-shm-bench: iceoryx baseline with ${IPM_ICEORYX_C_LIBRARY}")
    target_sources(ipm-shm-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/iceoryx_baseline.c)
    target_include_directories(ipm-shm-bench SYSTEM PRIVATE ${IPM_ICEORYX_C_INCLUDE_DIR})
    target_compile_definitions(ipm-shm-bench PRIVATE IPM_BENCH_HAVE_ICEORYX=1)
    target_link_libraries(ipm-shm-bench PRIVATE ${IPM_ICEORYX_C_LIBRARY})
  else()
    message(STATUS "ipm-shm-bench: iceoryx C binding not found; baseline left out")
  endif()
endif()
