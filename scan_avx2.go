//go:build cgo && amd64

package llada

/*
#pragma GCC optimize("fp-contract=off")
#include <immintrin.h>
#include <math.h>
#include <string.h>

// AVX2/FMA kernels of the fused scoring pass (see scan_fast.go for what each computes and why). Every
// kernel carries a target attribute instead of a global -mavx2 so that nothing else in this unit (cgo's own
// glue included) can pick up AVX2 instructions: llada_has_avx2 runs first on any CPU. The fp-contract pragma
// stops GCC from fusing a separate multiply and subtract into an FMA (see llada_expsum).

static int llada_has_avx2(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

typedef struct { float max; int bad; } llada_max_t;
typedef struct { double sum, tx; float sec; long eq; } llada_exp_t;
typedef struct { long idx; double cum; } llada_draw_t;

// The tail of a row is copied into an 8-wide buffer padded with -Inf, which is neutral for every kernel
// (no mass, never a maximum, never bad).
__attribute__((target("avx2,fma")))
static __m256 llada_tail(const float* x, long n) {
	float t[8];
	for (int k = 0; k < 8; k++) t[k] = k < n ? x[k] : -INFINITY;
	return _mm256_loadu_ps(t);
}

__attribute__((target("avx2,fma")))
static llada_max_t llada_max(const float* x, long n) {
	const __m256 inf = _mm256_set1_ps(INFINITY);
	__m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, bad = _mm256_setzero_ps();
	long i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
		m0 = _mm256_max_ps(m0, a);
		m1 = _mm256_max_ps(m1, b);
		// not (v < +Inf), unordered included: NaN or +Inf.
		bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));
		bad = _mm256_or_ps(bad, _mm256_cmp_ps(b, inf, _CMP_NLT_UQ));
	}
	for (; i < n; i += 8) {
		__m256 a = n - i >= 8 ? _mm256_loadu_ps(x + i) : llada_tail(x + i, n - i);
		m0 = _mm256_max_ps(m0, a);
		bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));
	}
	m0 = _mm256_max_ps(m0, m1);
	float t[8];
	_mm256_storeu_ps(t, m0);
	llada_max_t r = { -INFINITY, _mm256_movemask_ps(bad) != 0 };
	for (int k = 0; k < 8; k++) if (t[k] > r.max) r.max = t[k];
	return r;
}

__attribute__((target("avx2,fma")))
static long llada_first_eq(const float* x, long n, float v) {
	const __m256 vv = _mm256_set1_ps(v);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		int mk = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vv, _CMP_EQ_OQ));
		if (mk) return i + __builtin_ctz(mk);
	}
	for (; i < n; i++) if (x[i] == v) return i;
	return -1;
}

// llada_exp8 is exp(d) in float32 for d <= 0, to a few float32 ulps: d = k ln2 + r with |r| <= ln2/2, a
// degree-7 Taylor polynomial for exp(r) (truncation under 1e-8 relative), and k added to the exponent
// bits. Below -87 (where 2^k would need a subnormal) the result is 0, as is exp(-Inf): such terms weigh under
// 2e-38 each.
__attribute__((target("avx2,fma")))
static inline __m256 llada_exp8(__m256 d) {
	const __m256 lo = _mm256_set1_ps(-87.0f);
	__m256 keep = _mm256_cmp_ps(d, lo, _CMP_GE_OQ);
	d = _mm256_max_ps(d, lo);
	__m256 k = _mm256_round_ps(_mm256_mul_ps(d, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), d);
	r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.0f / 5040.0f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	__m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(k), 23);
	p = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
	return _mm256_and_ps(p, keep);
}

// llada_delta8 is x·scale - M for eight logits, rounded to float32. With M = mf·scale it is taken as
// (x - mf)·scale in float32: both factors carry one rounding, so d is within about 1.2e-7 relative, which
// moves exp(d) by at most 1.2e-7·|d|·exp(d) <= 5e-8 absolute, and the maximum keeps its exact 0. A scale
// beyond float32's range (a temperature under 1e-30) takes the float64 route of the scalar pass instead.
__attribute__((target("avx2,fma")))
static inline __m256 llada_delta8(__m256 a, float mf, double M, double scale) {
	if (scale == 1.0) return _mm256_sub_ps(a, _mm256_set1_ps(mf));
	if (scale < 1e30) return _mm256_mul_ps(_mm256_sub_ps(a, _mm256_set1_ps(mf)), _mm256_set1_ps((float)scale));
	const __m256d vM = _mm256_set1_pd(M), vs = _mm256_set1_pd(scale);
	__m256d d0 = _mm256_sub_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), vs), vM);
	__m256d d1 = _mm256_sub_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)), vs), vM);
	return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(d0)), _mm256_cvtpd_ps(d1), 1);
}

// llada_expsum returns Σ exp(d), Σ exp(d)·d (d = x·scale - M), the largest logit below mf and the count of
// logits equal to mf. The sums run in float32 over blocks of 64 logits (8 per lane, so each partial sum
// carries at most a few float32 ulps) and are added to float64 totals after every block; when blocks is
// not NULL each block's mass is stored there too, for llada_draw.
__attribute__((target("avx2,fma")))
static llada_exp_t llada_expsum(const float* x, long n, float mf, double M, double scale, double* blocks) {
	const __m256 vm = _mm256_set1_ps(mf), ninf = _mm256_set1_ps(-INFINITY), lo = _mm256_set1_ps(-87.0f);
	__m256d S = _mm256_setzero_pd(), T = S;
	__m256 sec = ninf;
	__m256i eq = _mm256_setzero_si256();
	for (long b = 0; b < n; b += 64) {
		long e = b + 64 < n ? b + 64 : n;
		__m256 s = _mm256_setzero_ps(), t = s;
		for (long i = b; i < e; i += 8) {
			__m256 a = e - i >= 8 ? _mm256_loadu_ps(x + i) : llada_tail(x + i, e - i);
			sec = _mm256_max_ps(sec, _mm256_blendv_ps(ninf, a, _mm256_cmp_ps(a, vm, _CMP_LT_OQ)));
			eq = _mm256_sub_epi32(eq, _mm256_castps_si256(_mm256_cmp_ps(a, vm, _CMP_EQ_OQ)));
			__m256 d = llada_delta8(a, mf, M, scale);
			__m256 w = llada_exp8(d);
			s = _mm256_add_ps(s, w);
			// w is 0 wherever d is -Inf, and 0·(-Inf) would be NaN: multiply by the clamped d instead.
			t = _mm256_fmadd_ps(w, _mm256_max_ps(d, lo), t);
		}
		__m256d sd = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(s)), _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
		S = _mm256_add_pd(S, sd);
		if (blocks) {
			double v[4];
			_mm256_storeu_pd(v, sd);
			blocks[b / 64] = (v[0] + v[1]) + (v[2] + v[3]);
		}
		T = _mm256_add_pd(T, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(t)), _mm256_cvtps_pd(_mm256_extractf128_ps(t, 1))));
	}
	double a[4], b[4];
	_mm256_storeu_pd(a, S);
	_mm256_storeu_pd(b, T);
	float sv[8];
	int ev[8];
	_mm256_storeu_ps(sv, sec);
	_mm256_storeu_si256((__m256i*)ev, eq);
	llada_exp_t r = { (a[0] + a[1]) + (a[2] + a[3]), (b[0] + b[1]) + (b[2] + b[3]), -INFINITY, 0 };
	for (int k = 0; k < 8; k++) {
		if (sv[k] > r.sec) r.sec = sv[k];
		r.eq += ev[k];
	}
	return r;
}

// llada_draw walks the cumulative mass from cum and returns the first id where it exceeds target, or -1
// with the mass walked so far. Whole blocks of 64 are skipped by their stored mass (llada_expsum's
// blocks); the block that crosses is walked one id at a time with the same float32 exp.
__attribute__((target("avx2,fma")))
static llada_draw_t llada_draw(const float* x, long n, float mf, double M, double scale, double target, double cum, const double* blocks) {
	for (long b = 0; b < n; b += 64) {
		if (cum + blocks[b / 64] <= target) {
			cum += blocks[b / 64];
			continue;
		}
		long e = b + 64 < n ? b + 64 : n;
		for (long i = b; i < e; i += 8) {
			__m256 a = e - i >= 8 ? _mm256_loadu_ps(x + i) : llada_tail(x + i, e - i);
			float wv[8];
			_mm256_storeu_ps(wv, llada_exp8(llada_delta8(a, mf, M, scale)));
			for (int k = 0; k < 8 && i + k < e; k++) {
				cum += wv[k];
				if (wv[k] > 0 && cum > target) {
					llada_draw_t r = { i + k, cum };
					return r;
				}
			}
		}
	}
	llada_draw_t r = { -1, cum };
	return r;
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

// avx2Kernels runs the scoring kernels in C with AVX2 and FMA.
type avx2Kernels struct{}

func fptr(xs []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(xs))) }

func (avx2Kernels) max(xs []float32) (float32, bool) {
	r := C.llada_max(fptr(xs), C.long(len(xs)))
	return float32(r.max), r.bad != 0
}

func (avx2Kernels) firstEq(xs []float32, v float32) int {
	return int(C.llada_first_eq(fptr(xs), C.long(len(xs)), C.float(v)))
}

func dptr(xs []float64) *C.double { return (*C.double)(unsafe.Pointer(unsafe.SliceData(xs))) }

func (avx2Kernels) expSum(xs []float32, mf float32, m, scale float64, blocks []float64) (sum, tx float64, sec float32, eq int) {
	r := C.llada_expsum(fptr(xs), C.long(len(xs)), C.float(mf), C.double(m), C.double(scale), dptr(blocks))
	return float64(r.sum), float64(r.tx), float32(r.sec), int(r.eq)
}

func (avx2Kernels) draw(xs []float32, mf float32, m, scale, target, cum float64, blocks []float64) (int, float64) {
	r := C.llada_draw(fptr(xs), C.long(len(xs)), C.float(mf), C.double(m), C.double(scale), C.double(target), C.double(cum), dptr(blocks))
	return int(r.idx), float64(r.cum)
}

// nativeKernels returns the AVX2 kernels when this CPU has AVX2 and FMA, nil otherwise. The check runs once,
// on first use (never at import).
var nativeKernels = sync.OnceValue(func() scanKernels {
	if C.llada_has_avx2() != 0 {
		return avx2Kernels{}
	}
	return nil
})
