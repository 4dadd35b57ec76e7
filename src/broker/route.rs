//! Which partition a shipped line goes to. Lines are spread only for parsing (correlation is
//! routed later, by each contribution's group key: `broker::contrib`), so the one thing that
//! must stay together is what the parser reads together:
//!
//! - a Postfix log is split by queue id (`parse::postfix::queue_id`): every line of a message
//!   reaches the same partition, which assembles it as a whole log would; a line without a queue
//!   id (a NOQUEUE reject, a connection line) goes to the stream's home partition;
//! - a line-independent format without syslog framing (Squid, combined, Zscaler, ECS,
//!   Proofpoint, Mimecast) is cut into runs of [`SPREAD_RUN`] bytes of the file, each run to a
//!   partition chosen by a hash of the stream and the run: even, contiguous, and the same again
//!   when a restarted shipper sends a line a second time;
//! - everything else (W3C and Exchange, whose header lines define the lines after them; M365;
//!   Exim and Sendmail, whose message ids are not split out yet; syslog-framed lines, whose year
//!   inference follows the file) goes whole to the stream's home partition.
//!
//! Routing never fails: a line it cannot read goes home.

use crate::parse::detect::Framing;
use crate::parse::syslog::YearHint;
use crate::parse::{Format, ParseContext, postfix};
use crate::pipeline::Decided;
use crate::source::feed::fnv1a;

/// Bytes of a stream that go to one partition together when its lines are spread.
pub const SPREAD_RUN: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Spread,
    QueueId,
    Home,
}

/// Routes the lines of one stream.
pub struct Router {
    partitions: u32,
    stream: u64,
    rule: Rule,
    framing: Framing,
    hint: YearHint,
}

/// Partition `hash` falls into.
pub fn partition_of(hash: u64, partitions: u32) -> u32 {
    (hash % u64::from(partitions.max(1))) as u32
}

/// A hash of two parts, stable across builds (written partitions must not move).
fn hash2(a: u64, b: &[u8]) -> u64 {
    let mut bytes = Vec::with_capacity(8 + b.len());
    bytes.extend_from_slice(&a.to_le_bytes());
    bytes.extend_from_slice(b);
    fnv1a(&bytes)
}

impl Router {
    /// The router of stream `stream` (its key) in `decided` format.
    pub fn new(stream: &str, decided: Decided, partitions: u32, ctx: &ParseContext) -> Router {
        let rule = match decided.format {
            Format::Postfix => Rule::QueueId,
            f if f.info().line_independent && decided.framing == Framing::None => Rule::Spread,
            _ => Rule::Home,
        };
        Router {
            partitions,
            stream: fnv1a(stream.as_bytes()),
            rule,
            framing: decided.framing,
            hint: YearHint::new(ctx),
        }
    }

    /// Where the stream's lines go that have no key of their own.
    pub fn home(&self) -> u32 {
        partition_of(self.stream, self.partitions)
    }

    /// The partition of the line `bytes` at `offset`.
    pub fn partition(&self, bytes: &[u8], offset: u64) -> u32 {
        match self.rule {
            Rule::Home => self.home(),
            Rule::Spread => partition_of(
                hash2(self.stream, &(offset / SPREAD_RUN).to_le_bytes()),
                self.partitions,
            ),
            Rule::QueueId => {
                let text = String::from_utf8_lossy(bytes);
                let line = self.framing.line(&text, offset, 0, &self.hint);
                match postfix::queue_id(&line) {
                    Some(id) => partition_of(hash2(self.stream, id.as_bytes()), self.partitions),
                    None => self.home(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(format: Format, framing: Framing) -> Router {
        Router::new(
            "host|tail:x|x|1:2",
            Decided { format, framing },
            12,
            &ParseContext::default(),
        )
    }

    #[test]
    fn a_postfix_message_stays_on_one_partition_and_messages_spread() {
        let r = router(Format::Postfix, Framing::Syslog);
        let mut seen = std::collections::HashSet::new();
        for i in 0..200u32 {
            let id = format!("{:010X}", 0x4A1B2C3D00u64 + u64::from(i) * 7919);
            let parts: Vec<u32> = [
                format!("Jun 12 10:01:03 mx1 postfix/smtpd[9]: {id}: client=a[192.0.2.1]"),
                format!("Jun 12 10:01:04 mx1 postfix/qmgr[9]: {id}: from=<a@b.example>, size=1, nrcpt=1"),
                format!("Jun 12 10:01:05 mx1 postfix/smtp[9]: {id}: to=<c@d.example>, status=sent"),
                format!("Jun 12 10:01:05 mx1 postfix/qmgr[9]: {id}: removed"),
            ]
            .iter()
            .enumerate()
            .map(|(n, l)| r.partition(l.as_bytes(), u64::from(i) * 1000 + n as u64 * 100))
            .collect();
            assert!(parts.iter().all(|p| *p == parts[0]), "message {id}: {parts:?}");
            seen.insert(parts[0]);
        }
        assert_eq!(seen.len(), 12, "200 messages reach every partition");
        let noqueue = b"Jun 12 10:01:03 mx1 postfix/smtpd[9]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 554";
        assert_eq!(r.partition(noqueue, 5), r.home());
    }

    #[test]
    fn web_logs_spread_in_runs_and_stateful_formats_stay_home() {
        let r = router(Format::Squid, Framing::None);
        assert_eq!(r.partition(b"a", 0), r.partition(b"b", SPREAD_RUN - 1));
        let parts: std::collections::HashSet<u32> = (0..400).map(|i| r.partition(b"x", i * SPREAD_RUN)).collect();
        assert_eq!(parts.len(), 12);
        let w3c = router(Format::W3c, Framing::None);
        assert!((0..50).all(|i| w3c.partition(b"x", i * SPREAD_RUN) == w3c.home()));
        let framed = router(Format::Squid, Framing::Syslog);
        assert!((0..50).all(|i| framed.partition(b"x", i * SPREAD_RUN) == framed.home()));
    }
}
