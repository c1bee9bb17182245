# bb_add_test(NAME name SOURCES ... LIBS ... LABEL unit|integration|realtime|fault|fuzz
#             [TIMEOUT s] [SERIAL] [ENV K=V ...])
# One CTest entry per test program, each with a label and a timeout. Exit code 77 means skipped.
function(bb_add_test)
    cmake_parse_arguments(T "SERIAL" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS;ENV;ARGS" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 60)
    endif()
    add_executable(${T_NAME} ${T_SOURCES})
    target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
    set_tests_properties(${T_NAME} PROPERTIES
        LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
        ENVIRONMENT "BB_BIN_DIR=${CMAKE_BINARY_DIR}/bin;BB_SOURCE_DIR=${CMAKE_SOURCE_DIR};${T_ENV}")
    if(T_SERIAL)
        set_tests_properties(${T_NAME} PROPERTIES RUN_SERIAL TRUE)
    endif()
endfunction()
