/*
** hostile_cases.c -- how each file of the hostile corpus lies.
**
** Every file starts as the tiny llama of gguf_writer.h, which slm opens and
** runs, and changes one thing, so that the error a case expects can only
** come from that change. Several lies follow CVEs in other GGUF parsers:
** counts whose byte size wraps (CVE-2024-23605), dimensions whose product
** overflows (CVE-2024-21802), offset + size wrapping (CVE-2025-53630),
** element count times type size (CVE-2026-33298).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"

/* ---------------------------------------------------------------- helpers */

/* The corpus is fixed: a lie naming an entry the tiny model lacks is a bug
** in this file, not a test result. */
static gw_kv_t *kv(gguf_writer_t *w, const char *key)
{
    gw_kv_t *e = gw_kv_find(w, key);
    if (!e) {
        fprintf(stderr, "hostile: the tiny model has no key '%s'\n", key);
        abort();
    }
    return e;
}

static gw_tensor_t *tensor(gguf_writer_t *w, const char *name)
{
    gw_tensor_t *t = gw_tensor_find(w, name);
    if (!t) {
        fprintf(stderr, "hostile: the tiny model has no tensor '%s'\n", name);
        abort();
    }
    return t;
}

/* Lay the file out once, so that pos_* and data_offset are known. */
static size_t layout(gguf_writer_t *w)
{
    size_t n;
    free(gw_build(w, &n));
    return n;
}

static void set_u32(gguf_writer_t *w, const char *key, uint32_t v)
{
    gw_kv_remove(w, key);
    gw_kv_u32(w, key, v);
}

static void set_str(gguf_writer_t *w, const char *key, const char *v)
{
    gw_kv_remove(w, key);
    gw_kv_str(w, key, v);
}

/* Make a tensor `type` with dims ne (n_dims of them), keeping its data. */
static void retype(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims,
                   const uint64_t *ne)
{
    gw_tensor_t *t = tensor(w, name);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims; d++)
        t->ne[d] = ne[d];
}

/* The tiny vocabulary with token 4 ("a") replaced by a BYTE token `text`. */
static void byte_token(gguf_writer_t *w, const char *text)
{
    const char *tokens[GW_TINY_VOCAB];
    memcpy(tokens, gw_tiny_vocab, sizeof tokens);
    tokens[4] = text;
    const int32_t types[GW_TINY_VOCAB] = { 2, 3, 3, 1, 6, 1, 1, 1 };
    gw_kv_remove(w, "tokenizer.ggml.tokens");
    gw_kv_remove(w, "tokenizer.ggml.token_type");
    gw_kv_array_str(w, "tokenizer.ggml.tokens", tokens, GW_TINY_VOCAB);
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_INT32, types, GW_TINY_VOCAB);
}

#define FFN_UP "blk.0.ffn_up.weight"
#define LAST "blk.1.ffn_down.weight"

/* ----------------------------------------------------------------- header */

static void lie_empty_file(gguf_writer_t *w) { w->truncate = 0; }
static void lie_truncated_magic(gguf_writer_t *w) { w->truncate = 3; }
static void lie_bad_magic(gguf_writer_t *w) { w->magic = 0x46554746u; /* "FGUF" */ }
static void lie_magic_ggml(gguf_writer_t *w) { w->magic = 0x4c4d4747u; /* "GGML", GGUF's predecessor */ }
static void lie_version_0(gguf_writer_t *w) { w->version = 0; }
static void lie_version_1(gguf_writer_t *w) { w->version = 1; /* 32-bit counts: another layout */ }
static void lie_version_future(gguf_writer_t *w) { w->version = 4; }
static void lie_version_big_endian(gguf_writer_t *w) { w->version = 0x03000000u; }
static void lie_truncated_version(gguf_writer_t *w) { w->truncate = 6; }
static void lie_truncated_counts(gguf_writer_t *w) { w->truncate = 20; }

static void set_n_tensors(gguf_writer_t *w, uint64_t n)
{
    w->set_n_tensors = true;
    w->n_tensors_field = n;
}

