# CMake toolchain for an AArch64 Linux cross build with Debian's
# gcc-aarch64-linux-gnu; tests run under qemu-aarch64 (qemu-user), which
# finds the target's C library in /usr/aarch64-linux-gnu. Used by
# .ci/setup.sh --aarch64 with -DSLM_PLUGINS_ONLY=ON (libslm's own
# dependencies are not installed for the target).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# add_test() runs target executables through this; QEMU_CPU picks the CPU
# model (qemu's default, "max", has every extension the plugin looks for).
find_program(SLM_QEMU_AARCH64 qemu-aarch64)
if(SLM_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SLM_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
