//! RFC 4303 §3.4.3 Sequence Number Verification, and Appendix A (ESN high-order bits).
//!
//! The check is split in two, in the order §3.4.3 prescribes: [`ReplayWindow::check`] is
//! cheap and runs before any cryptography, so a replayed or stale packet costs no
//! decryption; [`ReplayWindow::mark`] runs only once the ICV has verified, so a forged
//! packet can never move the window.
//!
//! The bitmap is a ring of 64-bit words indexed by sequence number, one word longer than
//! the window so that advancing it clears whole words that are already outside the window.

/// Largest configurable window, in packets; 8 KiB of bitmap.
pub const MAX_REPLAY_WINDOW: u32 = 1 << 16;

/// With anti-replay disabled there is no window to infer the ESN high bits from; half the
/// 32-bit space is the widest choice that still tells "late" from "next epoch".
const ESN_INFERENCE_WITHOUT_WINDOW: u32 = 1 << 31;

#[derive(Debug)]
pub(crate) struct ReplayWindow {
    /// W, in packets; 0 disables the check (RFC 4303 §3.4.3: the receiver may choose not to).
    size: u32,
    esn: bool,
    /// T: the highest sequence number that has been authenticated (0 = none yet).
    top: u64,
    bitmap: Box<[u64]>,
}

/// Why [`ReplayWindow::check`] refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejected;

impl ReplayWindow {
    /// `top` starts at `initial_seq - 1`, as if everything before `initial_seq` had arrived.
    pub(crate) fn new(size: u32, esn: bool, initial_seq: u64) -> Self {
        let words = if size == 0 {
            0
        } else {
            (size as usize).div_ceil(64) + 1
        };
        Self {
            size,
            esn,
            top: initial_seq.saturating_sub(1),
            bitmap: vec![0u64; words].into_boxed_slice(),
        }
    }

    /// The same SA with a window of `size` (R-ESP-1: 1 when it moves onto a stream, the
    /// configured one back on UDP): every number up to the highest seen stays refused,
    /// those after it are new.
    pub(crate) fn resize(&mut self, size: u32) {
        let top = self.top;
        *self = ReplayWindow::new(size, self.esn, top + 1);
        if size > 0 {
            let from = top.saturating_sub(u64::from(size) - 1).max(1);
            for seq in from..=top {
                let (word, bit) = self.position(seq);
                if let Some(w) = self.bitmap.get_mut(word) {
                    *w |= bit;
                }
            }
        }
    }

    /// The highest authenticated sequence number.
    #[cfg(test)]
    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    /// The full sequence number of a packet whose header carries `seq_low`.
    ///
    /// Without ESN that is `seq_low`. With ESN, RFC 4303 Appendix A2.2 infers the high half
    /// from the window: a number at or right of the window's bottom belongs to the current
    /// epoch, one left of it to the next epoch (case A), or, when the window straddles an
    /// epoch boundary, to the previous or current epoch (case B). A packet placed in the
    /// wrong epoch this way fails its ICV, which is how the RFC resolves the ambiguity.
    /// `None`: the number would lie before the SA's first epoch or after its last.
    pub(crate) fn infer(&self, seq_low: u32) -> Option<u64> {
        if !self.esn {
            return Some(u64::from(seq_low));
        }
        let w = if self.size == 0 {
            ESN_INFERENCE_WITHOUT_WINDOW
        } else {
            self.size
        };
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let bottom = tl.wrapping_sub(w - 1);
        let high = if tl >= w - 1 {
            // Case A: the window lies within one epoch.
            if seq_low >= bottom {
                Some(th)
            } else {
                th.checked_add(1)
            }
        } else if seq_low >= bottom {
            // Case B: the window spans two epochs and this number is in the older one.
            th.checked_sub(1)
        } else {
            Some(th)
        };
        high.map(|h| (u64::from(h) << 32) | u64::from(seq_low))
    }

    /// Whether `seq` may be new: right of the window, or inside it and not yet seen.
    pub(crate) fn check(&self, seq: u64) -> Result<(), Rejected> {
        if self.size == 0 {
            return Ok(());
        }
        // The first packet of an SA is number 1 (RFC 4303 §3.3.3); 0 is never sent.
        if seq == 0 {
            return Err(Rejected);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= u64::from(self.size) {
            return Err(Rejected);
        }
        let (word, bit) = self.position(seq);
        match self.bitmap.get(word) {
            Some(w) if w & bit == 0 => Ok(()),
            _ => Err(Rejected),
        }
    }

    /// Records `seq` as received; call only after its ICV has verified and
    /// [`check`](Self::check) accepted it.
    pub(crate) fn mark(&mut self, seq: u64) {
        if self.bitmap.is_empty() {
            self.top = self.top.max(seq);
            return;
        }
        if seq > self.top {
            let words = self.bitmap.len() as u64;
            let current = self.top / 64;
            let new = seq / 64;
            // Clear the words the window slides over, at most the whole ring.
            let span = (new - current).min(words);
            for i in 1..=span {
                let idx = ((current + i) % words) as usize;
                if let Some(w) = self.bitmap.get_mut(idx) {
                    *w = 0;
                }
            }
            self.top = seq;
        }
        let (word, bit) = self.position(seq);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w |= bit;
        }
    }