static void set_n_kv(gguf_writer_t *w, uint64_t n)
{
    w->set_n_kv = true;
    w->n_kv_field = n;
}

/* "Negative": -1 as the int64 some readers take the count for. */
static void lie_tensor_count_negative(gguf_writer_t *w) { set_n_tensors(w, UINT64_MAX); }
static void lie_tensor_count_huge(gguf_writer_t *w) { set_n_tensors(w, 1ull << 60); }
/* One more than there is: the reader runs into the padding and weights. */
static void lie_tensor_count_plus_one(gguf_writer_t *w) { set_n_tensors(w, w->n_tensors + 1); }
static void lie_metadata_count_negative(gguf_writer_t *w) { set_n_kv(w, UINT64_MAX); }
static void lie_metadata_count_huge(gguf_writer_t *w) { set_n_kv(w, 1ull << 60); }
/* One more than there is: the first tensor info is read as an entry. */
static void lie_metadata_count_plus_one(gguf_writer_t *w) { set_n_kv(w, w->n_kv + 1); }

/* ---------------------------------------------------- keys and value types */

static void lie_key_length_huge(gguf_writer_t *w) { w->kv[1]->key_len_field = 1ull << 63; }
static void lie_key_length_past_end(gguf_writer_t *w) { w->kv[1]->key_len_field = 1ull << 32; }
static void lie_key_empty(gguf_writer_t *w) { gw_kv_u8(w, "", 1); }

static void lie_key_too_long(gguf_writer_t *w)
{
    char *key = malloc(70000);
    if (!key)
        abort();
    memset(key, 'k', 69999);
    key[69999] = '\0';
    gw_kv_u8(w, key, 1);
    free(key);
}

static void lie_key_duplicated(gguf_writer_t *w) { gw_kv_u32(w, "llama.embedding_length", 32); }
static void lie_key_duplicated_same_value(gguf_writer_t *w) { gw_kv_str(w, "general.architecture", "llama"); }
/* Bytes that are not text are printed as '?'. */
static void lie_key_not_text(gguf_writer_t *w) { gw_kv_raw(w, "bad\n\x01\xff", 77, NULL, 0); }
static void lie_value_type_out_of_range(gguf_writer_t *w) { gw_kv_raw(w, "odd.type", 13, "\0\0\0\0", 4); }
static void lie_value_type_max(gguf_writer_t *w) { gw_kv_raw(w, "odd.type", UINT32_MAX, "\0\0\0\0", 4); }
/* A uint32 read as a string: its 4 bytes and the next key's length make
** the string's length. */
static void lie_value_type_changed(gguf_writer_t *w) { kv(w, "llama.embedding_length")->type = GW_STRING; }
static void lie_array_elem_type_out_of_range(gguf_writer_t *w) { gw_kv_array_raw(w, "odd.elem", 13, 0, NULL, 0); }

static void lie_array_of_arrays(gguf_writer_t *w)
{
    uint8_t inner[12];
    gw_put_u32(inner, GW_UINT8);
    gw_put_u64(inner + 4, 0);
    gw_kv_array_raw(w, "nested", GW_ARRAY, 1, inner, sizeof inner);
}

/* ------------------------------------------------ known keys, wrong types */

static void lie_tokens_not_strings(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.tokens");
    gw_kv_array(w, "tokenizer.ggml.tokens", GW_UINT8, (uint8_t[GW_TINY_VOCAB]){ 0 }, GW_TINY_VOCAB);
}

static void lie_scores_not_float(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.scores");
    gw_kv_array(w, "tokenizer.ggml.scores", GW_INT32, (int32_t[GW_TINY_VOCAB]){ 0 }, GW_TINY_VOCAB);
}

static void lie_token_type_not_int(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.token_type");
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_FLOAT32, (float[GW_TINY_VOCAB]){ 1 }, GW_TINY_VOCAB);
}

