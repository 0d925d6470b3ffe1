# Tests of the ZeroMQ transport plugins (plugins/zmq). Each executable needs
# the four plugins built; the loader finds them in the build tree.
set(IPM_ZMQ_TEST_PLUGINS ipm_ZmqSender ipm_ZmqReceiver ipm_ZmqPublisher ipm_ZmqSubscriber)

# Under TSan, libzmq (not built with TSan) needs the suppressions explained
# in zmq_tsan.supp.
set(IPM_ZMQ_TEST_ENV "")
if(IPM_SANITIZE STREQUAL "thread")
  set(IPM_ZMQ_TEST_ENV ENVIRONMENT
      "TSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/zmq_tsan.supp")
endif()

function(ipm_add_zmq_test name)
  ipm_add_test(${name} SOURCES ${name}.c zmq_util.c LABELS zmq ${IPM_ZMQ_TEST_ENV} ${ARGN})
  add_dependencies(${name} ${IPM_ZMQ_TEST_PLUGINS})
endfunction()

if(TARGET ipm_ZmqSender)
  ipm_add_zmq_test(zmq_sendrecv TIMEOUT 120)
  ipm_add_zmq_test(zmq_pubsub TIMEOUT 120)
  ipm_add_zmq_test(zmq_callback TIMEOUT 120)
  ipm_add_zmq_test(zmq_compat LIBRARIES PkgConfig::ZMQ TIMEOUT 120)
  ipm_add_zmq_test(zmq_process TIMEOUT 300)
  ipm_add_zmq_test(zmq_config TIMEOUT 120)
  ipm_add_zmq_test(zmq_context TIMEOUT 120)
  ipm_add_zmq_test(zmq_loans TIMEOUT 120)
  ipm_add_zmq_test(zmq_harden TIMEOUT 300)
  ipm_add_zmq_test(zmq_curve LIBRARIES PkgConfig::ZMQ TIMEOUT 120)
endif()
