//! Run-time choice of the widest vector unit for the plainly written loops (depthwise
//! convolution, epilogues, pooling). Hand-written here because the loops are a few lines each and
//! the compiler vectorises them; what they need is only to be compiled with the features the CPU
//! has (`gemm` does the same for its own kernels).

/// Runs `work` compiled with AVX2 and FMA when this x86-64 CPU has them, otherwise as compiled for
/// the target's baseline (SSE2 on x86-64, SIMD128 in the browser's build). `work` receives whether
/// fused multiply-add is fast, for loops that would use `mul_add`.
#[inline(always)]
pub(crate) fn dispatch<R>(work: impl FnOnce(bool) -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has both features, checked just above.
        return unsafe { wide(work) };
    }
    work(false)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn wide<R>(work: impl FnOnce(bool) -> R) -> R {
    work(true)
}

/// `accumulator + a × b`, fused when `FMA` (the CPU has a fused multiply-add; without one
/// `mul_add` would call a slow software routine).
#[inline(always)]
pub(crate) fn multiply_add<const FMA: bool>(a: f32, b: f32, accumulator: f32) -> f32 {
    match FMA {
        true => a.mul_add(b, accumulator),
        false => accumulator + a * b,
    }
}
