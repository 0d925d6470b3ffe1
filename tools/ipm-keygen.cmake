# ipm-keygen: CURVE key pairs for the Zmq plugins (needs libzmq, so it is
# built with the Zmq family only).
if(TARGET PkgConfig::ZMQ)
  add_executable(ipm-keygen ${CMAKE_CURRENT_LIST_DIR}/ipm-keygen.c)
  target_link_libraries(ipm-keygen PRIVATE PkgConfig::ZMQ)
  install(TARGETS ipm-keygen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
