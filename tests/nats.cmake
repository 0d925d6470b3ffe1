# Tests of the NATS transport plugins (plugins/nats). Each test starts its
# own nats-server processes (tests/nats_util.c) on free loopback ports with
# a temporary JetStream store, and stops them; without nats-server the
# tests skip (exit 77, SKIP_RETURN_CODE) and say why.
set(IPM_NATS_TEST_PLUGINS ipm_NatsPublisher ipm_NatsSubscriber ipm_NatsSender
    ipm_NatsReceiver)

function(ipm_add_nats_test name)
  ipm_add_test(${name} SOURCES ${name}.c nats_util.c LABELS nats ${ARGN})
  add_dependencies(${name} ${IPM_NATS_TEST_PLUGINS})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
endfunction()

if(TARGET ipm_NatsSender)
  ipm_add_nats_test(nats_pubsub LIBRARIES ipm::nats_client TIMEOUT 120)
  ipm_add_nats_test(nats_stream TIMEOUT 180)
  ipm_add_nats_test(nats_cluster LIBRARIES ipm::nats_client TIMEOUT 240)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/nats_security.c)
    ipm_add_nats_test(nats_security TIMEOUT 180)
    target_compile_definitions(nats_security PRIVATE
      IPM_MAKE_CREDS="${CMAKE_CURRENT_SOURCE_DIR}/nats/make_creds.py")
  endif()
endif()
