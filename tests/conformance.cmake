# ipm-conformance (API.md §8) for every shipped pair and carrier, and for the
# example third-party plugin (label `conformance`). Each test is one run of
# the tool; it passes when the closing line says "N passed, 0 failed".
#
# ipm_add_conformance(NAME SENDER T RECEIVER T ENDPOINT E [ENDPOINT E2]
#                     [SET k=v...] [ARGS extra...] [DEPENDS target...])
if(NOT TARGET ipm-conformance)
  return()
endif()

function(ipm_add_conformance name)
  cmake_parse_arguments(ARG "" "SENDER;RECEIVER" "ENDPOINT;SET;ARGS;DEPENDS;ENVIRONMENT" ${ARGN})
  set(cmd $<TARGET_FILE:ipm-conformance> --sender ${ARG_SENDER} --receiver ${ARG_RECEIVER})
  foreach(ep IN LISTS ARG_ENDPOINT)
    list(APPEND cmd --endpoint ${ep})
  endforeach()
  foreach(kv IN LISTS ARG_SET)
    list(APPEND cmd --set ${kv})
  endforeach()
  add_test(NAME conformance_${name} COMMAND ${cmd} ${ARG_ARGS})
  set_tests_properties(conformance_${name} PROPERTIES LABELS conformance TIMEOUT 300
    PASS_REGULAR_EXPRESSION "\n[0-9]+ passed, 0 failed\n"
    ENVIRONMENT "${ARG_ENVIRONMENT}")
  add_dependencies(ipm-conformance ${ARG_DEPENDS})
endfunction()

# Endpoints live under the build tree (ipc://, uds://) or carry the build's
# name (shm://), so that two build trees on one machine never share one.
string(MAKE_C_IDENTIFIER "${PROJECT_BINARY_DIR}" _ipm_conf_tag)
string(MD5 _ipm_conf_tag "${_ipm_conf_tag}")
string(SUBSTRING "${_ipm_conf_tag}" 0 8 _ipm_conf_tag)
set(_ipm_conf_dir /tmp/ipm-conf-${_ipm_conf_tag})
file(MAKE_DIRECTORY ${_ipm_conf_dir})

