//! Run-time choice of the widest vector unit for the plainly written loops (depthwise
//! convolution, epilogues, pooling). Hand-written here because the loops are a few lines each and
//! the compiler vectorises them; what they need is only to be compiled with the features the CPU
//! has (`gemm` does the same for its own kernels).

/// A loop to compile for each vector unit: [`Vectorised::run`] must be `#[inline(always)]`, so
/// that it is compiled inside [`dispatch`]'s AVX2+FMA function rather than called from it (a
/// closure there was measured not to be inlined, leaving the epilogue on SSE2).
pub(crate) trait Vectorised {
    /// What the loop gives back.
    type Output;
    /// Runs the loop; `FMA` says whether a fused multiply-add is fast (see [`multiply_add`]).
    fn run<const FMA: bool>(self) -> Self::Output;
}

/// Runs `work` compiled with AVX2 and FMA when this x86-64 CPU has them, otherwise as compiled
/// for the target's baseline (SSE2 on x86-64, SIMD128 in the browser's build).
#[inline(always)]
pub(crate) fn dispatch<W: Vectorised>(work: W) -> W::Output {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has both features, checked just above.
        return unsafe { wide(work) };
    }
    work.run::<false>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn wide<W: Vectorised>(work: W) -> W::Output {
    work.run::<true>()
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