static void lie_block_count_string(gguf_writer_t *w) { set_str(w, "llama.block_count", "2"); }

static void lie_architecture_number(gguf_writer_t *w)
{
    gw_kv_remove(w, "general.architecture");
    gw_kv_u32(w, "general.architecture", 1);
}

static void lie_alignment_uint64(gguf_writer_t *w) { gw_kv_u64(w, "general.alignment", 32); }
static void lie_alignment_string(gguf_writer_t *w) { gw_kv_str(w, "general.alignment", "32"); }
static void lie_alignment_array(gguf_writer_t *w)
{
    gw_kv_array(w, "general.alignment", GW_UINT32, (uint32_t[]){ 32 }, 1);
}
static void lie_bos_string(gguf_writer_t *w) { set_str(w, "tokenizer.ggml.bos_token_id", "1"); }
static void lie_add_bos_not_bool(gguf_writer_t *w) { gw_kv_u8(w, "tokenizer.ggml.add_bos_token", 1); }

/* ------------------------------------- strings and arrays past the end */

static void lie_string_length_huge(gguf_writer_t *w) { gw_put_u64(kv(w, "general.architecture")->value, 1ull << 63); }
static void lie_string_length_max(gguf_writer_t *w) { gw_put_u64(kv(w, "general.architecture")->value, UINT64_MAX); }

/* general.name claims exactly one byte more than the file has left. */
static void lie_string_length_past_end(gguf_writer_t *w)
{
    size_t n = layout(w);
    gw_kv_t *e = kv(w, "general.name");
    gw_put_u64(e->value, n - (e->pos_value + 8) + 1);
}

static void lie_array_count_huge(gguf_writer_t *w) { kv(w, "tokenizer.ggml.scores")->count = 1ull << 62; }
/* 2^62 int32 are 2^64 bytes: zero, if the product wraps. */
static void lie_array_count_wraps(gguf_writer_t *w) { kv(w, "tokenizer.ggml.token_type")->count = 1ull << 62; }
static void lie_string_array_count_huge(gguf_writer_t *w) { kv(w, "tokenizer.ggml.tokens")->count = 1ull << 62; }
/* 2^61 strings of at least 8 bytes: 2^64 bytes. */
static void lie_string_array_count_wraps(gguf_writer_t *w) { kv(w, "tokenizer.ggml.tokens")->count = 1ull << 61; }
/* Few enough to pass the first bound; the strings after the 8th are read
** from the entries that follow, until a length runs past the end. */
static void lie_string_array_count_too_many(gguf_writer_t *w) { kv(w, "tokenizer.ggml.tokens")->count = 50; }

/* The second token's length: after the first's 8-byte length and 5 bytes. */
static void lie_token_string_past_end(gguf_writer_t *w)
{
    gw_put_u64(kv(w, "tokenizer.ggml.tokens")->value + 8 + 5, 1ull << 62);
}

/* ------------------------------------------------------- general.alignment */

static void lie_alignment_0(gguf_writer_t *w) { gw_kv_u32(w, "general.alignment", 0); }
static void lie_alignment_3(gguf_writer_t *w) { gw_kv_u32(w, "general.alignment", 3); }
static void lie_alignment_48(gguf_writer_t *w) { gw_kv_u32(w, "general.alignment", 48); }
/* A power of two, but padding to it could wrap a size near SIZE_MAX. */
static void lie_alignment_huge(gguf_writer_t *w) { gw_kv_u32(w, "general.alignment", 1u << 31); }
static void lie_alignment_max(gguf_writer_t *w) { gw_kv_u32(w, "general.alignment", UINT32_MAX); }

/* ------------------------------------------------------------ tensor infos */

static void lie_tensor_name_empty(gguf_writer_t *w)
{
    gw_tensor(w, "", GW_F32, 1, (int64_t[]){ 1 }, NULL, 4);
}

