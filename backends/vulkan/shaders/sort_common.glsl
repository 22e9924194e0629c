// sort_common.glsl -- the order of ARGSORT and TOP_K. Include common.glsl
// first.
//
// Entries are (key, index) pairs and "a before b" is a total order: key
// ascending (or descending with u[4] set), ties by the lower index, which
// is exactly what a stable sort of the keys gives. SENTINEL pads a chunk
// to a power of two and sorts after everything.

#define SENTINEL 0xFFFFFFFFu

bool sorts_before(float ak, uint ai, float bk, uint bi)
{
    if (ai == SENTINEL)
        return false;
    if (bi == SENTINEL)
        return true;
    bool desc = UARG(4) != 0u;
    if (ak == bk)
        return ai < bi;
    return desc ? ak > bk : ak < bk;
}

// Scratch entries are two words, key bits then index, at row_off(t, row) +
// 8 * e: vk_ops.c describes a scratch run as tensor t of ne = {entries,
// rows, 1, 1} and nb = {8, row stride, 0, 0}.
