/*
** avx512_kernels_novnni.c -- the AVX-512 kernels for CPUs without VNNI
** (Skylake-SP and its kind): the same source, compiled without
** -mavx512vnni, so that it emulates vpdpbusd with vpmaddubsw + vpmaddwd.
*/
#include "avx512_kernels.c"