/* 64 bytes: one more than a graph tensor's name holds. */
static void lie_tensor_name_too_long(gguf_writer_t *w)
{
    char name[65];
    snprintf(name, sizeof name, "blk.0.%058d", 0);
    gw_tensor(w, name, GW_F32, 1, (int64_t[]){ 1 }, NULL, 4);
}

static void lie_tensor_name_length_huge(gguf_writer_t *w) { w->tensors[1]->name_len_field = 1ull << 62; }

static void lie_tensor_name_duplicated(gguf_writer_t *w)
{
    gw_tensor(w, "blk.0.attn_q.weight", GW_F32, 2, (int64_t[]){ 16, 16 }, NULL, 16 * 16 * 4);
}

static void lie_n_dims_0(gguf_writer_t *w) { tensor(w, FFN_UP)->n_dims = 0; }
static void lie_n_dims_5(gguf_writer_t *w) { retype(w, FFN_UP, GW_F32, 5, (uint64_t[]){ 16, 32, 1, 1, 1 }); }
static void lie_n_dims_max(gguf_writer_t *w) { tensor(w, FFN_UP)->n_dims = UINT32_MAX; }
static void lie_dim_zero(gguf_writer_t *w) { tensor(w, FFN_UP)->ne[1] = 0; }
static void lie_dim_negative(gguf_writer_t *w) { tensor(w, FFN_UP)->ne[1] = UINT64_MAX; }
static void lie_dims_overflow(gguf_writer_t *w)
{
    retype(w, FFN_UP, GW_F32, 4, (uint64_t[]){ 1u << 16, 1u << 16, 1u << 16, 1u << 16 });
}
/* 3 x 3074457345618258603 = 2^63 + 1: one past int64. */
static void lie_dims_overflow_odd(gguf_writer_t *w)
{
    retype(w, FFN_UP, GW_F32, 2, (uint64_t[]){ 3, 3074457345618258603ull });
}
/* The element count fits; times 4 (or 8) bytes it does not. */
static void lie_byte_size_overflow(gguf_writer_t *w) { retype(w, FFN_UP, GW_F32, 2, (uint64_t[]){ 1ull << 62, 1 }); }
static void lie_byte_size_overflow_f64(gguf_writer_t *w) { retype(w, FFN_UP, GW_F64, 2, (uint64_t[]){ 1ull << 61, 1 }); }
static void lie_row_not_block_multiple(gguf_writer_t *w) { tensor(w, FFN_UP)->type = GW_Q8_0; }
static void lie_row_not_super_block_multiple(gguf_writer_t *w) { tensor(w, FFN_UP)->type = GW_Q4_K; }
/* 4 was q4_2, removed from the format; 31 was never assigned. */
static void lie_dtype_removed(gguf_writer_t *w) { tensor(w, FFN_UP)->type = 4; }
static void lie_dtype_unknown(gguf_writer_t *w) { tensor(w, FFN_UP)->type = 31; }
static void lie_dtype_max(gguf_writer_t *w) { tensor(w, FFN_UP)->type = UINT32_MAX; }

/* ----------------------------------------------------------------- offsets */

static void fix_offset(gguf_writer_t *w, const char *name, uint64_t offset)
{
    gw_tensor_t *t = tensor(w, name);
    t->offset_fixed = true;
    t->offset = offset;
}

static void lie_offset_unaligned(gguf_writer_t *w)
{
    layout(w);
    fix_offset(w, "output.weight", tensor(w, "output.weight")->offset + 4);
}

static void lie_offset_past_end(gguf_writer_t *w) { fix_offset(w, LAST, 1ull << 40); }
/* offset + size wraps to a small number. */
static void lie_offset_wraps(gguf_writer_t *w) { fix_offset(w, "token_embd.weight", UINT64_MAX - 31); }
/* The last tensor's rows run past the data section. */
static void lie_size_past_end(gguf_writer_t *w) { tensor(w, LAST)->ne[1] = 17; }
static void lie_offset_overlapping(gguf_writer_t *w) { fix_offset(w, "output.weight", 0); }

