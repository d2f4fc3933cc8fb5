//! Large working arrays on huge pages where the system offers them on request: fewer page
//! faults to fill them and fewer TLB misses when trees gather scattered samples from them.

/// A zeroed vector of `len` elements whose memory the kernel is asked to back with huge
/// pages (Linux `madvise(MADV_HUGEPAGE)`; a hint, ignored where unsupported). The advice is
/// given before the first write, while no page has been touched yet.
pub(crate) fn zeroed<T: Copy + Default>(len: usize) -> Vec<T> {
    let values = vec![T::default(); len];
    advise_huge(&values);
    values
}

#[cfg(target_os = "linux")]
fn advise_huge<T>(values: &[T]) {
    const HUGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(values);
    if bytes < 2 * HUGE {
        return;
    }
    // madvise wants a page-aligned start; round inward to whole pages.
    let start = values.as_ptr() as usize;
    let page = 4096;
    let aligned = start.next_multiple_of(page);
    let len = (start + bytes - aligned) / page * page;
    // SAFETY: the range lies inside `values`' allocation; the advice changes no contents.
    unsafe {
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge<T>(_values: &[T]) {}
