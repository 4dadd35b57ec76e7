//! Assembly of multi-line mail messages by queue id, shared by the Postfix, Sendmail and Exim
//! parsers.
//!
//! A message is opened by the first line that names its id, each later line folds more fields in,
//! and the parser completes it when the log says the message left the queue. Two bounds keep
//! state finite, so nothing waits forever and memory cannot grow without limit:
//! - a message open for longer than the timeout (in event time, measured from its first line) is
//!   emitted as it stands;
//! - at most `max_pending` messages are open; opening one more emits the oldest.
//!
//! Both cases are counted ([`AssemblyStats`]). An emitted message keeps every line that built it in
//! `event.original` (joined by `\n`) and the offset of its first line in `log.offset`.
//!
//! A chunk of a split mail log ([`ParseContext::owned`], `crate::batch`) owns the messages whose
//! first line lies in its byte range: only those count in [`AssemblyStats`] and
//! [`owned_pending`](Assembler::owned_pending). The others (messages the chunk before it
//! opened, replayed so that their later lines fold into them; messages opened past the chunk's
//! end) are assembled exactly the same, so that expiry and id reuse follow a single run, and
//! the caller discards them when they are emitted.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::ops::Range;

use jiff::{SignedDuration, Timestamp};

use super::{Line, ParseContext};
use crate::event::{Dataset, Event};

/// Counts of messages emitted before the log said they were complete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblyStats {
    /// Emitted because the timeout passed.
    pub timed_out: u64,
    /// Emitted because too many messages were open.
    pub evicted: u64,
    /// Emitted at the end of the input.
    pub flushed_at_end: u64,
}

struct Pending {
    event: Event<'static>,
    /// The lines that built the message, `\n`-separated.
    original: String,
    opened_at: Option<Timestamp>,
    /// Matches the entry in `order` that belongs to this message (ids are reused).
    generation: u64,
    /// Its first line lies in [`Assembler::owned`].
    owned: bool,
}

/// Why a message was emitted.
#[derive(Clone, Copy)]
enum Emitted {
    Completed,
    TimedOut,
    Evicted,
    AtEnd,
}

/// Messages being assembled, keyed by queue id. See the module documentation.
pub struct Assembler {
    dataset: Dataset,
    open: HashMap<String, Pending>,
    /// Ids in the order they were opened, with the generation that opened them; entries whose
    /// message has since completed are skipped lazily.
    order: VecDeque<(String, u64)>,
    completed: VecDeque<Event<'static>>,
    next_generation: u64,
    timeout: SignedDuration,
    max_pending: usize,
    stats: AssemblyStats,
    /// Offsets of the first lines of the messages this assembler owns (see the module
    /// documentation); everything for a whole input.
    owned: Range<u64>,
    /// Open messages that are owned.
    owned_open: usize,
}

impl Assembler {
    pub fn new(dataset: Dataset, ctx: &ParseContext) -> Self {
        Assembler {
            dataset,
            open: HashMap::new(),
            order: VecDeque::new(),
            completed: VecDeque::new(),
            next_generation: 0,
            timeout: ctx.mail_timeout,
            max_pending: ctx.max_pending_messages.max(1),
            stats: AssemblyStats::default(),
            owned: ctx.owned.clone(),
            owned_open: 0,
        }
    }

