# Install rules of the plugin SDK: headers, libipm.so, the shipped plugins
# (into <libdir>/ipm/, where the loader looks relative to libipm.so), the
# tools, a relocatable CMake package (find_package(ipm) -> ipm::ipm and
# ipm_add_plugin) and a relocatable ipm.pc.
#
# Included by the top-level CMakeLists.txt after every target is defined, so
# `if(TARGET ...)` sees the plugins and tools that this build has.
#
# Relocation: nothing installed holds an absolute path to the prefix. Tools
# find libipm.so through RPATH $ORIGIN/<bin-to-lib>, plugins through
# $ORIGIN/.., ipmConfig.cmake and ipm.pc compute the prefix from their own
# location, and the loader finds plugins next to libipm.so with dladdr. A
# prefix can therefore be moved (mv) or packaged as a tarball.

include(CMakePackageConfigHelpers)

set(IPM_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ipm
    CACHE STRING "Where ipmConfig.cmake is installed, relative to the prefix")
set(IPM_PKGCONFIG_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig
    CACHE STRING "Where ipm.pc is installed, relative to the prefix")
mark_as_advanced(IPM_CMAKE_INSTALL_DIR IPM_PKGCONFIG_INSTALL_DIR)
set(IPM_PLUGIN_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/${IPM_PLUGIN_SUBDIR})

# The plugin ABI version, read from plugin.h so that it has one source.
foreach(part MAJOR MINOR)
  file(STRINGS ${PROJECT_SOURCE_DIR}/include/ipm/plugin.h _ipm_abi_line
       REGEX "^#define IPM_PLUGIN_ABI_${part} [0-9]+")
  string(REGEX REPLACE ".* ([0-9]+).*" "\\1" IPM_PLUGIN_ABI_${part} "${_ipm_abi_line}")
endforeach()
set(IPM_PLUGIN_ABI ${IPM_PLUGIN_ABI_MAJOR}.${IPM_PLUGIN_ABI_MINOR})

# Relative path from an install directory to the library directory, for
# $ORIGIN RPATHs. Falls back to the absolute libdir if either is absolute.
function(ipm__origin_rpath out from_dir)
  if(IS_ABSOLUTE "${from_dir}" OR IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(${out} "${CMAKE_INSTALL_FULL_LIBDIR}" PARENT_SCOPE)
  else()
    file(RELATIVE_PATH rel "/ipm-prefix/${from_dir}" "/ipm-prefix/${CMAKE_INSTALL_LIBDIR}")
    string(REGEX REPLACE "/$" "" rel "${rel}")
    if(rel STREQUAL "")
      set(${out} "$ORIGIN" PARENT_SCOPE)
    else()
      set(${out} "$ORIGIN/${rel}" PARENT_SCOPE)
    endif()
  endif()
endfunction()

# ------------------------------------------------------------- libipm.so
# libipm.so needs no RPATH of its own except for dependencies found outside
# the system directories (iniparser in a custom prefix, say).
set_target_properties(ipm PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS ipm EXPORT ipmTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    COMPONENT Runtime NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(FILES ${PROJECT_SOURCE_DIR}/include/ipm/ipm.h ${PROJECT_SOURCE_DIR}/include/ipm/plugin.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ipm COMPONENT Development)

# --------------------------------------------------------------- plugins
# The directory exists even in a build without plugins, so that third-party
# plugins can be dropped into it.
install(DIRECTORY DESTINATION ${IPM_PLUGIN_INSTALL_DIR} COMPONENT Runtime)
# ipm_add_plugin gave each plugin its RPATH ($ORIGIN/.., right for the
# relative default); an absolute libdir needs the absolute path instead.
ipm__origin_rpath(_ipm_plugin_rpath ${IPM_PLUGIN_INSTALL_DIR})
foreach(type IN LISTS IPM_SHIPPED_PLUGINS)
  if(NOT _ipm_plugin_rpath MATCHES "^\\$ORIGIN")
    set_target_properties(ipm_${type} PROPERTIES INSTALL_RPATH "${_ipm_plugin_rpath}")
  endif()
  install(TARGETS ipm_${type} LIBRARY DESTINATION ${IPM_PLUGIN_INSTALL_DIR} COMPONENT Runtime)
endforeach()

# ----------------------------------------------------------------- tools
ipm__origin_rpath(_ipm_tool_rpath ${CMAKE_INSTALL_BINDIR})
foreach(tool ipm-send ipm-recv ipm-bench ipm-plugins ipm-conformance)
  if(TARGET ${tool})
    set_target_properties(${tool} PROPERTIES
      INSTALL_RPATH "${_ipm_tool_rpath}" INSTALL_RPATH_USE_LINK_PATH ON)
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
  endif()
endforeach()

# --------------------------------------------------------- CMake package
install(EXPORT ipmTargets NAMESPACE ipm:: FILE ipmTargets.cmake
  DESTINATION ${IPM_CMAKE_INSTALL_DIR} COMPONENT Development)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ipmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/ipmConfig.cmake
  INSTALL_DESTINATION ${IPM_CMAKE_INSTALL_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR IPM_PLUGIN_INSTALL_DIR)
# A plugin built for ABI 1.x loads into any libipm 1.y with y >= x, so a
# package of the same major version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/ipmConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/ipmConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/ipmConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/IpmPluginHelpers.cmake
  DESTINATION ${IPM_CMAKE_INSTALL_DIR} COMPONENT Development)

# ---------------------------------------------------------------- ipm.pc
# ipm.pc derives its prefix from ${pcfiledir}, so it stays right after a move.
if(IS_ABSOLUTE "${IPM_PKGCONFIG_INSTALL_DIR}")
  set(IPM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _ipm_pc_up "/ipm-prefix/${IPM_PKGCONFIG_INSTALL_DIR}" "/ipm-prefix")
  string(REGEX REPLACE "/$" "" _ipm_pc_up "${_ipm_pc_up}")
  set(IPM_PC_PREFIX "\${pcfiledir}/${_ipm_pc_up}")
endif()
foreach(dir INCLUDEDIR LIBDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(IPM_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(IPM_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/ipm.pc.in ${PROJECT_BINARY_DIR}/cmake/ipm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/ipm.pc
  DESTINATION ${IPM_PKGCONFIG_INSTALL_DIR} COMPONENT Development)
