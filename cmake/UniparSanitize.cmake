# With UNIPAR_SANITIZE=ON every target builds and links with ASan + UBSan; UBSan findings abort.
# With UNIPAR_SANITIZE_THREAD=ON, with ThreadSanitizer (the two cannot be combined).
# UNIPAR_SANITIZER_FLAGS holds the -fsanitize flags (empty without a sanitizer).
if(UNIPAR_SANITIZE AND UNIPAR_SANITIZE_THREAD)
  message(FATAL_ERROR "UNIPAR_SANITIZE and UNIPAR_SANITIZE_THREAD cannot be combined: build "
                      "each in its own directory (bash cmake/quickstart.sh sanitize / tsan)")
endif()
set(UNIPAR_SANITIZER_FLAGS)
set(unipar_sanitizer_compile_only)
if(UNIPAR_SANITIZE)
  set(UNIPAR_SANITIZER_FLAGS -fsanitize=address,undefined)
  set(unipar_sanitizer_compile_only -fno-sanitize-recover=undefined)
elseif(UNIPAR_SANITIZE_THREAD)
  set(UNIPAR_SANITIZER_FLAGS -fsanitize=thread)
endif()
if(UNIPAR_SANITIZER_FLAGS)
  add_compile_options(${UNIPAR_SANITIZER_FLAGS} -fno-omit-frame-pointer
                      ${unipar_sanitizer_compile_only})
  add_link_options(${UNIPAR_SANITIZER_FLAGS})
endif()
