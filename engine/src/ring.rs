//! A private io_uring per executor, and its provided-buffer ring for multishot receives.
//!
//! Set up inside the executor thread with `SINGLE_ISSUER | DEFER_TASKRUN` (completions are
//! delivered only when this thread enters with GETEVENTS, which halves the kernel's cost here).
//! The buffer ring hands the kernel `count` buffers of `size` bytes; a multishot receive picks
//! one per completion and the driver gives it back as soon as the bytes are decoded.
//!
//! Safety: the buffer memory and the ring entries are owned by [`BufRing`], which must outlive
//! every operation that may still write into them. The driver drops the `IoUring` (cancelling
//! everything) before the `BufRing`.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, squeue, types};

use crate::EngineError;

/// Buffer group id of the receive buffers.
pub const BGID: u16 = 1;

/// Most submission queue entries asked for (the kernel's own limit is 32768).
pub const MAX_SQ_ENTRIES: usize = 4096;
/// Most completion queue entries asked for (the kernel's limit is 65536); completions beyond
/// wait in the kernel's overflow list until drained, none is lost.
pub const MAX_CQ_ENTRIES: u32 = 32768;

/// Create the ring, with a clear error naming the likely cause when it fails.
pub fn new_ring(entries: u32, cpu: usize) -> Result<IoUring, EngineError> {
    let mut b = IoUring::builder();
    b.setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize((entries * 8).min(MAX_CQ_ENTRIES));
    b.build(entries).map_err(|e| EngineError::Ring {
        cpu,
        message: ringload_host::ring_error(&e, true),
    })
}

/// Can this process use io_uring with the engine's flags? Checked once before executors start,
/// so a blocked io_uring is reported with its likely cause instead of as a failed executor.
pub fn check() -> Result<(), EngineError> {
    ringload_host::check_io_uring(true).map_err(EngineError::Unavailable)
}

/// Provided buffers registered with one ring.
pub struct BufRing {
    entries: *mut types::BufRingEntry,
    entries_layout: Layout,
    mem: Vec<u8>,
    size: usize,
    count: u16,
    tail: u16,
}

impl BufRing {
    /// `count` must be a power of two (<= 32768).
    pub fn new(
        ring: &IoUring,
        count: u16,
        size: usize,
        cpu: usize,
    ) -> Result<BufRing, EngineError> {
        assert!(count.is_power_of_two());
        let entries_layout = Layout::from_size_align(count as usize * 16, 4096).expect("layout");
        // SAFETY: non-zero size; freed in Drop with the same layout.
        let entries = unsafe { alloc_zeroed(entries_layout) } as *mut types::BufRingEntry;
        if entries.is_null() {
            return Err(EngineError::Ring {
                cpu,
                message: "out of memory for the buffer ring".into(),
            });
        }
        let mut br = BufRing {
            entries,
            entries_layout,
            mem: vec![0u8; count as usize * size],
            size,
            count,
            tail: 0,
        };
        // SAFETY: `entries` is page aligned, holds `count` entries and lives until Drop, after
        // the ring that uses it is gone (see module docs).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, count, BGID, 0)
                .map_err(|e| EngineError::Ring {
                    cpu,
                    message: format!(
                        "{e}: cannot register a provided-buffer ring (Linux 5.19+ needed)"
                    ),
                })?;
        }
        for bid in 0..count {
            br.push(bid);
        }
        br.commit();
        Ok(br)
    }

    fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        // SAFETY: idx < count; the kernel reads entries only up to the committed tail.
        unsafe {
            let e = &mut *self.entries.add(idx);
            e.set_addr(self.mem.as_mut_ptr().add(bid as usize * self.size) as u64);
            e.set_len(self.size as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn commit(&self) {
        // SAFETY: the tail field lives inside the first entry, shared with the kernel.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// The bytes the kernel wrote into buffer `bid`.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * self.size;
        &self.mem[start..start + len.min(self.size)]
    }

    /// Give buffer `bid` back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        self.push(bid);
        self.commit();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.entries as *mut u8, self.entries_layout) };
    }
}

/// Push an SQE, submitting first if the queue is full.
pub fn push(ring: &mut IoUring, e: &squeue::Entry) -> io::Result<()> {
    loop {
        // SAFETY: every entry's buffers are owned by the driver and outlive the operation.
        if unsafe { ring.submission().push(e) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}
