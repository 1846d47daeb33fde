# With UNIPAR_SANITIZE=ON every target builds and links with ASan + UBSan; UBSan findings abort.
# With UNIPAR_SANITIZE_THREAD=ON, with ThreadSanitizer (the two cannot be combined).
if(UNIPAR_SANITIZE AND UNIPAR_SANITIZE_THREAD)
  message(FATAL_ERROR "UNIPAR_SANITIZE and UNIPAR_SANITIZE_THREAD cannot be combined: build "
                      "each in its own directory (bash cmake/quickstart.sh sanitize / tsan)")
endif()
if(UNIPAR_SANITIZE)
  set(UNIPAR_SANITIZER_FLAGS -fsanitize=address,undefined)
  add_compile_options(${UNIPAR_SANITIZER_FLAGS} -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(${UNIPAR_SANITIZER_FLAGS})
elseif(UNIPAR_SANITIZE_THREAD)
  set(UNIPAR_SANITIZER_FLAGS -fsanitize=thread)
  add_compile_options(${UNIPAR_SANITIZER_FLAGS} -fno-omit-frame-pointer)
  add_link_options(${UNIPAR_SANITIZER_FLAGS})
endif()
