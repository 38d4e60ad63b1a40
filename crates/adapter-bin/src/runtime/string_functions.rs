//! `memcpy`, `memmove`, `memcmp` and `bcmp` for the static x86_64 musl images, in place of
//! musl's.
//!
//! The adapter copies many small blocks per event: the HTTP client moves its request futures
//! (0.5–2 KiB each, a few dozen times per delivery), buffers grow, strings are cloned. musl's
//! `memcpy` starts every copy with `rep movsq` behind a byte loop that aligns the destination,
//! and its `memcmp` compares a byte at a time: in the image's adapter `memcpy` alone took 24 %
//! of a catch-up's CPU (`perf record`). With these, a catch-up of 20,000 events took 0.57–0.61
//! cpu-s instead of 0.83–0.97.
//!
//! Here a copy of up to 64 bytes is a few overlapping unaligned loads and stores, a longer one
//! is `rep movsb` (fast on every x86_64 processor with ERMS, Ivy Bridge and Zen on), and a
//! comparison goes 8 bytes at a time.
//!
//! The exported symbols exist in x86_64 musl builds only (a static link takes them before
//! `libc.a`'s); elsewhere the C library's stay. The functions themselves are compiled on every
//! x86_64 target so that the tests run on the build machine.

use core::arch::asm;
use core::ptr::{read_unaligned, write_unaligned};

/// Copy `n` bytes, up to 64, from `src` to `dst`: every load before any store, so the ranges
/// may overlap.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes, `n <= 64`.
#[inline(always)]
unsafe fn copy_upto_64(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY (all blocks): each access lies within the first or last `n` bytes of the ranges,
    // as the size checks guarantee; unaligned accesses are what read/write_unaligned are for.
    unsafe {
        if n >= 32 {
            let a = read_unaligned(src.cast::<[u128; 2]>());
            let b = read_unaligned(src.add(n - 32).cast::<[u128; 2]>());
            write_unaligned(dst.cast::<[u128; 2]>(), a);
            write_unaligned(dst.add(n - 32).cast::<[u128; 2]>(), b);
        } else if n >= 16 {
            let a = read_unaligned(src.cast::<u128>());
            let b = read_unaligned(src.add(n - 16).cast::<u128>());
            write_unaligned(dst.cast::<u128>(), a);
            write_unaligned(dst.add(n - 16).cast::<u128>(), b);
        } else if n >= 8 {
            let a = read_unaligned(src.cast::<u64>());
            let b = read_unaligned(src.add(n - 8).cast::<u64>());
            write_unaligned(dst.cast::<u64>(), a);
            write_unaligned(dst.add(n - 8).cast::<u64>(), b);
        } else if n >= 4 {
            let a = read_unaligned(src.cast::<u32>());
            let b = read_unaligned(src.add(n - 4).cast::<u32>());
            write_unaligned(dst.cast::<u32>(), a);
            write_unaligned(dst.add(n - 4).cast::<u32>(), b);
        } else if n >= 2 {
            let a = read_unaligned(src.cast::<u16>());
            let b = read_unaligned(src.add(n - 2).cast::<u16>());
            write_unaligned(dst.cast::<u16>(), a);
            write_unaligned(dst.add(n - 2).cast::<u16>(), b);
        } else if n == 1 {
            *dst = *src;
        }
    }
}

/// `rep movsb` forwards: `n` bytes from `src` to `dst`.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes; overlapping only with `dst <= src`.
#[inline(always)]
unsafe fn rep_movsb(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's contract; the direction flag is clear (the ABI's requirement at
    // every call), so the copy runs upwards, which is right for dst <= src.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags)
        );
    }
}

/// `rep movsb` backwards: `n` bytes from `src` to `dst`, the last byte first (for `dst > src`
/// overlapping).
///
/// # Safety
/// `src` readable and `dst` writable for `n >= 1` bytes.
#[inline(always)]
unsafe fn rep_movsb_backwards(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's contract; the direction flag is set only for this instruction and
    // cleared again, as the ABI requires.
    unsafe {
        asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dst.add(n - 1) => _,
            inout("rsi") src.add(n - 1) => _,
            options(nostack)
        );
    }
}

/// What `memcpy` does.
///
/// # Safety
/// As `memcpy`: `src` readable and `dst` writable for `n` bytes, not overlapping.
#[inline(always)]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe {
        if n <= 64 {
            copy_upto_64(dst, src, n);
        } else {
            rep_movsb(dst, src, n);
        }
    }
    dst
}

/// What `memmove` does.
///
/// # Safety
/// As `memmove`: `src` readable and `dst` writable for `n` bytes; they may overlap.
#[inline(always)]
pub unsafe fn copy_overlapping(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; a short copy loads everything before it stores, a longer
    // one runs in the direction that reads each byte before it is overwritten.
    unsafe {
        if n <= 64 {
            copy_upto_64(dst, src, n);
        } else if (dst as usize).wrapping_sub(src as usize) >= n {
            // dst before src, or after the end of src: upwards is safe.
            rep_movsb(dst, src, n);
        } else {
            rep_movsb_backwards(dst, src, n);
        }
    }
    dst
}

