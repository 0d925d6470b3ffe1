# ipm-conformance: the behaviour of API.md §3 against any pair of types
# (API.md §8). Peers are this binary again (/proc/self/exe), so it needs
# Linux. Installed (with its RPATH) by cmake/IpmInstall.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/common/common.cmake)
add_executable(ipm-conformance
  ${CMAKE_CURRENT_LIST_DIR}/conformance/main.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/checks.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/endpoint.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/pair.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/peer.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/peer_role.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/check_basic.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/check_sizes.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/check_timing.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/check_streams.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/check_pubsub.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/check_callbacks.c
  ${CMAKE_CURRENT_LIST_DIR}/conformance/check_faults.c)
target_link_libraries(ipm-conformance PRIVATE ipm_tool_common Threads::Threads)
