// diffusion_bench: greedy LLaDA diffusion generation on llama.cpp's libllama, timed the way `llada bench` times
// llada, for scripts/llamacpp-compare.sh (issue 16 item 8). Also quantizes a GGUF file with libllama's own
// quantizer, since the prebuilt npm package ships the library but no llama-quantize or llama-diffusion-cli.
//
//   diffusion_bench gen MODEL.gguf THREADS PROMPT_IDS GEN_LENGTH STEPS BLOCK_LENGTH MASK_ID REPEAT
//   diffusion_bench quantize IN.gguf OUT.gguf f32|q8_0|q4_k_m THREADS
//
// The sampler is LLaDA's (ML-GSAI/LLaDA generate.py, remasking='low_confidence', temperature 0): the canvas is
// the prompt followed by GEN_LENGTH mask tokens, split into blocks of BLOCK_LENGTH; each block gets
// STEPS / blocks forward passes and commits, at pass s, num_transfer_tokens[s] of its still-masked positions
// (masked count / passes each, the remainder spread over the first passes) with the highest softmax
// probability of their argmax token. Ties break to the lowest token id and then the lowest position, as in
// llada. Every pass runs the whole canvas with bidirectional attention and asks for logits at every position,
// as llama.cpp's examples/diffusion does; this program is written from that description, not copied from it.
//
// Output: one line per timed run, "run R ms MS ids I,I,...", then "summary tokens_per_s T step_ms_p50 P".
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-backend.h"
#include "llama.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_ids(const char *s, llama_token *out, int cap) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || n == cap) return -1;
        out[n++] = (llama_token)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

static void load_backends(void) {
    const char *dir = getenv("LLAMACPP_LIB_DIR");  // where libggml-cpu-*.so live (the npm package's bins/)
    if (dir) ggml_backend_load_all_from_path(dir);
    else ggml_backend_load_all();
}

static int quantize(const char *in, const char *out, const char *type, int threads) {
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    if (!strcmp(type, "q8_0")) p.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
    else if (!strcmp(type, "q4_k_m")) p.ftype = LLAMA_FTYPE_MOSTLY_Q4_K_M;
    else if (!strcmp(type, "f32")) p.ftype = LLAMA_FTYPE_ALL_F32;
    else {
        fprintf(stderr, "unknown type %s (want f32, q8_0 or q4_k_m)\n", type);
        return 2;
    }
    p.nthread = threads;
    if (llama_model_quantize(in, out, &p) != 0) {
        fprintf(stderr, "quantize %s -> %s failed\n", in, out);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "quantize")) {
        load_backends();
        llama_backend_init();
        return quantize(argv[2], argv[3], argv[4], atoi(argv[5]));
    }
    if (argc != 10 || strcmp(argv[1], "gen")) {
        fprintf(stderr, "usage: %s gen MODEL.gguf THREADS PROMPT_IDS GEN_LENGTH STEPS BLOCK_LENGTH MASK_ID REPEAT\n"
                        "       %s quantize IN.gguf OUT.gguf f32|q8_0|q4_k_m THREADS\n", argv[0], argv[0]);
        return 2;
    }
    const int threads = atoi(argv[3]), gen = atoi(argv[5]), steps = atoi(argv[6]), block = atoi(argv[7]);
    const llama_token mask = atoi(argv[8]);
    const int repeat = atoi(argv[9]);
    llama_token prompt[4096];
    const int np = parse_ids(argv[4], prompt, 4096);
    if (np < 0 || gen <= 0 || block <= 0 || gen % block || steps % (gen / block) || repeat <= 0 || threads <= 0) {
        fprintf(stderr, "bad arguments: prompt ids, gen_length a multiple of block_length, steps a multiple of "
                        "the block count, repeat and threads > 0\n");
        return 2;
    }
    const int L = np + gen, nblocks = gen / block, per_block = steps / nblocks;

    load_backends();
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (!model) {
        fprintf(stderr, "cannot load %s\n", argv[2]);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = L;
    cp.n_batch = L;
    cp.n_ubatch = L;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "cannot create a context\n");
        return 1;
    }
    llama_set_causal_attn(ctx, false);
    const int V = llama_vocab_n_tokens(llama_model_get_vocab(model));

    struct llama_batch batch = llama_batch_init(L, 0, 1);
    llama_token *canvas = malloc(sizeof(llama_token) * L);
    double *conf = malloc(sizeof(double) * L);
    llama_token *best = malloc(sizeof(llama_token) * L);
    double *step_ms = malloc(sizeof(double) * (size_t)steps * repeat);
    int nstep = 0;
    double total_ms = 0;

    for (int run = 0; run <= repeat; run++) {  // run 0 is the warm-up, not reported
        memcpy(canvas, prompt, sizeof(llama_token) * np);
        for (int i = np; i < L; i++) canvas[i] = mask;
        const double t0 = now_ms();
        for (int b = 0; b < nblocks; b++) {
            const int lo = np + b * block, hi = lo + block;
            for (int s = 0; s < per_block; s++) {
                const double ts = now_ms();
                int masked = 0;
                for (int i = lo; i < hi; i++) masked += canvas[i] == mask;
                // LLaDA's get_num_transfer_tokens for this block, evaluated at pass s
                const int base = block / per_block, rem = block % per_block;
                int k = base + (s < rem ? 1 : 0);
                if (k > masked) k = masked;
                batch.n_tokens = L;
                for (int i = 0; i < L; i++) {
                    batch.token[i] = canvas[i];
                    batch.pos[i] = i;
                    batch.n_seq_id[i] = 1;
                    batch.seq_id[i][0] = 0;
                    batch.logits[i] = 1;
                }
                llama_memory_t mem = llama_get_memory(ctx);
                if (mem) llama_memory_clear(mem, true);
                if (llama_decode(ctx, batch) != 0) {
                    fprintf(stderr, "llama_decode failed\n");
                    return 1;
                }
                for (int i = lo; i < hi; i++) {
                    conf[i] = -INFINITY;
                    if (canvas[i] != mask) continue;
                    const float *lg = llama_get_logits_ith(ctx, i);
                    int am = 0;
                    for (int v = 1; v < V; v++)
                        if (lg[v] > lg[am]) am = v;
                    double z = 0;
                    for (int v = 0; v < V; v++) z += exp((double)lg[v] - lg[am]);
                    best[i] = am;
                    conf[i] = 1.0 / z;
                }
                for (int t = 0; t < k; t++) {
                    int pick = -1;
                    for (int i = lo; i < hi; i++)
                        if (canvas[i] == mask && (pick < 0 || conf[i] > conf[pick])) pick = i;
                    canvas[pick] = best[pick];
                }
                if (run > 0) step_ms[nstep++] = now_ms() - ts;
            }
        }
        const double ms = now_ms() - t0;
        if (run == 0) continue;
        total_ms += ms;
        printf("run %d ms %.2f ids ", run, ms);
        for (int i = np; i < L; i++) printf(i > np ? ",%d" : "%d", canvas[i]);
        printf("\n");
    }
    qsort(step_ms, nstep, sizeof(double), cmp_double);
    printf("summary tokens_per_s %.3f step_ms_p50 %.2f\n", gen * repeat / (total_ms / 1e3), step_ms[nstep / 2]);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
