# IPM_FUZZ: build the libFuzzer targets of fuzz/ inside the main build
# (the `fuzz` preset sets it, with clang). scripts/ci-fuzz.sh does not need
# this: it builds fuzz/ as a standalone project of its own.
#
# Included by the top-level CMakeLists.txt after the dependencies are found;
# it adds nothing unless IPM_FUZZ is ON, so it costs a normal build nothing.
option(IPM_FUZZ "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)
if(IPM_FUZZ)
  add_subdirectory(${PROJECT_SOURCE_DIR}/fuzz ${PROJECT_BINARY_DIR}/fuzz)
endif()
