# bb_add_test(NAME name SOURCES ... LIBS ... LABEL unit|integration|realtime|fault|fuzz
#             [TIMEOUT s] [SERIAL] [ENV K=V ...] [ARGS ...] [CASES case ...])
# One CTest entry per test program, each with a label and a timeout. Exit code 77 means
# skipped. With CASES, one entry per case instead, named NAME_<case without "test_">, each
# running the program with the case's name as its argument (test_util.h test_main_group),
# so a skipped or failed case is reported on its own.
function(bb_add_test)
    cmake_parse_arguments(T "SERIAL" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS;ENV;ARGS;CASES" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 60)
    endif()
    add_executable(${T_NAME} ${T_SOURCES})
    target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    set(entries)
    if(T_CASES)
        foreach(c ${T_CASES})
            string(REGEX REPLACE "^test_" "" short ${c})
            add_test(NAME ${T_NAME}_${short} COMMAND ${T_NAME} ${c} ${T_ARGS})
            list(APPEND entries ${T_NAME}_${short})
        endforeach()
    else()
        add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
        set(entries ${T_NAME})
    endif()
    set(env "BB_BIN_DIR=${CMAKE_BINARY_DIR}/bin;BB_SOURCE_DIR=${CMAKE_SOURCE_DIR};${T_ENV}")
    if(BB_TSAN)
        # Every race report fails the test (exitcode 66), in the test and in the programs it
        # starts; tests/tsan.supp holds only frames of uninstrumented libraries.
        # OMP_NUM_THREADS=1: FluidSynth's OpenMP (libgomp, uninstrumented) starts no threads.
        list(APPEND env "TSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/tsan.supp:second_deadlock_stack=1:exitcode=66:history_size=4"
             "OMP_NUM_THREADS=1")
        math(EXPR T_TIMEOUT "${T_TIMEOUT} * 3")
    endif()
    set_tests_properties(${entries} PROPERTIES
        LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
        ENVIRONMENT "${env}")
    if(T_SERIAL)
        set_tests_properties(${entries} PROPERTIES RUN_SERIAL TRUE)
    endif()
    set(BB_TEST_ENTRIES_${T_NAME} ${entries} PARENT_SCOPE)
endfunction()

# bb_pkg_normalise(PkgConfig::X)
# CMake 3.25's pkg_check_modules(IMPORTED_TARGET) reads a module's "-isystem DIR" (libzmq
# has one, for mit-krb5) as an include directory on the first configure of a build folder
# and as a compile option on every later one, from its cache: the flags change and the
# whole tree rebuilds. This makes it the same thing every time: an include directory
# (imported targets' include directories are system ones).
function(bb_pkg_normalise target)
    get_target_property(opts ${target} INTERFACE_COMPILE_OPTIONS)
    if(NOT opts)
        return()
    endif()
    set(keep)
    set(dirs)
    set(next_is_dir FALSE)
    foreach(o IN LISTS opts)
        if(next_is_dir)
            list(APPEND dirs ${o})
            set(next_is_dir FALSE)
        elseif(o STREQUAL "-isystem")
            set(next_is_dir TRUE)
        else()
            list(APPEND keep ${o})
        endif()
    endforeach()
    set_property(TARGET ${target} PROPERTY INTERFACE_COMPILE_OPTIONS "${keep}")
    if(dirs)
        set_property(TARGET ${target} APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${dirs})
    endif()
endfunction()

# bb_pkg(PREFIX [REQUIRED] module): pkg_check_modules with an imported target
# PkgConfig::PREFIX, normalised as above. Every pkg-config dependency goes through it.
macro(bb_pkg prefix)
    pkg_check_modules(${prefix} ${ARGN} IMPORTED_TARGET)
    if(${prefix}_FOUND)
        bb_pkg_normalise(PkgConfig::${prefix})
    endif()
endmacro()