    fn position(&self, seq: u64) -> (usize, u64) {
        let words = self.bitmap.len().max(1) as u64;
        (((seq / 64) % words) as usize, 1u64 << (seq % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, seq: u64) -> bool {
        if w.check(seq).is_ok() {
            w.mark(seq);
            true
        } else {
            false
        }
    }

    #[test]
    fn window_semantics() {
        let mut w = ReplayWindow::new(64, false, 1);
        assert!(!accept(&mut w, 0));
        assert!(accept(&mut w, 1));
        assert!(!accept(&mut w, 1));
        assert!(accept(&mut w, 100));
        // 100 - 64 + 1 = 37 is the left edge.
        assert!(!accept(&mut w, 36));
        assert!(accept(&mut w, 37));
        assert!(accept(&mut w, 99));
        assert!(!accept(&mut w, 99));
        assert!(accept(&mut w, 50));
    }

    #[test]
    fn resize_keeps_what_was_seen() {
        for (from, to) in [(64u32, 1u32), (1, 64), (64, 1024), (1024, 64)] {
            let mut w = ReplayWindow::new(from, false, 1);
            for s in [1u64, 2, 3, 5, 200, 198] {
                accept(&mut w, s);
            }
            w.resize(to);
            for s in [1u64, 2, 3, 5, 198, 200, 150] {
                assert!(!accept(&mut w, s), "{from}->{to}: {s} again");
            }
            assert!(accept(&mut w, 201));
            assert!(accept(&mut w, 203));
            assert_eq!(accept(&mut w, 202), to > 1, "{from}->{to}: reordered");
        }
    }

    #[test]
    fn large_jump_clears_the_ring() {
        let mut w = ReplayWindow::new(128, false, 1);
        for s in 1..=200 {
            assert!(accept(&mut w, s));
        }
        assert!(accept(&mut w, 10_000));
        for s in 10_000 - 127..10_000 {
            assert!(w.check(s).is_ok(), "{s}");
        }
        assert!(w.check(10_000 - 128).is_err());
    }

    #[test]
    fn matches_a_reference_set_model() {
        // A window of W must accept exactly the unseen numbers in (top - W, top] and all
        // numbers above top; checked against a plain set over a pseudo-random walk.
        for size in [1u32, 2, 63, 64, 65, 200] {
            let mut w = ReplayWindow::new(size, false, 1);
            let mut seen = std::collections::BTreeSet::new();
            let mut top = 0u64;
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..5000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let delta = (x % 300) as i64 - 150;
                let seq = (top as i64 + delta).max(0) as u64;
                let expect = seq != 0
                    && (seq > top || (top - seq < u64::from(size) && !seen.contains(&seq)));
                assert_eq!(
                    accept(&mut w, seq),
                    expect,
                    "size {size} seq {seq} top {top}"
                );
                if expect {
                    seen.insert(seq);
                    top = top.max(seq);
                }
            }
        }
    }

    #[test]
    fn disabled_window_accepts_everything() {
        let mut w = ReplayWindow::new(0, false, 1);
        assert!(accept(&mut w, 5));
        assert!(accept(&mut w, 5));
        assert!(accept(&mut w, 1));
    }

    #[test]
    fn esn_inference_case_a_and_b() {
        // Case A: T = 2^32 + 100, W = 64.
        let w = ReplayWindow::new(64, true, (1 << 32) + 101);
        assert_eq!(w.top(), (1 << 32) + 100);
        assert_eq!(w.infer(100), Some((1 << 32) + 100));
        assert_eq!(w.infer(37), Some((1 << 32) + 37));
        assert_eq!(w.infer(36), Some((2 << 32) + 36));
        // Case B: T = 2^32 + 10, so the window reaches back into epoch 0.
        let w = ReplayWindow::new(64, true, (1 << 32) + 11);
        assert_eq!(w.infer(u32::MAX), Some(u64::from(u32::MAX)));
        assert_eq!(w.infer(5), Some((1 << 32) + 5));
        assert_eq!(w.infer(1000), Some((1 << 32) + 1000));
        // Case B in epoch 0: the previous epoch does not exist.
        let w = ReplayWindow::new(64, true, 1);
        assert_eq!(w.infer(u32::MAX - 3), None);
        assert_eq!(w.infer(1), Some(1));
        // The last epoch has no successor.
        let w = ReplayWindow::new(64, true, u64::MAX - 10);
        assert_eq!(w.infer(5), None);
    }
}
