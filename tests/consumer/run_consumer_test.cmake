# cmake -P script behind the CTest test `install.consumer`:
#   1. installs the built tree into a fresh prefix:  cmake --install <BUILD_DIR> --prefix <prefix>
#   2. configures and builds tests/consumer against it (-DCMAKE_PREFIX_PATH=<prefix>)
#   3. runs the consumer program, which checks a small fork:2 computation.
# Any failing step fails the test.
#
# Variables (-D...):
#   BUILD_DIR      the unipar build tree to install                       (required)
#   SOURCE_DIR     tests/consumer                                           (required)
#   WORK_DIR       scratch directory, wiped first: <WORK_DIR>/prefix, /build (required)
#   GENERATOR      CMake generator for the consumer (default: the one of this cmake)
#   CXX_COMPILER   C++ compiler for the consumer (use the one unipar was built with)
#   BUILD_TYPE     CMAKE_BUILD_TYPE for the consumer
#   CXX_FLAGS      extra compile flags (the sanitizer flags in a sanitizer build)
#   LINKER_FLAGS   extra link flags (likewise)
#   EXPECT_DEMO    ON when the demo was built, so bin/unipar-demo must be installed
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer_test.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(step title)
  message(STATUS "install.consumer: ${title}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "install.consumer: step '${title}' failed (${result}): ${ARGN}")
  endif()
endfunction()

# 1. Install.
step("install ${BUILD_DIR} into ${prefix}"
     "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(expected IN ITEMS include/unipar/unipar.hpp include/unipar/parallelizer.hpp)
  if(NOT EXISTS "${prefix}/${expected}")
    message(FATAL_ERROR "install.consumer: ${expected} was not installed")
  endif()
endforeach()
file(GLOB_RECURSE config_files "${prefix}/*/unipar-config.cmake")
file(GLOB_RECURSE version_files "${prefix}/*/unipar-config-version.cmake")
if(NOT config_files OR NOT version_files)
  message(FATAL_ERROR "install.consumer: unipar-config.cmake or its version file is missing")
endif()
if(EXPECT_DEMO AND NOT EXISTS "${prefix}/bin/unipar-demo")
  message(FATAL_ERROR "install.consumer: the demo was built but bin/unipar-demo is missing")
endif()

# 2. Configure and build the consumer against the installed package only.
set(configure_args -S "${SOURCE_DIR}" -B "${consumer_build}"
                   "-DCMAKE_PREFIX_PATH=${prefix}" "-DUNIPAR_EXPECTED_PREFIX=${prefix}")
if(GENERATOR)
  list(APPEND configure_args -G "${GENERATOR}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
if(CXX_FLAGS)
  list(APPEND configure_args "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
endif()
if(LINKER_FLAGS)
  list(APPEND configure_args "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
endif()
step("configure the consumer" "${CMAKE_COMMAND}" ${configure_args})
step("build the consumer" "${CMAKE_COMMAND}" --build "${consumer_build}")

# 3. Run it.
step("run the consumer" "${consumer_build}/unipar_consumer")
file(GLOB_RECURSE installed_mpi_backend "${prefix}/lib*/libunipar-mpi.*")
if(installed_mpi_backend AND NOT EXISTS "${consumer_build}/unipar_consumer_mpi")
  message(FATAL_ERROR "install.consumer: unipar::mpi was installed but not found by the consumer")
endif()
if(EXISTS "${consumer_build}/unipar_consumer_mpi")
  step("run the MPI consumer" "${consumer_build}/unipar_consumer_mpi")
endif()
message(STATUS "install.consumer: passed")
