//! Hot loops run from a copy compiled for AVX2 and POPCNT where the CPU has them (x86-64):
//! the same arithmetic in wider registers, so results do not change; elsewhere, the plain copy.

/// Whether this CPU runs the AVX2 copies (checked once; later calls read a cached flag).
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
