# unipar_add_test(<name> FILES <sources...> [PROCS <n...>] [LIBS <targets...>]
#                 [LABELS <labels...>] [TIMEOUT <seconds>])
#
# Builds one GoogleTest program and registers it once per backend and size:
#   <name>.serial, <name>.fork.<n> and, when the MPI backend is built, <name>.mpi.<n> (run as
#   `mpirun -n <n> --oversubscribe <program>`) for each n in PROCS (default 1 2 3 4).
# The program finds its backend in UNIPAR_BACKEND (see unipar::testing::backend()). Under MPI
# every rank runs the tests; rank 0 reports each test's failures on any rank, and the test fails
# when any rank fails (tests/support/gtest_main.cpp).
#
# unipar_mpi_command(<var> <nprocs> <program> [args...]) sets <var> to the mpirun command line.
# UNIPAR_MPI_TEST_ENVIRONMENT holds what Open MPI needs in the environment of a test run as root.
include_guard(GLOBAL)
find_package(GTest REQUIRED)

set(UNIPAR_MPI_TEST_ENVIRONMENT
    "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
if(UNIPAR_SANITIZE)
  # Open MPI keeps allocations until exit, some in plugins it unloads: with full stacks
  # (slow unwinding) every such leak has an Open MPI frame and is suppressed; leaks that
  # unipar allocates are still reported.
  list(APPEND UNIPAR_MPI_TEST_ENVIRONMENT
       "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=0"
       "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/support/lsan_mpi.supp")
endif()

function(unipar_mpi_command var nprocs program)
  set(${var} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${nprocs} --oversubscribe
             ${MPIEXEC_PREFLAGS} ${program} ${MPIEXEC_POSTFLAGS} ${ARGN} PARENT_SCOPE)
endfunction()

function(unipar_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "FILES;PROCS;LIBS;LABELS" ${ARGN})
  if(NOT ARG_PROCS)
    set(ARG_PROCS 1 2 3 4)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(exe ${name}_test)
  add_executable(${exe} ${ARG_FILES})
  target_link_libraries(${exe} PRIVATE unipar::unipar unipar_test_support GTest::gtest
                                       ${ARG_LIBS})
  unipar_set_warnings(${exe})

  add_test(NAME ${name}.serial COMMAND ${exe})
  set_tests_properties(${name}.serial PROPERTIES ENVIRONMENT "UNIPAR_BACKEND=serial"
                       LABELS "serial;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  foreach(n IN LISTS ARG_PROCS)
    add_test(NAME ${name}.fork.${n} COMMAND ${exe})
    set_tests_properties(${name}.fork.${n} PROPERTIES ENVIRONMENT "UNIPAR_BACKEND=fork:${n}"
                         LABELS "fork;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  endforeach()
  if(TARGET unipar_mpi)
    foreach(n IN LISTS ARG_PROCS)
      unipar_mpi_command(command ${n} $<TARGET_FILE:${exe}>)
      add_test(NAME ${name}.mpi.${n} COMMAND ${command})
      set_tests_properties(${name}.mpi.${n} PROPERTIES
                           ENVIRONMENT "UNIPAR_BACKEND=mpi;UNIPAR_PRINT=collect;${UNIPAR_MPI_TEST_ENVIRONMENT}"
                           LABELS "mpi;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT} PROCESSORS ${n})
    endforeach()
  endif()
endfunction()

# unipar_scale_timeouts(): in a sanitizer build (ASan or TSan), triples the TIMEOUT of every
# test of the calling directory (call it last in each CMakeLists.txt that adds tests). A
# timeout catches hangs; it is not a speed check, and sanitized code runs several times slower
# (conformance.mpi.4 under ASan: 50 s alone, over 120 s beside a build).
function(unipar_scale_timeouts)
  if(NOT UNIPAR_SANITIZER_FLAGS)
    return()
  endif()
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(test IN LISTS tests)
    get_test_property(${test} TIMEOUT timeout)
    if(timeout)
      math(EXPR timeout "${timeout} * 3")
      set_tests_properties(${test} PROPERTIES TIMEOUT ${timeout})
    endif()
  endforeach()
endfunction()