    /// The message with this id, opened if it is new; `line` is recorded in its
    /// `event.original` (and its offset in `log.offset` when it opens the message). `ts` is the
    /// line's time, used for the timeout.
    pub fn line(&mut self, id: &str, line: &Line<'_>, ts: Option<Timestamp>) -> &mut Event<'static> {
        if let Some(now) = ts {
            self.expire(now);
        }
        if !self.open.contains_key(id) {
            if self.open.len() >= self.max_pending {
                self.evict_oldest();
            }
            let generation = self.next_generation;
            self.next_generation += 1;
            let mut event = Event::new(self.dataset);
            event.log.offset = Some(line.offset);
            event.timestamp = ts;
            event.email.local_id = Some(Cow::Owned(id.to_owned()));
            self.order.push_back((id.to_owned(), generation));
            let owned = self.owned.contains(&line.offset);
            self.owned_open += owned as usize;
            self.open.insert(
                id.to_owned(),
                Pending {
                    event,
                    original: String::new(),
                    opened_at: ts,
                    generation,
                    owned,
                },
            );
        }
        let pending = self.open.get_mut(id).expect("inserted above");
        if !pending.original.is_empty() {
            pending.original.push('\n');
        }
        pending.original.push_str(line.raw);
        if pending.opened_at.is_none() {
            pending.opened_at = ts;
        }
        &mut pending.event
    }

    /// The message with this id, if it is open (without recording a line).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Event<'static>> {
        self.open.get_mut(id).map(|p| &mut p.event)
    }

    /// The log says the message is done: emit it.
    pub fn complete(&mut self, id: &str) {
        if let Some(p) = self.open.remove(id) {
            self.finish(p, Emitted::Completed);
        }
        self.compact_order();
    }

