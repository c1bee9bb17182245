# Cross-building the capture node for a 64-bit Raspberry Pi (arm64, Debian's aarch64)
# with Debian's gcc-aarch64-linux-gnu:
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DBB_NODE_ONLY=ON [-DBB_ARM64_SYSROOT=DIR]
#
# The arm64 libraries come from Debian's arm64 packages, either installed with multiarch
# (dpkg --add-architecture arm64; apt-get install libczmq-dev:arm64 ...: pkg-config then
# reads /usr/lib/aarch64-linux-gnu/pkgconfig) or, where some of those -dev packages
# would replace the machine's own amd64 ones, downloaded and unpacked into a folder
# (scripts/arm64-sysroot.sh) given as BB_ARM64_SYSROOT. protoc-c runs on the build
# machine. Tests run under qemu-user-static (CMAKE_CROSSCOMPILING_EMULATOR), so
# `ctest` in the build folder runs the node's unit tests as arm64 code.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(BB_ARM64_TRIPLET aarch64-linux-gnu)

set(BB_ARM64_SYSROOT "$ENV{BB_ARM64_SYSROOT}" CACHE PATH
    "arm64 packages unpacked here (scripts/arm64-sysroot.sh); empty: installed with multiarch")
# CMake reads this file again for its test compilations, in the same process: they must
# see the same folder (and set the same environment) as the project
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES BB_ARM64_SYSROOT)
if(BB_ARM64_SYSROOT)
    set(ENV{BB_ARM64_SYSROOT} ${BB_ARM64_SYSROOT})
endif()

if(BB_ARM64_SYSROOT)
    set(s ${BB_ARM64_SYSROOT})
    set(ENV{PKG_CONFIG_SYSROOT_DIR} ${s})
    set(ENV{PKG_CONFIG_LIBDIR}
        "${s}/usr/lib/${BB_ARM64_TRIPLET}/pkgconfig:${s}/usr/share/pkgconfig:${s}/usr/lib/pkgconfig")
    # headers and libraries of the unpacked packages; the toolchain keeps its own libc
    set(CMAKE_C_FLAGS_INIT "-I${s}/usr/include/${BB_ARM64_TRIPLET} -I${s}/usr/include")
    set(link "-L${s}/usr/lib/${BB_ARM64_TRIPLET} -L${s}/lib/${BB_ARM64_TRIPLET}")
    string(APPEND link " -Wl,-rpath-link,${s}/usr/lib/${BB_ARM64_TRIPLET}")
    string(APPEND link " -Wl,-rpath-link,${s}/lib/${BB_ARM64_TRIPLET}")
    set(CMAKE_EXE_LINKER_FLAGS_INIT "${link}")
    set(CMAKE_FIND_ROOT_PATH ${s} /usr/${BB_ARM64_TRIPLET})
    set(qemu_prefix ${s})
else()
    set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${BB_ARM64_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
    set(CMAKE_FIND_ROOT_PATH /usr/${BB_ARM64_TRIPLET} /)
    set(qemu_prefix /usr/${BB_ARM64_TRIPLET})
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE ${BB_ARM64_TRIPLET})

find_program(BB_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(BB_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${BB_QEMU_AARCH64} -L ${qemu_prefix} -E
        LD_LIBRARY_PATH=/lib/${BB_ARM64_TRIPLET}:/usr/lib/${BB_ARM64_TRIPLET})
endif()