/* output.weight starts 32 bytes into output_norm.weight's 64. */
static void lie_offset_overlapping_partly(gguf_writer_t *w)
{
    layout(w);
    fix_offset(w, "output.weight", tensor(w, "output_norm.weight")->offset + 32);
}

/* The data section starts right after the infos: every tensor's data is
** where the file says the previous one's is, the last one short. */
static void lie_no_padding(gguf_writer_t *w) { w->no_padding = true; }

/* ------------------------------------------------------------- truncations */

/* Cut in kv[3]: the counts promise more than the bytes left can hold. */
static void lie_truncated_early(gguf_writer_t *w) { layout(w); w->truncate = w->kv[3]->pos + 8 + 3; }

/* Cuts inside the metadata must come late, or the counts fail first (as in
** truncated_early): in the last entry, or in one appended after it. */
static gw_kv_t *last_kv(gguf_writer_t *w)
{
    layout(w);
    return w->kv[w->n_kv - 1];
}

static void lie_truncated_in_key(gguf_writer_t *w) { w->truncate = last_kv(w)->pos + 8 + 3; }
static void lie_truncated_in_value_type(gguf_writer_t *w) { w->truncate = last_kv(w)->pos_type + 2; }
static void lie_truncated_in_value(gguf_writer_t *w) { w->truncate = last_kv(w)->pos_value + 2; }

static void lie_truncated_in_string(gguf_writer_t *w)
{
    gw_kv_str(w, "general.description", "a tiny llama");
    w->truncate = last_kv(w)->pos_value + 10;
}

static const char *const tags[] = { "tiny", "llama", "test" };

static void lie_truncated_in_array_header(gguf_writer_t *w)
{
    gw_kv_array_str(w, "general.tags", tags, 3);
    w->truncate = last_kv(w)->pos_type + 6;
}

/* Two bytes into the third string, "test". */
static void lie_truncated_in_array(gguf_writer_t *w)
{
    gw_kv_array_str(w, "general.tags", tags, 3);
    w->truncate = last_kv(w)->pos_value + (8 + 4) + (8 + 5) + 8 + 2;
}

static void lie_truncated_in_tensor_name(gguf_writer_t *w) { layout(w); w->truncate = w->tensors[5]->pos + 10; }
static void lie_truncated_in_dims(gguf_writer_t *w) { layout(w); w->truncate = w->tensors[5]->pos_ne + 12; }
static void lie_truncated_in_dtype(gguf_writer_t *w) { layout(w); w->truncate = w->tensors[5]->pos_type + 1; }
static void lie_truncated_in_offset(gguf_writer_t *w) { layout(w); w->truncate = w->tensors[5]->pos_offset + 3; }

/* The file ends one byte into the padding before the data section: a key
** of the right length moves the end of the infos off the alignment. */
static void lie_truncated_in_padding(gguf_writer_t *w)
{
    char pad[33] = "";
    size_t end = 0;
    for (size_t len = 0; len < sizeof pad - 1; len++) {
        pad[len] = 'p';
        gw_kv_remove(w, "pad");
        gw_kv_str(w, "pad", pad);
        layout(w);
        const gw_tensor_t *t = w->tensors[w->n_tensors - 1];
        end = t->pos_offset + 8;
        if (w->data_offset - end >= 2)
            break;
    }
    w->truncate = end + 1;
}

static void lie_truncated_in_data(gguf_writer_t *w) { layout(w); w->truncate = w->data_offset + 100; }
static void lie_truncated_in_last_tensor(gguf_writer_t *w) { w->truncate = layout(w) - 1; }

/* ------------------------------------------------------- hyperparameters */

