//! The delivery window: events in flight in read order, and the low watermark.
//!
//! Events enter in read order and get a sequence number; they settle in any order (deliveries
//! run at once and retry on their own). The watermark is the newest event such that it and
//! every event before it settled: only up to there may the checkpoint move, so nothing is ever
//! checkpointed ahead of an event still in flight. The window also bounds how far delivery may
//! run ahead of an event that is stuck (its span), which bounds memory.

use std::collections::VecDeque;

/// The events between the watermark and the newest admitted one.
#[derive(Debug)]
pub struct Window<M> {
    /// Sequence number of `slots[0]`.
    base: u64,
    /// `(mark, settled)` per event from the watermark on.
    slots: VecDeque<(M, bool)>,
    /// Most events the window spans.
    span: usize,
}

impl<M> Window<M> {
    /// A window spanning at most `span` events (at least 1).
    pub fn new(span: usize) -> Self {
        Self {
            base: 0,
            slots: VecDeque::new(),
            span: span.max(1),
        }
    }

    /// Whether another event may enter.
    pub fn has_room(&self) -> bool {
        self.slots.len() < self.span
    }

    /// Events in the window (in flight, or settled behind one that is).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Admit the next event (in read order) with what its checkpoint needs; its sequence number.
    pub fn push(&mut self, mark: M) -> u64 {
        self.slots.push_back((mark, false));
        self.base + self.slots.len() as u64 - 1
    }

    /// Settle event `seq`; `sink` gets the marks the watermark passes, in read order.
    pub fn settle(&mut self, seq: u64, mut sink: impl FnMut(M)) {
        let Some(i) = seq.checked_sub(self.base).map(|i| i as usize) else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(i) {
            slot.1 = true;
        }
        while self.slots.front().is_some_and(|s| s.1) {
            if let Some((mark, _)) = self.slots.pop_front() {
                sink(mark);
            }
            self.base += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(w: &mut Window<u32>, seq: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.settle(seq, |m| out.push(m));
        out
    }

    #[test]
    fn the_watermark_waits_for_the_oldest_event() {
        let mut w = Window::new(4);
        let seqs: Vec<u64> = (10..14).map(|m| w.push(m)).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        assert!(!w.has_room());
        assert_eq!(settle(&mut w, 2), Vec::<u32>::new());
        assert_eq!(settle(&mut w, 1), Vec::<u32>::new());
        assert_eq!(settle(&mut w, 0), [10, 11, 12]);
        assert_eq!(w.len(), 1);
        assert_eq!(w.push(14), 4);
        assert_eq!(settle(&mut w, 4), Vec::<u32>::new());
        assert_eq!(settle(&mut w, 3), [13, 14]);
        assert!(w.is_empty());
        // Settling twice or an unknown number changes nothing.
        assert_eq!(settle(&mut w, 3), Vec::<u32>::new());
        assert_eq!(settle(&mut w, 99), Vec::<u32>::new());
    }

    #[test]
    fn any_settle_order_yields_every_mark_once_in_read_order() {
        // Each permutation of 6 settles must give 0..6 in order, exactly once.
        let n = 6u64;
        let mut order: Vec<u64> = (0..n).collect();
        let mut count = 0;
        permute(&mut order, 0, &mut |order| {
            count += 1;
            let mut w = Window::new(n as usize);
            for m in 0..n as u32 {
                w.push(m);
            }
            let mut got = Vec::new();
            for &seq in order {
                w.settle(seq, |m| got.push(m));
            }
            assert_eq!(got, (0..n as u32).collect::<Vec<_>>(), "{order:?}");
        });
        assert_eq!(count, 720);
    }

    fn permute(v: &mut Vec<u64>, k: usize, f: &mut impl FnMut(&[u64])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }
}
