# ipm-recv: receive and print messages from any connection.
# Installed (with its RPATH) by cmake/IpmInstall.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/common/common.cmake)
add_executable(ipm-recv ${CMAKE_CURRENT_LIST_DIR}/ipm-recv.c)
target_link_libraries(ipm-recv PRIVATE ipm_tool_common)
