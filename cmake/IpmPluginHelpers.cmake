# ipm_add_plugin(<Type> SOURCES src... [LIBRARIES lib...] [OUTPUT_DIRECTORY dir])
#
# Builds a transport plugin as a MODULE named libipm_<Type>.so with hidden
# visibility (only the factory symbol ipm_plugin_<Type> is exported) and
# -Wl,--no-undefined against libipm. Used by the project itself and, once
# installed, by third parties through find_package(ipm), with the same rules
# for both: the install RPATH is $ORIGIN/.. (a plugin is installed into
# <libdir>/ipm, one below libipm.so) plus the link path of its own
# dependencies, so an installed tree can be moved; and the type is appended
# to the global property IPM_PLUGIN_TYPES (the project derives its list of
# shipped plugins from it).
function(ipm_add_plugin type)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT type MATCHES "^[A-Za-z][A-Za-z0-9_]*$")
    message(FATAL_ERROR "ipm_add_plugin: '${type}' is not a valid type name")
  endif()
  set(target ipm_${type})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ipm::ipm ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib" OUTPUT_NAME "ipm_${type}"
    C_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE "LINKER:--no-undefined")
  set_target_properties(${target} PROPERTIES
    INSTALL_RPATH "$ORIGIN/.." INSTALL_RPATH_USE_LINK_PATH ON)
  set_property(GLOBAL APPEND PROPERTY IPM_PLUGIN_TYPES ${type})
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED IPM_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${IPM_PLUGIN_OUTPUT_DIRECTORY})
  endif()
endfunction()