    /// Emits messages opened before `now - timeout`.
    pub fn expire(&mut self, now: Timestamp) {
        let Some(deadline) = now.checked_sub(self.timeout).ok() else {
            return;
        };
        while let Some((id, generation)) = self.order.front() {
            match self.open.get(id) {
                Some(p) if p.generation == *generation => {
                    if p.opened_at.is_some_and(|t| t >= deadline) {
                        // Messages are in opening order, so the rest are younger. A message
                        // with no time at all is kept until eviction or the end of input.
                        break;
                    }
                    if p.opened_at.is_none() {
                        break;
                    }
                    let (id, _) = self.order.pop_front().expect("front exists");
                    let p = self.open.remove(&id).expect("checked above");
                    self.finish(p, Emitted::TimedOut);
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// [`LineParser::flush`](super::LineParser::flush) for a parser whose pending state is this
    /// assembler: expires messages as of `now`, or emits all of them at the end of input.
    pub fn flush(&mut self, now: Option<Timestamp>) {
        match now {
            Some(t) => self.expire(t),
            None => self.flush_all(),
        }
    }

    /// Emits every open message (end of input), oldest first.
    pub fn flush_all(&mut self) {
        while let Some((id, generation)) = self.order.pop_front() {
            if self.open.get(&id).is_some_and(|p| p.generation == generation) {
                let p = self.open.remove(&id).expect("checked above");
                self.finish(p, Emitted::AtEnd);
            }
        }
    }

    /// One finished message, if any.
    pub fn take(&mut self) -> Option<Event<'static>> {
        self.completed.pop_front()
    }

    pub fn stats(&self) -> AssemblyStats {
        self.stats
    }

    /// The `log.offset` of the first line of the oldest message still open: a tailed file's
    /// checkpoint may not pass it, or a restart would never see that message's first lines.
    pub fn oldest_offset(&self) -> Option<u64> {
        self.order
            .iter()
            .find(|(id, g)| self.open.get(id).is_some_and(|p| p.generation == *g))
            .and_then(|(id, _)| self.open[id].event.log.offset)
    }

    /// Number of messages still being assembled.
    pub fn pending(&self) -> usize {
        self.open.len()
    }

    /// Number of owned messages still being assembled: once it is 0, nothing more this
    /// assembler emits is its own.
    pub fn owned_pending(&self) -> usize {
        self.owned_open
    }

    fn evict_oldest(&mut self) {
        while let Some((id, generation)) = self.order.pop_front() {
            if self.open.get(&id).is_some_and(|p| p.generation == generation) {
                let p = self.open.remove(&id).expect("checked above");
                self.finish(p, Emitted::Evicted);
                return;
            }
        }
    }

    fn finish(&mut self, p: Pending, why: Emitted) {
        if p.owned {
            self.owned_open -= 1;
            match why {
                Emitted::Completed => {}
                Emitted::TimedOut => self.stats.timed_out += 1,
                Emitted::Evicted => self.stats.evicted += 1,
                Emitted::AtEnd => self.stats.flushed_at_end += 1,
            }
        }
        let mut event = p.event;
        event.event.original = Some(Cow::Owned(p.original));
        self.completed.push_back(event);
    }

    /// Drops stale entries from the front of `order` so it stays near the size of `open`.
    fn compact_order(&mut self) {
        while let Some((id, generation)) = self.order.front() {
            if self.open.get(id).is_some_and(|p| p.generation == *generation) {
                break;
            }
            self.order.pop_front();
        }
        // Stale entries behind a long-lived message can still pile up; rebuild when they
        // dominate, which keeps the cost amortised O(1) per message.
        if self.order.len() > 1024 && self.order.len() > 4 * self.open.len() {
            let open = &self.open;
            self.order
                .retain(|(id, g)| open.get(id).is_some_and(|p| p.generation == *g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(timeout_mins: i64, max: usize) -> ParseContext {
        ParseContext {
            mail_timeout: SignedDuration::from_mins(timeout_mins),
            max_pending_messages: max,
            ..Default::default()
        }
    }

    fn ts(s: &str) -> Option<Timestamp> {
        Some(s.parse().unwrap())
    }

    fn line(raw: &str, offset: u64) -> Line<'_> {
        Line {
            offset,
            ..Line::plain(raw)
        }
    }

    #[test]
    fn completes_with_all_lines_and_first_offset() {
        let mut a = Assembler::new(Dataset::PostfixLog, &ctx(10, 10));
        a.line("Q1", &line("a", 5), ts("2024-01-01T00:00:00Z"))
            .email
            .to
            .address
            .push("x@y".into());
        a.line("Q1", &line("b", 9), ts("2024-01-01T00:00:01Z"));
        assert!(a.take().is_none());
        a.complete("Q1");
        let ev = a.take().unwrap();
        assert_eq!(ev.event.original.as_deref(), Some("a\nb"));
        assert_eq!(ev.log.offset, Some(5));
        assert_eq!(ev.email.local_id.as_deref(), Some("Q1"));
        assert_eq!(ev.email.to.address, vec!["x@y"]);
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn times_out_in_event_time_only_past_the_timeout() {
        let mut a = Assembler::new(Dataset::PostfixLog, &ctx(10, 10));
        a.line("Q1", &line("a", 0), ts("2024-01-01T00:00:00Z"));
        a.line("Q2", &line("b", 2), ts("2024-01-01T00:10:00Z"));
        assert!(a.take().is_none(), "exactly at the timeout nothing expires");
        a.line("Q3", &line("c", 4), ts("2024-01-01T00:10:00.001Z"));
        assert_eq!(a.take().unwrap().email.local_id.as_deref(), Some("Q1"));
        assert!(a.take().is_none());
        assert_eq!(a.stats().timed_out, 1);
    }

    #[test]
    fn evicts_oldest_past_the_cap_and_flushes_the_rest_in_order() {
        let mut a = Assembler::new(Dataset::PostfixLog, &ctx(10, 2));
        for (i, id) in ["A", "B", "C"].iter().enumerate() {
            a.line(id, &line("x", i as u64), None);
        }
        assert_eq!(a.take().unwrap().email.local_id.as_deref(), Some("A"));
        assert_eq!(a.stats().evicted, 1);
        a.flush_all();
        let rest: Vec<_> = std::iter::from_fn(|| a.take())
            .map(|e| e.email.local_id.unwrap())
            .collect();
        assert_eq!(rest, vec!["B", "C"]);
        assert_eq!(a.stats().flushed_at_end, 2);
    }

    #[test]
    fn reused_id_after_completion_is_a_new_message() {
        let mut a = Assembler::new(Dataset::PostfixLog, &ctx(10, 10));
        a.line("Q", &line("first", 0), None);
        a.complete("Q");
        a.line("Q", &line("second", 10), None);
        a.flush_all();
        let originals: Vec<_> = std::iter::from_fn(|| a.take())
            .map(|e| e.event.original.unwrap())
            .collect();
        assert_eq!(originals, vec!["first", "second"]);
    }
}
