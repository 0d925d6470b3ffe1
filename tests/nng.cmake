# Tests of the nng transport plugins (plugins/nng): the family's own
# behaviour (wire form, fork, TLS, limits, keys, two processes) and interop
# with nngcat. The behaviour of API.md §3 is ipm-conformance's, registered
# per pair. Every test links libnng: the plain-nng peers of nng_wire and
# nng_fork, and nng_fini at exit for the leak checker (nt_finish).
set(IPM_NNG_TEST_PLUGINS ipm_NngSender ipm_NngReceiver ipm_NngPublisher ipm_NngSubscriber)

function(ipm_add_nng_test name)
  ipm_add_test(${name} SOURCES ${name}.c nng_util.c LIBRARIES ipm::nng LABELS nng ${ARGN})
  add_dependencies(${name} ${IPM_NNG_TEST_PLUGINS})
endfunction()

if(TARGET ipm_NngSender)
  ipm_add_nng_test(nng_sendrecv TIMEOUT 180)
  ipm_add_nng_test(nng_pubsub TIMEOUT 180)
  ipm_add_nng_test(nng_close_bound TIMEOUT 120)
  ipm_add_nng_test(nng_wire TIMEOUT 120)
  ipm_add_nng_test(nng_fork TIMEOUT 120)
  ipm_add_nng_test(nng_tls TIMEOUT 180)
  ipm_add_nng_test(nng_interop TIMEOUT 240)
  ipm_add_nng_test(nng_process TIMEOUT 300)
endif()
