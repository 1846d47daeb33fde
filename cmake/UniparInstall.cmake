# Install rules and the CMake package, so that another project can do
#
#   find_package(unipar 0.1 REQUIRED)
#   target_link_libraries(my_program PRIVATE unipar::unipar)
#
# Installs: the library `unipar` (exported as unipar::unipar in the export set unipar-targets),
# the MPI backend `unipar-mpi` when it is built (exported as unipar::mpi),
# the public headers include/unipar/**, unipar-config.cmake + unipar-config-version.cmake +
# unipar-targets*.cmake under <libdir>/cmake/unipar. (The demo program `unipar-demo` is installed
# by apps/demo.) Included from the top-level CMakeLists.txt when UNIPAR_INSTALL is ON, after
# every target is defined.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(UNIPAR_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/unipar"
    CACHE STRING "Where unipar-config.cmake is installed, relative to the prefix")
mark_as_advanced(UNIPAR_INSTALL_CMAKEDIR)

# ---- the library and its headers ----------------------------------------------------------------
# The installed include directory comes from the target's $<INSTALL_INTERFACE:include>.
set(unipar_installed_targets unipar)
if(TARGET unipar_mpi)
  list(APPEND unipar_installed_targets unipar_mpi)  # exported as unipar::mpi
  set(UNIPAR_HAS_MPI ON)
else()
  set(UNIPAR_HAS_MPI OFF)
endif()
install(TARGETS ${unipar_installed_targets}
  EXPORT unipar-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT unipar_development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT unipar_runtime
          NAMELINK_COMPONENT unipar_development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT unipar_runtime)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/unipar
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT unipar_development
  FILES_MATCHING PATTERN "*.hpp"
  PATTERN "mpi.hpp" EXCLUDE)
if(TARGET unipar_mpi)
  install(FILES ${PROJECT_SOURCE_DIR}/include/unipar/mpi.hpp
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/unipar COMPONENT unipar_development)
endif()

# ---- the package: targets, config, version ------------------------------------------------------
install(EXPORT unipar-targets
  NAMESPACE unipar::
  FILE unipar-targets.cmake
  DESTINATION ${UNIPAR_INSTALL_CMAKEDIR}
  COMPONENT unipar_development)

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/unipar-config.cmake.in
  ${PROJECT_BINARY_DIR}/unipar-config.cmake
  INSTALL_DESTINATION ${UNIPAR_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/unipar-config-version.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/unipar-config.cmake
  ${PROJECT_BINARY_DIR}/unipar-config-version.cmake
  DESTINATION ${UNIPAR_INSTALL_CMAKEDIR}
  COMPONENT unipar_development)

# ---- the demo program --------------------------------------------------------------------------
# apps/demo/CMakeLists.txt installs it itself (target unipar_demo, OUTPUT_NAME unipar-demo, into
# ${CMAKE_INSTALL_BINDIR}); the test install.consumer checks that bin/unipar-demo is installed
# whenever the target exists.
