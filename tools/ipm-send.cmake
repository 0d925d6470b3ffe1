# ipm-send: send messages to any connection from the shell.
# Installed (with its RPATH) by cmake/IpmInstall.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/common/common.cmake)
add_executable(ipm-send ${CMAKE_CURRENT_LIST_DIR}/ipm-send.c)
target_link_libraries(ipm-send PRIVATE ipm_tool_common)
