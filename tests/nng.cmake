# Tests of the nng transport plugins (plugins/nng): the family's own
# behaviour (wire form, fork, TLS, limits, keys) and interop with nngcat.
# The behaviour of API.md §3 is ipm-conformance's, registered per pair.
set(IPM_NNG_TEST_PLUGINS ipm_NngSender ipm_NngReceiver ipm_NngPublisher ipm_NngSubscriber)

function(ipm_add_nng_test name)
  ipm_add_test(${name} SOURCES ${name}.c nng_util.c LABELS nng ${ARGN})
  add_dependencies(${name} ${IPM_NNG_TEST_PLUGINS})
endfunction()

if(TARGET ipm_NngSender)
  ipm_add_nng_test(nng_sendrecv TIMEOUT 180)
endif()
if(TARGET ipm_NngSender)
  ipm_add_nng_test(nng_pubsub TIMEOUT 180)
  ipm_add_nng_test(nng_wire LIBRARIES ipm::nng TIMEOUT 120)
endif()
if(TARGET ipm_NngSender)
  ipm_add_nng_test(nng_fork LIBRARIES ipm::nng TIMEOUT 120)
endif()
if(TARGET ipm_NngSender)
  ipm_add_nng_test(nng_tls TIMEOUT 180)
endif()
if(TARGET ipm_NngSender)
  ipm_add_nng_test(nng_interop TIMEOUT 240)
endif()
if(TARGET ipm_NngSender)
  ipm_add_nng_test(nng_process TIMEOUT 300)
endif()
