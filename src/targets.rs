//! Who an alert concerns, as far as metrics may say: the watchlist groups of the people it
//! concerns (never a person, an address or an IP), and whether a device fetched a tracking pixel.
//!
//! [`Targets`] is read off an enriched event (a rule match) or kept with a correlation's
//! evidence; [`Tally`] counts alerts by rule and group, and is drained into
//! `reconwatch_alerts_by_group_total` and `reconwatch_pixel_alerts_total` (`crate::metrics`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Family};

/// The group of a watch-listed person whose CSV entry has no `group` (or who is on a plain list).
pub const UNGROUPED: &str = "ungrouped";

/// The group of a device that fetched a tracking pixel but is nobody on a watchlist.
pub const UNLISTED: &str = "unlisted";

/// Who one event concerns, by group. Read after the enrichment's person and pixel stages ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// The groups of the watch-listed people the event concerns (a mail's recipients, a web
    /// request's user or device): [`UNGROUPED`] for people without one; empty when nobody it
    /// concerns is watch-listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// A web request that fetched what looks like a tracking pixel (`reconwatch.url.pixel`): the
    /// sender learned the device's address, network and browser.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pixel_fetch: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Targets {
    /// What `event` says, once its `reconwatch.person.*` and `reconwatch.url.pixel` are computed.
    pub fn of(event: &Event<'_>) -> Targets {
        let person = &event.reconwatch.person;
        let mut groups: Vec<String> = person.group.iter().map(|g| g.to_string()).collect();
        if groups.is_empty() && person.high_risk == Some(true) {
            groups.push(UNGROUPED.to_owned());
        }
        Targets {
            groups,
            pixel_fetch: event.family() == Some(Family::Web) && event.reconwatch.url.pixel == Some(true),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && !self.pixel_fetch
    }
}

/// One rule's alerts for one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCount {
    /// Alerts that concern someone of the group.
    pub alerts: u64,
    /// Alerts in which a device of the group (or [`UNLISTED`]) fetched a tracking pixel.
    pub pixel: u64,
}

/// Alerts counted per rule (an index the owner knows: a detection rule's or a correlation's) and
/// group, until taken.
#[derive(Debug, Default)]
pub struct Tally {
    counts: HashMap<(u32, String), GroupCount>,
}

impl Tally {
    /// One alert of `rule` over events that concern `targets` (one event for a match, the
    /// evidence for a correlation): once for each group among them, and once for each group
    /// whose device fetched a pixel.
    pub fn add<'a>(&mut self, rule: u32, targets: impl Iterator<Item = &'a Targets> + Clone) {
        let mut seen: Vec<&str> = Vec::new();
        for g in targets.clone().flat_map(|t| t.groups.iter()) {
            if !seen.contains(&g.as_str()) {
                seen.push(g);
                self.entry(rule, g).alerts += 1;
            }
        }
        seen.clear();
        for t in targets.filter(|t| t.pixel_fetch) {
            let groups = t.groups.iter().map(String::as_str);
            let unlisted = t.groups.is_empty().then_some(UNLISTED);
            for g in groups.chain(unlisted) {
                if !seen.contains(&g) {
                    seen.push(g);
                    self.entry(rule, g).pixel += 1;
                }
            }
        }
    }

    fn entry(&mut self, rule: u32, group: &str) -> &mut GroupCount {
        self.counts.entry((rule, group.to_owned())).or_default()
    }

    /// Adds what `other` counted.
    pub fn merge(&mut self, other: Tally) {
        for (key, c) in other.counts {
            let e = self.counts.entry(key).or_default();
            e.alerts += c.alerts;
            e.pixel += c.pixel;
        }
    }

    /// The counts since the last take, as (rule, group, counts); the tally is left empty.
    pub fn take(&mut self) -> impl Iterator<Item = (u32, String, GroupCount)> {
        std::mem::take(&mut self.counts)
            .into_iter()
            .map(|((rule, group), c)| (rule, group, c))
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(groups: &[&str], pixel_fetch: bool) -> Targets {
        Targets {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            pixel_fetch,
        }
    }

    fn sorted(tally: &mut Tally) -> Vec<(u32, String, u64, u64)> {
        let mut v: Vec<_> = tally.take().map(|(r, g, c)| (r, g, c.alerts, c.pixel)).collect();
        v.sort();
        v
    }

    #[test]
    fn each_group_counts_once_per_alert_and_pixel_fetches_by_their_devices_group() {
        let mut tally = Tally::default();
        // A correlation over a mail to two groups and two fetches, one by nobody listed.
        let evidence = [t(&["mps", "staff"], false), t(&["mps"], true), t(&[], true)];
        tally.add(3, evidence.iter());
        // A match on a mail to nobody listed counts nothing.
        tally.add(1, [t(&[], false)].iter());
        assert_eq!(
            sorted(&mut tally),
            vec![
                (3, "mps".into(), 1, 1),
                (3, "staff".into(), 1, 0),
                (3, UNLISTED.into(), 0, 1),
            ]
        );
        assert!(tally.is_empty(), "take leaves the tally empty");
    }

    #[test]
    fn merged_tallies_add_up() {
        let (mut a, mut b) = (Tally::default(), Tally::default());
        a.add(0, [t(&["mps"], true)].iter());
        b.add(0, [t(&["mps"], false)].iter());
        b.add(1, [t(&["staff"], false)].iter());
        a.merge(b);
        assert_eq!(sorted(&mut a), vec![(0, "mps".into(), 2, 1), (1, "staff".into(), 1, 0)]);
    }
}
