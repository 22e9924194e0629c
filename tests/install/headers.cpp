// The public headers as a C++ program sees them: together, after a C++
// header, and linked against libslm, which holds only if their declarations
// are extern "C".
#include <cstdio>

#include <slm/slm.h>
#include <slm/graph.h>
#include <slm/backend.h>

int main()
{
    std::printf("%s %s\n", slm_strerror(SLM_ERR_ABI), slm_op_name(SLM_OP_RMS_NORM));
    return 0;
}
