/*
** neon_kernels_dot.c -- the NEON kernels for CPUs with the int8 dot
** product (asimddp): the same source, compiled with
** -march=armv8.2-a+dotprod, so that dot16 is one sdot.
*/
#include "neon_kernels.c"
