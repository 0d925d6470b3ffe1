# ipm-plugins: list the plugins on the search path, check INI files.
# Installed by cmake/IpmInstall.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/common/common.cmake)
add_executable(ipm-plugins ${CMAKE_CURRENT_LIST_DIR}/ipm-plugins.c)
target_link_libraries(ipm-plugins PRIVATE ipm_tool_util ipm::ipm)