static void lie_block_count_too_many(gguf_writer_t *w) { set_u32(w, "llama.block_count", 3); }
static void lie_block_count_too_few(gguf_writer_t *w) { set_u32(w, "llama.block_count", 1); }
static void lie_block_count_0(gguf_writer_t *w) { set_u32(w, "llama.block_count", 0); }
/* Loading must not allocate or loop per layer before finding blk.2 absent. */
static void lie_block_count_huge(gguf_writer_t *w) { set_u32(w, "llama.block_count", UINT32_MAX); }
static void lie_embedding_length_wrong(gguf_writer_t *w) { set_u32(w, "llama.embedding_length", 32); }
static void lie_embedding_length_0(gguf_writer_t *w) { set_u32(w, "llama.embedding_length", 0); }
static void lie_feed_forward_wrong(gguf_writer_t *w) { set_u32(w, "llama.feed_forward_length", 64); }

static void lie_head_count_kv_not_dividing(gguf_writer_t *w)
{
    set_u32(w, "llama.attention.head_count", 3);
    set_u32(w, "llama.attention.head_count_kv", 2);
}

static void lie_head_count_not_dividing_embd(gguf_writer_t *w) { set_u32(w, "llama.attention.head_count", 3); }
static void lie_head_count_more_than_embd(gguf_writer_t *w) { set_u32(w, "llama.attention.head_count", 32); }
static void lie_head_count_0(gguf_writer_t *w) { set_u32(w, "llama.attention.head_count", 0); }
static void lie_head_count_kv_0(gguf_writer_t *w) { set_u32(w, "llama.attention.head_count_kv", 0); }
static void lie_head_size_0(gguf_writer_t *w) { gw_kv_u32(w, "llama.attention.key_length", 0); }
static void lie_value_size_0(gguf_writer_t *w) { gw_kv_u32(w, "llama.attention.value_length", 0); }
static void lie_rope_dims_past_head(gguf_writer_t *w) { gw_kv_u32(w, "llama.rope.dimension_count", 16); }
static void lie_rope_dims_odd(gguf_writer_t *w) { gw_kv_u32(w, "llama.rope.dimension_count", 3); }

static void lie_expert_used_past_count(gguf_writer_t *w)
{
    gw_kv_u32(w, "llama.expert_count", 4);
    gw_kv_u32(w, "llama.expert_used_count", 5);
}

static void lie_epsilon_nan(gguf_writer_t *w)
{
    gw_kv_remove(w, "llama.attention.layer_norm_rms_epsilon");
    gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", NAN);
}

static void lie_architecture_unknown(gguf_writer_t *w) { set_str(w, "general.architecture", "foo"); }
static void lie_architecture_missing(gguf_writer_t *w) { gw_kv_remove(w, "general.architecture"); }
static void lie_architecture_empty(gguf_writer_t *w) { set_str(w, "general.architecture", ""); }
static void lie_feed_forward_missing(gguf_writer_t *w) { gw_kv_remove(w, "llama.feed_forward_length"); }
static void lie_embedding_length_missing(gguf_writer_t *w) { gw_kv_remove(w, "llama.embedding_length"); }
static void lie_tensor_missing(gguf_writer_t *w) { gw_tensor_remove(w, "blk.1.ffn_up.weight"); }
static void lie_token_embd_missing(gguf_writer_t *w) { gw_tensor_remove(w, "token_embd.weight"); }
static void lie_output_norm_missing(gguf_writer_t *w) { gw_tensor_remove(w, "output_norm.weight"); }
/* K made as wide as Q, as if there were no grouped-query attention. */
static void lie_tensor_wrong_shape(gguf_writer_t *w)
{
    gw_tensor_remove(w, "blk.0.attn_k.weight");
    gw_tensor(w, "blk.0.attn_k.weight", GW_F32, 2, (int64_t[]){ 16, 16 }, NULL, 16 * 16 * 4);
}
static void lie_norm_2d(gguf_writer_t *w)
{
    gw_tensor_remove(w, "blk.1.attn_norm.weight");
    gw_tensor(w, "blk.1.attn_norm.weight", GW_F32, 2, (int64_t[]){ 16, 2 }, NULL, 32 * 4);
}
/* A valid f64 tensor: GGUF defines it, slm cannot compute it. */
static void lie_dtype_not_computable(gguf_writer_t *w)
{
    gw_tensor_remove(w, FFN_UP);
    gw_tensor(w, FFN_UP, GW_F64, 2, (int64_t[]){ 16, 32 }, NULL, 16 * 32 * 8);
}
static void lie_rope_scaling_yarn(gguf_writer_t *w) { gw_kv_str(w, "llama.rope.scaling.type", "yarn"); }