if(TARGET ipm_ZmqSender)
  set(_zmq ipm_ZmqSender ipm_ZmqReceiver ipm_ZmqPublisher ipm_ZmqSubscriber)
  ipm_add_conformance(zmq_tcp SENDER ZmqSender RECEIVER ZmqReceiver
                      ENDPOINT tcp://127.0.0.1:* DEPENDS ${_zmq})
  # An ipc:// ZmqReceiver has no receive HWM unless one is set (the libzmq
  # #4660 choice): capacity bounds it, so that a full transport exists for
  # send_timeout, as a DAQ that sets one would see.
  ipm_add_conformance(zmq_ipc SENDER ZmqSender RECEIVER ZmqReceiver
                      ENDPOINT ipc://${_ipm_conf_dir}/zmq-sr SET capacity=1000
                      DEPENDS ${_zmq})
  # inproc:// does not cross processes: the limits op says so once
  # connected, and the suite runs the peers as threads.
  ipm_add_conformance(zmq_inproc SENDER ZmqSender RECEIVER ZmqReceiver
                      ENDPOINT inproc://conf-sr DEPENDS ${_zmq})
  ipm_add_conformance(zmq_pubsub_tcp SENDER ZmqPublisher RECEIVER ZmqSubscriber
                      ENDPOINT tcp://127.0.0.1:* DEPENDS ${_zmq})
  ipm_add_conformance(zmq_pubsub_ipc SENDER ZmqPublisher RECEIVER ZmqSubscriber
                      ENDPOINT ipc://${_ipm_conf_dir}/zmq-ps DEPENDS ${_zmq})
endif()

if(TARGET ipm_ShmSender)
  set(_shm ipm_ShmSender ipm_ShmReceiver ipm_ShmPublisher ipm_ShmSubscriber)
  ipm_add_conformance(shm SENDER ShmSender RECEIVER ShmReceiver
                      ENDPOINT shm://ipm-conf-${_ipm_conf_tag}-sr DEPENDS ${_shm})
  ipm_add_conformance(shm_pubsub SENDER ShmPublisher RECEIVER ShmSubscriber
                      ENDPOINT shm://ipm-conf-${_ipm_conf_tag}-ps DEPENDS ${_shm})
endif()

# The example third-party plugin (examples/third_party_plugin), built here
# from its sources into a directory of its own, found through
# IPM_PLUGIN_PATH as any third-party plugin is. (tests/sdk/install_test.sh
# builds it against an installed SDK instead.)
set(_uds_src ${PROJECT_SOURCE_DIR}/examples/third_party_plugin)
set(_uds_dir ${PROJECT_BINARY_DIR}/conformance_plugins)
foreach(role Sender Receiver)
  string(TOLOWER ${role} file)
  ipm_add_plugin(Uds${role} SOURCES ${_uds_src}/uds_${file}.c ${_uds_src}/uds_address.c
                 OUTPUT_DIRECTORY ${_uds_dir})
  target_compile_definitions(ipm_Uds${role} PRIVATE UDS_PLUGIN_VERSION="1.0.0")
endforeach()
ipm_add_conformance(uds SENDER UdsSender RECEIVER UdsReceiver
                    ENDPOINT uds://${_ipm_conf_dir}/uds.sock
                    DEPENDS ipm_UdsSender ipm_UdsReceiver
                    ENVIRONMENT IPM_PLUGIN_PATH=${_uds_dir})

# The same example built against ipm 1.0.0's headers (tests/sdk.cmake): an
# ABI 1.0 plugin states no limits, so its size checks stop at 100 KiB (below
# a UNIX datagram's limit) and the one-past check is n/a.
ipm_add_conformance(uds_abi_1_0 SENDER UdsSender RECEIVER UdsReceiver
                    ENDPOINT uds://${_ipm_conf_dir}/uds10.sock ARGS --unstated-max 100Ki
                    DEPENDS abi10_UdsSender abi10_UdsReceiver
                    ENVIRONMENT IPM_PLUGIN_PATH=${IPM_ABI_1_0_PLUGIN_DIR})

if(TARGET ipm_MqSender)
  ipm_add_conformance(mq SENDER MqSender RECEIVER MqReceiver
                      ENDPOINT mq://ipm-conf-${_ipm_conf_tag}
                      DEPENDS ipm_MqSender ipm_MqReceiver)
endif()

# NATS: each run gets a nats-server of its own (tests/nats/with_server.sh
# starts it on a port of its choosing, puts the port into the endpoint and
# stops it afterwards). JetStream confirms each send with a round trip, so
# its stream check sends 20 000 messages, not 100 000.
if(TARGET ipm_NatsSender)
  set(_nats ipm_NatsSender ipm_NatsReceiver ipm_NatsPublisher ipm_NatsSubscriber)
  foreach(pair "nats_jetstream;NatsSender;NatsReceiver;--count;20000"
               "nats_pubsub;NatsPublisher;NatsSubscriber")
    list(POP_FRONT pair name tx rx)
    add_test(NAME conformance_${name}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/nats/with_server.sh
                     $<TARGET_FILE:ipm-conformance> --sender ${tx} --receiver ${rx}
                     --endpoint nats://127.0.0.1:@NATS_PORT@/ipm.conf.${name} ${pair})
    set_tests_properties(conformance_${name} PROPERTIES LABELS "conformance;nats"
      TIMEOUT 300 SKIP_RETURN_CODE 77
      PASS_REGULAR_EXPRESSION "\n[0-9]+ passed, 0 failed\n")
  endforeach()
  add_dependencies(ipm-conformance ${_nats})
endif()

if(TARGET ipm_NngSender)
  set(_nng ipm_NngSender ipm_NngReceiver ipm_NngPublisher ipm_NngSubscriber)
  ipm_add_conformance(nng_tcp SENDER NngSender RECEIVER NngReceiver
                      ENDPOINT tcp://127.0.0.1:* DEPENDS ${_nng})
  ipm_add_conformance(nng_ipc SENDER NngSender RECEIVER NngReceiver
                      ENDPOINT ipc://${_ipm_conf_dir}/nng-sr DEPENDS ${_nng})
  ipm_add_conformance(nng_inproc SENDER NngSender RECEIVER NngReceiver
                      ENDPOINT inproc://conf-nng-sr DEPENDS ${_nng})
  ipm_add_conformance(nng_pubsub_tcp SENDER NngPublisher RECEIVER NngSubscriber
                      ENDPOINT tcp://127.0.0.1:* DEPENDS ${_nng})
endif()
# tls+tcp:// with certificates made for the run (tests/nng/with_certs.sh).
if(TARGET ipm_NngSender)
  add_test(NAME conformance_nng_tls
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/nng/with_certs.sh
                   $<TARGET_FILE:ipm-conformance> --sender NngSender --receiver NngReceiver
                   --endpoint tls+tcp://localhost:* --set tls_cert=@CERTS@/cert.pem
                   --set tls_key=@CERTS@/key.pem --set tls_ca=@CERTS@/ca.pem)
  set_tests_properties(conformance_nng_tls PROPERTIES LABELS "conformance;nng" TIMEOUT 300
    SKIP_RETURN_CODE 77 PASS_REGULAR_EXPRESSION "\n[0-9]+ passed, 0 failed\n")
endif()