/// What `memcmp` does: the sign of the first differing byte (as unsigned) of `a` against `b`.
///
/// # Safety
/// As `memcmp`: `a` and `b` readable for `n` bytes.
#[inline(always)]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    // SAFETY: every access is below `n`.
    unsafe {
        while i + 8 <= n {
            let x = read_unaligned(a.add(i).cast::<u64>());
            let y = read_unaligned(b.add(i).cast::<u64>());
            if x != y {
                // Big-endian order compares as the bytes do, first byte most significant.
                return if x.swap_bytes() < y.swap_bytes() {
                    -1
                } else {
                    1
                };
            }
            i += 8;
        }
        while i < n {
            let (x, y) = (*a.add(i), *b.add(i));
            if x != y {
                return i32::from(x) - i32::from(y);
            }
            i += 1;
        }
    }
    0
}

#[cfg(all(target_arch = "x86_64", target_env = "musl"))]
mod exports {
    //! The C symbols, in the musl builds.

    /// # Safety
    /// The C library's contract for `memcpy`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller's.
        unsafe { super::copy(dst, src, n) }
    }

    /// # Safety
    /// The C library's contract for `memmove`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller's.
        unsafe { super::copy_overlapping(dst, src, n) }
    }

    /// # Safety
    /// The C library's contract for `memcmp`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: the caller's.
        unsafe { super::compare(a, b, n) }
    }

    /// # Safety
    /// The C library's contract for `bcmp`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: the caller's.
        unsafe { super::compare(a, b, n) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + 7) as u8).collect()
    }

    #[test]
    fn copy_matches_a_plain_copy_at_every_size_and_offset() {
        let src = pattern(600);
        for n in 0..=300 {
            for offset in 0..9 {
                let mut dst = vec![0xAAu8; 620];
                // SAFETY: both buffers hold offset + n bytes.
                let ret =
                    unsafe { copy(dst.as_mut_ptr().add(offset), src.as_ptr().add(offset), n) };
                assert_eq!(ret, dst[offset..].as_mut_ptr());
                assert_eq!(&dst[offset..offset + n], &src[offset..offset + n], "n {n}");
                assert!(dst[..offset].iter().all(|&b| b == 0xAA), "before, n {n}");
                assert!(dst[offset + n..].iter().all(|&b| b == 0xAA), "after, n {n}");
            }
        }
    }

    #[test]
    fn copy_overlapping_matches_copy_within_both_ways() {
        for n in [
            0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 100, 257, 1000,
        ] {
            for shift in [1usize, 2, 7, 8, 9, 31, 64, 65, 300] {
                let original = pattern(n + shift + 16);
                // Forwards: dst before src.
                let mut want = original.clone();
                want.copy_within(shift..shift + n, 0);
                let mut got = original.clone();
                // SAFETY: both ranges lie within `got`.
                unsafe { copy_overlapping(got.as_mut_ptr(), got.as_ptr().add(shift), n) };
                assert_eq!(got, want, "down, n {n} shift {shift}");
                // Backwards: dst after src.
                let mut want = original.clone();
                want.copy_within(0..n, shift);
                let mut got = original.clone();
                // SAFETY: as above.
                unsafe { copy_overlapping(got.as_mut_ptr().add(shift), got.as_ptr(), n) };
                assert_eq!(got, want, "up, n {n} shift {shift}");
            }
        }
    }

    #[test]
    fn the_direction_flag_is_clear_after_a_backwards_copy() {
        let mut buf = pattern(400);
        // SAFETY: within `buf`.
        unsafe { copy_overlapping(buf.as_mut_ptr().add(10), buf.as_ptr(), 300) };
        // A forward copy after it must still run forwards.
        let src = pattern(200);
        let mut dst = vec![0u8; 200];
        // SAFETY: both hold 200 bytes.
        unsafe { copy(dst.as_mut_ptr(), src.as_ptr(), 200) };
        assert_eq!(dst, src);
    }

    #[test]
    fn compare_orders_as_unsigned_bytes() {
        let base = pattern(70);
        for n in 0..70 {
            for at in 0..n {
                for delta in [1u8, 0x80, 0xFF] {
                    let mut other = base.clone();
                    other[at] = other[at].wrapping_add(delta);
                    let want = base[..n].cmp(&other[..n]) as i32;
                    // SAFETY: both hold n bytes.
                    let got = unsafe { compare(base.as_ptr(), other.as_ptr(), n) };
                    assert_eq!(got.signum(), want, "n {n} at {at} delta {delta}");
                }
            }
            // SAFETY: as above.
            assert_eq!(unsafe { compare(base.as_ptr(), base.as_ptr(), n) }, 0);
        }
    }
}