/* --------------------------------------------------------------- tokenizer */

static void lie_tokenizer_unknown(gguf_writer_t *w) { set_str(w, "tokenizer.ggml.model", "nonesuch"); }
static void lie_tokenizer_missing(gguf_writer_t *w) { gw_kv_remove(w, "tokenizer.ggml.model"); }
static void lie_tokens_missing(gguf_writer_t *w) { gw_kv_remove(w, "tokenizer.ggml.tokens"); }

static void lie_tokens_empty(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.tokens");
    gw_kv_remove(w, "tokenizer.ggml.scores");
    gw_kv_remove(w, "tokenizer.ggml.token_type");
    gw_kv_array_str(w, "tokenizer.ggml.tokens", NULL, 0);
}

static void lie_tokens_more_than_rows(gguf_writer_t *w)
{
    const char *nine[GW_TINY_VOCAB + 1];
    memcpy(nine, gw_tiny_vocab, sizeof gw_tiny_vocab);
    nine[GW_TINY_VOCAB] = "c";
    gw_kv_remove(w, "tokenizer.ggml.tokens");
    gw_kv_remove(w, "tokenizer.ggml.scores");
    gw_kv_remove(w, "tokenizer.ggml.token_type");
    gw_kv_array_str(w, "tokenizer.ggml.tokens", nine, GW_TINY_VOCAB + 1);
}

static void lie_scores_short(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.scores");
    gw_kv_array(w, "tokenizer.ggml.scores", GW_FLOAT32, (float[]){ 0, 0, 0 }, 3);
}

static void lie_token_type_long(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.token_type");
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_INT32, (int32_t[GW_TINY_VOCAB + 1]){ 1 },
                GW_TINY_VOCAB + 1);
}

static void lie_bos_out_of_range(gguf_writer_t *w) { set_u32(w, "tokenizer.ggml.bos_token_id", GW_TINY_VOCAB); }
static void lie_eos_out_of_range(gguf_writer_t *w) { set_u32(w, "tokenizer.ggml.eos_token_id", 1000); }

static void lie_unk_negative(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.unknown_token_id");
    gw_kv_i32(w, "tokenizer.ggml.unknown_token_id", -5);
}

/* 0xFFFFFFFF means "none"; one less is an id. */
static void lie_pad_out_of_range(gguf_writer_t *w) { gw_kv_u32(w, "tokenizer.ggml.padding_token_id", UINT32_MAX - 1); }
static void lie_byte_token_negative(gguf_writer_t *w) { byte_token(w, "<0x-1>"); }
static void lie_byte_token_not_hex(gguf_writer_t *w) { byte_token(w, "<0xZZ>"); }
static void lie_byte_token_short(gguf_writer_t *w) { byte_token(w, "<0x1>"); }
static void lie_byte_token_long(gguf_writer_t *w) { byte_token(w, "<0x100>"); }

/* ------------------------------------------------------------------ table */

const hostile_case_t hostile_cases[] = {
#define HOSTILE(name, status, what, what2) { #name, lie_##name, SLM_ERR_##status, what, what2 },
#include "cases.def"
#undef HOSTILE
};
const size_t hostile_n_cases = sizeof hostile_cases / sizeof hostile_cases[0];

const hostile_case_t *hostile_find(const char *name)
{
    for (size_t i = 0; i < hostile_n_cases; i++)
        if (!strcmp(hostile_cases[i].name, name))
            return &hostile_cases[i];
    return NULL;
}

int hostile_write(const hostile_case_t *c, const char *path)
{
    gguf_writer_t *w = gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT);
    c->lie(w);
    int rc = gw_write_file(w, path);
    gw_destroy(w);
    return rc;
}
