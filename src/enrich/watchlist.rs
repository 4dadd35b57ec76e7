//! Watchlists of high-risk people (parliamentarians, their staff, journalists): which named
//! lists an e-mail address, a user name or a source IP belongs to, and whose it is.
//!
//! **Formats.** A list file is either
//! - *CSV* (detected when its first line that is neither blank nor a `#` comment has a
//!   comma-separated column named `email`): a header row, then one person per row. Columns
//!   (names trimmed, any case): `email` (required, an address), `name`, `group`, `usernames` and
//!   `ips` (both `;`-separated; ips are addresses or CIDR ranges, IPv4 or IPv6). Columns whose
//!   names start with `x-` are ignored (room for notes); any other column is an error, so a
//!   typo like `usernmes` cannot silently drop data. Rows starting with `#` are comments.
//! - *plain text*: one entry per line — an address (`a@parliament.example`), a domain
//!   (`@parliament.example`, matching that domain and its subdomains), or (an extension) an IP
//!   address or CIDR range; blank lines and lines starting with `#` are ignored.
//!
//! A bad line is an error naming `file:line` and the reason, and loading stops there: the file
//! is parsed completely before anything is added, so a failed load leaves the watchlists as
//! they were (a half-loaded list would give a false sense of coverage).
//!
//! **Lookups** are case-insensitive (ASCII; addresses with non-ASCII characters compare those
//! bytes exactly) and never allocate:
//! - [`Watchlists::lookup_email`]: exact addresses, then `@domain` entries for the address's
//!   domain and each parent domain (`a@x.parliament.example` matches `@parliament.example`;
//!   `a@notparliament.example` does not).
//! - [`Watchlists::lookup_username`]: `DOMAIN\user` and `user@realm` are reduced to `user`
//!   ([`normalize_username`]) on both sides, so a list entry `PARL\jdoe` matches a log's
//!   `jdoe@PARL.EXAMPLE` — and any other realm's `jdoe` (logs rarely carry a reliable realm).
//! - [`Watchlists::lookup_ip`]: exact addresses and every CIDR range containing the address,
//!   longest prefix first (IPv4-mapped IPv6 addresses are looked up as IPv4).
//!
//! Every lookup returns [`Matches`], an iterator over every (list, entry) that matched, with
//! the [`Person`] when the entry came from a CSV row. One person may be on several lists, and
//! one address may match a list twice (its own entry and its domain's).
//!
//! This module must never panic on a list file or a looked-up value, and never half-load a
//! file.
//!
//! **Design.** Keys are stored lowercased in a string arena; a table maps a case-insensitive
//! 64-bit hash of the key to its key node (the key's place in the arena; the rare second key
//! with the same hash is chained, and the key is confirmed with `eq_ignore_ascii_case`), so a
//! lookup hashes the borrowed input in place instead of lowercasing a copy. Each key node heads
//! a chain of hits (list, person) in one flat vector, laid out contiguously after each load.
//! IP entries live in one hash map per prefix length (exact addresses are /32 or /128), and a
//! lookup masks the address for each length present — at most 33 (IPv4) or 129 (IPv6) probes,
//! in practice a handful.

use std::collections::HashMap;
use std::hash::Hash;

use super::hash::{Mix, caseless_hash};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[cfg(test)]
mod tests;

/// End of a chain (hits, key nodes); also "no person".
const NONE: u32 = u32::MAX;

/// Why a list could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WatchlistError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// A line of the file is bad; nothing of the file was loaded.
    #[error("{origin}:{line}: {reason}")]
    Line {
        /// The file (or the source name given to [`Watchlists::add_text`]).
        origin: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong with the line.
        reason: LineError,
    },
    /// The list name is unusable (it appears in rule placeholders such as `%staff%`).
    #[error("invalid watchlist name {0:?}: use ASCII letters, digits, '_' and '-'")]
    BadName(String),
    /// The lists would outgrow the 32-bit indexes of the tables (or 65535 lists).
    #[error("{origin}: the watchlists would grow too large")]
    TooLarge {
        /// The file (or source name).
        origin: String,
    },
}

/// What is wrong with one line of a list file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not a usable e-mail address.
    #[error("invalid address {value:?}: {why}")]
    InvalidAddress {
        /// The text as written.
        value: String,
        /// The reason.
        why: &'static str,
    },
    /// Not a usable `@domain` entry.
    #[error("invalid domain {value:?}: {why}")]
    InvalidDomain {
        /// The text as written.
        value: String,
        /// The reason.
        why: &'static str,
    },
    /// Not an IP address or CIDR range.
    #[error("bad CIDR {value:?}: {why}")]
    BadCidr {
        /// The text as written.
        value: String,
        /// The reason.
        why: &'static str,
    },
    /// Not a usable user name.
    #[error("invalid user name {value:?}: {why}")]
    InvalidUsername {
        /// The text as written.
        value: String,
        /// The reason.
        why: &'static str,
    },
    /// A plain-text line that is neither an address, `@domain`, IP nor CIDR.
    #[error("invalid entry {0:?}: expected user@domain, @domain, an IP address or a CIDR range")]
    InvalidEntry(String),
    /// A CSV row has a different number of fields than the header.
    #[error("wrong column count: expected {expected}, found {found}")]
    WrongColumnCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A CSV header names a column this format does not know.
    #[error("unknown column {0:?} (known: email, name, group, usernames, ips; prefix others with \"x-\")")]
    UnknownColumn(String),
    /// A CSV header names a column twice.
    #[error("duplicate column {0:?}")]
    DuplicateColumn(String),
    /// A CSV row has an empty `email` field.
    #[error("missing email")]
    MissingEmail,
    /// A CSV header has no `email` column.
    #[error(
        "the CSV header has no `email` column (columns: {0}); a CSV watchlist needs one, or write one address or @domain per line without a header"
    )]
    NoEmailColumn(String),
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The CSV reader gave up.
    #[error("unreadable CSV: {0}")]
    Csv(String),
}

/// The format a list file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// CSV with a header row (one person per row).
    Csv,
    /// One address, `@domain`, IP or CIDR per line.
    Text,
}

/// What one [`Watchlists::load`] or [`Watchlists::add_text`] added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// The list the entries were added to.
    pub list: String,
    /// How the file was read.
    pub format: ListFormat,
    /// Persons (CSV rows) added.
    pub persons: usize,
    /// Addresses added.
    pub addresses: usize,
    /// `@domain` entries added.
    pub domains: usize,
    /// User names added.
    pub usernames: usize,
    /// IP addresses and CIDR ranges added.
    pub ips: usize,
    /// Entries skipped because the list already had them (same entry, same person or none).
    pub duplicates: usize,
    /// CSV rows whose address an earlier row of the file has: harmless (the same person twice)
    /// and not refused, but worth a warning, since the later row's name and group are not
    /// used (its user names and IPs are added to the first row's person).
    pub duplicate_rows: Vec<DuplicateRow>,
}

/// A CSV row that repeats an earlier row's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRow {
    /// The row's line.
    pub line: u64,
    /// The line of the first row with the address.
    pub first_line: u64,
    /// The address as written in the row.
    pub email: String,
}

/// One named list and how many entries of each kind it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// The list's name, as given to [`Watchlists::load`].
    pub name: String,
    /// Persons (CSV rows).
    pub persons: usize,
    /// Addresses.
    pub addresses: usize,
    /// `@domain` entries.
    pub domains: usize,
    /// User names.
    pub usernames: usize,
    /// IP addresses and CIDR ranges.
    pub ips: usize,
}

/// A person from a CSV row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    email: Box<str>,
    name: Option<Box<str>>,
    group: Option<Box<str>>,
}

impl Person {
    /// The address, as written in the list.
    pub fn email(&self) -> &str {
        &self.email
    }
    /// The `name` column, if not empty.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The `group` column, if not empty.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }
}

/// Which kind of entry matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// The exact address.
    Address,
    /// An `@domain` entry; the domain is the suffix of the looked-up address that matched, as
    /// written there (not lowercased).
    Domain(&'a str),
    /// The user name.
    Username,
    /// An IP entry with this prefix length (32 or 128 for an exact address).
    Ip {
        /// The prefix length of the matching entry.
        prefix: u8,
    },
}

/// One list entry that matched a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    /// The list's name.
    pub list: &'a str,
    /// The person the entry belongs to, when it came from a CSV row.
    pub person: Option<&'a Person>,
    /// What matched.
    pub via: Via<'a>,
}

/// Every entry that matched a lookup, found lazily (no allocation).
#[derive(Debug, Clone)]
pub struct Matches<'a> {
    wl: &'a Watchlists,
    next_hit: u32,
    via: Via<'a>,
    walk: Walk<'a>,
}

/// What a [`Matches`] looks up once the current hit chain is exhausted.
#[derive(Debug, Clone, Copy)]
enum Walk<'a> {
    Done,
    /// The domain (or parent domain) to try next.
    Domain(&'a str),
    /// The next IPv4 prefix table to probe.
    V4 {
        addr: u32,
        level: usize,
    },
    /// The next IPv6 prefix table to probe.
    V6 {
        addr: u128,
        level: usize,
    },
}

impl<'a> Iterator for Matches<'a> {
    type Item = Match<'a>;

    fn next(&mut self) -> Option<Match<'a>> {
        loop {
            if let Some(hit) = self.wl.hits.get(self.next_hit as usize) {
                self.next_hit = hit.next;
                return Some(Match {
                    list: self.wl.lists.get(usize::from(hit.list)).map_or("", |l| l.name.as_str()),
                    person: self.wl.persons.get(hit.person as usize),
                    via: self.via,
                });
            }
            let wl = self.wl;
            match self.walk {
                Walk::Done => return None,
                Walk::Domain(domain) => {
                    self.next_hit = wl.domains.get(domain);
                    self.via = Via::Domain(domain);
                    self.walk = match domain.split_once('.') {
                        Some((_, parent)) if !parent.is_empty() => Walk::Domain(parent),
                        _ => Walk::Done,
                    };
                }
                Walk::V4 { addr, level } => match wl.v4.get(level) {
                    Some(t) => {
                        self.next_hit = t.map.get(&(addr & mask_v4(t.prefix))).copied().unwrap_or(NONE);
                        self.via = Via::Ip { prefix: t.prefix };
                        self.walk = Walk::V4 { addr, level: level + 1 };
                    }
                    None => self.walk = Walk::Done,
                },
                Walk::V6 { addr, level } => match wl.v6.get(level) {
                    Some(t) => {
                        self.next_hit = t.map.get(&(addr & mask_v6(t.prefix))).copied().unwrap_or(NONE);
                        self.via = Via::Ip { prefix: t.prefix };
                        self.walk = Walk::V6 { addr, level: level + 1 };
                    }
                    None => self.walk = Walk::Done,
                },
            }
        }
    }
}

/// Several named watchlists and the indexes to look addresses, user names and IPs up in them.
#[derive(Debug, Default, Clone)]
pub struct Watchlists {
    lists: Vec<ListInfo>,
    persons: Vec<Person>,
    hits: Vec<HitNode>,
    emails: KeyTable,
    domains: KeyTable,
    usernames: KeyTable,
    /// One table per prefix length present, longest first.
    v4: Vec<PrefixTable<u32>>,
    v6: Vec<PrefixTable<u128>>,
}

/// One (list, person) an entry belongs to, linked to the entry's next hit.
#[derive(Debug, Clone, Copy)]
struct HitNode {
    list: u16,
    person: u32,
    next: u32,
}

impl Watchlists {
    /// No lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the list file at `path` (CSV or plain text, see the module doc) into the list
    /// `name`, creating it or adding to it. On error nothing of the file is added.
    pub fn load(&mut self, name: &str, path: &Path) -> Result<LoadSummary, WatchlistError> {
        let bytes = std::fs::read(path).map_err(|error| WatchlistError::Read {
            path: path.to_owned(),
            error,
        })?;
        let origin = path.display().to_string();
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => {
                let line = bytes
                    .get(..e.valid_up_to())
                    .map_or(0, |b| memchr::memchr_iter(b'\n', b).count());
                return Err(WatchlistError::Line {
                    origin,
                    line: line as u64 + 1,
                    reason: LineError::NotUtf8,
                });
            }
        };
        self.add_text(name, &origin, text)
    }

    /// Like [`Watchlists::load`], on text in memory; `origin` names it in errors.
    pub fn add_text(&mut self, name: &str, origin: &str, text: &str) -> Result<LoadSummary, WatchlistError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(WatchlistError::BadName(name.to_owned()));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let line_err = |line: u64, reason: LineError| WatchlistError::Line {
            origin: origin.to_owned(),
            line,
            reason,
        };
        let (format, parsed) = if is_csv(text) {
            (ListFormat::Csv, parse_csv(text).map_err(|(l, r)| line_err(l, r))?)
        } else {
            (ListFormat::Text, parse_text(text).map_err(|(l, r)| line_err(l, r))?)
        };
        self.commit(name, origin, format, parsed)
    }

    /// The lists, in the order they were first loaded.
    pub fn lists(&self) -> &[ListInfo] {
        &self.lists
    }

    /// The lists the address is on: its exact entries, then `@domain` entries for its domain
    /// and each parent domain. The address is taken as is (no `<>` or display name); the part
    /// after its last `@` is the domain. Without an `@` nothing matches.
    pub fn lookup_email<'a>(&'a self, addr: &'a str) -> Matches<'a> {
        let Some((_, domain)) = addr.rsplit_once('@') else {
            return self.matches(NONE, Via::Address, Walk::Done);
        };
        let walk = if domain.is_empty() {
            Walk::Done
        } else {
            Walk::Domain(domain)
        };
        self.matches(self.emails.get(addr), Via::Address, walk)
    }

    /// The lists the user name is on, after [`normalize_username`].
    pub fn lookup_username<'a>(&'a self, user: &'a str) -> Matches<'a> {
        let user = normalize_username(user);
        let head = if user.is_empty() {
            NONE
        } else {
            self.usernames.get(user)
        };
        self.matches(head, Via::Username, Walk::Done)
    }

    /// The lists the IP address is on: exact entries and every range containing it, longest
    /// prefix first.
    pub fn lookup_ip(&self, ip: IpAddr) -> Matches<'_> {
        let walk = match ip.to_canonical() {
            IpAddr::V4(v4) => Walk::V4 {
                addr: u32::from(v4),
                level: 0,
            },
            IpAddr::V6(v6) => Walk::V6 {
                addr: u128::from(v6),
                level: 0,
            },
        };
        self.matches(NONE, Via::Address, walk)
    }

    /// The list's addresses and `@domain` entries (lowercased, sorted), for Sigma placeholders
    /// such as `%parliamentarians%`; `None` if there is no such list. User names and IPs are
    /// not included.
    pub fn values(&self, list: &str) -> Option<Vec<String>> {
        let id = self.lists.iter().position(|l| l.name == list)?;
        let on_list = |head: u32| self.chain(head).any(|h| usize::from(h.list) == id);
        let mut out: Vec<String> = self
            .emails
            .iter()
            .filter(|&(_, head)| on_list(head))
            .map(|(key, _)| key.to_owned())
            .collect();
        out.extend(
            self.domains
                .iter()
                .filter(|&(_, head)| on_list(head))
                .map(|(key, _)| format!("@{key}")),
        );
        out.sort_unstable();
        Some(out)
    }

    /// Approximate heap bytes held, from the capacities of the tables (for a memory gauge and
    /// the benchmark; allocator overhead is not counted).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        fn map<K, V, S>(m: &HashMap<K, V, S>) -> usize {
            // One control byte per bucket; buckets are at least the capacity.
            m.capacity() * (size_of::<(K, V)>() + 1)
        }
        let keys = |t: &KeyTable| map(&t.index) + t.overflow.capacity() * size_of::<KeyNode>() + t.arena.capacity();
        let text = |s: &Option<Box<str>>| s.as_ref().map_or(0, |s| s.len());
        let persons: usize = self
            .persons
            .iter()
            .map(|p| p.email.len() + text(&p.name) + text(&p.group))
            .sum();
        self.lists.capacity() * size_of::<ListInfo>()
            + self.lists.iter().map(|l| l.name.capacity()).sum::<usize>()
            + self.persons.capacity() * size_of::<Person>()
            + persons
            + self.hits.capacity() * size_of::<HitNode>()
            + keys(&self.emails)
            + keys(&self.domains)
            + keys(&self.usernames)
            + self.v4.iter().map(|t| map(&t.map)).sum::<usize>()
            + self.v6.iter().map(|t| map(&t.map)).sum::<usize>()
    }

    fn matches<'a>(&'a self, next_hit: u32, via: Via<'a>, walk: Walk<'a>) -> Matches<'a> {
        Matches {
            wl: self,
            next_hit,
            via,
            walk,
        }
    }

    fn chain(&self, head: u32) -> impl Iterator<Item = &HitNode> {
        std::iter::successors(self.hits.get(head as usize), |h| self.hits.get(h.next as usize))
    }

    /// Adds a parsed file; fails (before changing anything) only when an index would overflow.
    fn commit(
        &mut self,
        name: &str,
        origin: &str,
        format: ListFormat,
        parsed: Parsed,
    ) -> Result<LoadSummary, WatchlistError> {
        let existing = self.lists.iter().position(|l| l.name == name);
        let key_bytes: usize = parsed.entries.iter().map(|e| e.key_len()).sum();
        let fits = |len: usize, more: usize| len.checked_add(more).is_some_and(|n| n < NONE as usize);
        let tables_fit = [&self.emails, &self.domains, &self.usernames]
            .iter()
            .all(|t| fits(t.len(), parsed.entries.len()) && fits(t.arena.len(), key_bytes));
        if (existing.is_none() && self.lists.len() >= usize::from(u16::MAX))
            || !fits(self.persons.len(), parsed.persons.len())
            || !fits(self.hits.len(), parsed.entries.len())
            || !tables_fit
        {
            return Err(WatchlistError::TooLarge {
                origin: origin.to_owned(),
            });
        }
        let id = existing.unwrap_or_else(|| {
            self.lists.push(ListInfo {
                name: name.to_owned(),
                persons: 0,
                addresses: 0,
                domains: 0,
                usernames: 0,
                ips: 0,
            });
            self.lists.len() - 1
        });
        let mut summary = LoadSummary {
            list: name.to_owned(),
            format,
            persons: parsed.persons.len(),
            addresses: 0,
            domains: 0,
            usernames: 0,
            ips: 0,
            duplicates: 0,
            duplicate_rows: parsed.duplicate_rows,
        };
        // The checks above bound every index below 2^32 - 1 (and the list id below 2^16 - 1).
        let list = id as u16;
        // Growing the tables once, not by doubling, saves rehashing a million keys.
        let mut sizes = [(0, 0); 3];
        for entry in &parsed.entries {
            let (i, k) = match &entry.key {
                Key::Email(k) => (0, k),
                Key::Domain(k) => (1, k),
                Key::Username(k) => (2, k),
                Key::V4(..) | Key::V6(..) => continue,
            };
            if let Some((n, bytes)) = sizes.get_mut(i) {
                *n += 1;
                *bytes += k.len();
            }
        }
        for (table, (n, bytes)) in [&mut self.emails, &mut self.domains, &mut self.usernames]
            .into_iter()
            .zip(sizes)
        {
            table.index.reserve(n);
            table.arena.reserve(bytes);
        }
        self.hits.reserve(parsed.entries.len());
        let person_base = self.persons.len();
        self.persons.extend(parsed.persons);
        for entry in parsed.entries {
            let person = entry.person.map_or(NONE, |p| (person_base + p) as u32);
            let hit = HitNode {
                list,
                person,
                next: NONE,
            };
            let (head, count) = match &entry.key {
                Key::Email(k) => (self.emails.head_mut(k), &mut summary.addresses),
                Key::Domain(k) => (self.domains.head_mut(k), &mut summary.domains),
                Key::Username(k) => (self.usernames.head_mut(k), &mut summary.usernames),
                Key::V4(addr, prefix) => (PrefixTable::head_mut(&mut self.v4, *addr, *prefix), &mut summary.ips),
                Key::V6(addr, prefix) => (PrefixTable::head_mut(&mut self.v6, *addr, *prefix), &mut summary.ips),
            };
            if head.is_some_and(|head| push_hit(&mut self.hits, head, hit)) {
                *count += 1;
            } else {
                summary.duplicates += 1;
            }
        }
        if let Some(info) = self.lists.get_mut(id) {
            info.persons += summary.persons;
            info.addresses += summary.addresses;
            info.domains += summary.domains;
            info.usernames += summary.usernames;
            info.ips += summary.ips;
        }
        self.compact_hits();
        Ok(summary)
    }

    /// Lays each hit chain out contiguously. Chains grow by appending, so the hits of an entry
    /// shared by many persons (an office's /24) end up scattered over the vector, and walking
    /// the chain would cost a cache miss per hit.
    fn compact_hits(&mut self) {
        let old = std::mem::take(&mut self.hits);
        let mut new = Vec::with_capacity(old.len());
        let mut relay = |head: &mut u32| {
            let mut at = *head;
            if old.get(at as usize).is_none() {
                return;
            }
            *head = new.len() as u32;
            while let Some(node) = old.get(at as usize) {
                at = node.next;
                let next = if old.get(at as usize).is_some() {
                    new.len() as u32 + 1
                } else {
                    NONE
                };
                new.push(HitNode { next, ..*node });
            }
        };
        for table in [&mut self.emails, &mut self.domains, &mut self.usernames] {
            table.heads_mut().for_each(&mut relay);
        }
        for table in &mut self.v4 {
            table.map.values_mut().for_each(&mut relay);
        }
        for table in &mut self.v6 {
            table.map.values_mut().for_each(&mut relay);
        }
        self.hits = new;
    }
}

/// Appends `hit` to the chain at `head` unless the chain has the same list and person; returns
/// whether it was added.
fn push_hit(hits: &mut Vec<HitNode>, head: &mut u32, hit: HitNode) -> bool {
    let new = hits.len() as u32;
    let mut last = None;
    let mut at = *head;
    // Chains are as long as the number of (list, person) pairs sharing one entry: short.
    while let Some(node) = hits.get(at as usize) {
        if node.list == hit.list && node.person == hit.person {
            return false;
        }
        last = Some(at);
        at = node.next;
    }
    match last.and_then(|l| hits.get_mut(l as usize)) {
        Some(node) => node.next = new,
        None => *head = new,
    }
    hits.push(hit);
    true
}

/// Reduces `DOMAIN\user` and `user@realm` to `user` (the part after the last `\`, then before
/// the last `@`), as watchlist user names are stored and looked up.
pub fn normalize_username(user: &str) -> &str {
    let user = user.rsplit_once('\\').map_or(user, |(_, u)| u);
    user.rsplit_once('@').map_or(user, |(u, _)| u).trim()
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Lowercased string keys, each heading a hit chain, found by [`caseless_hash`]. The key
/// node lives in the hash table itself (one cache miss fewer per lookup than an index into a
/// node vector); a second key with the same 64-bit hash goes to `overflow`, linked by `next`.
#[derive(Debug, Default, Clone)]
struct KeyTable {
    index: HashMap<u64, KeyNode, Mix>,
    overflow: Vec<KeyNode>,
    /// Every key, lowercased, back to back.
    arena: String,
}

#[derive(Debug, Clone, Copy)]
struct KeyNode {
    start: u32,
    len: u32,
    /// Next key with the same hash, in `overflow`.
    next: u32,
    /// First hit of this key.
    hits: u32,
}

impl KeyNode {
    fn key<'a>(&self, arena: &'a str) -> &'a str {
        let start = self.start as usize;
        arena.get(start..start + self.len as usize).unwrap_or("")
    }
}

impl KeyTable {
    /// Number of keys.
    fn len(&self) -> usize {
        self.index.len() + self.overflow.len()
    }

    /// The hit chain of `key` (any case), or [`NONE`].
    fn get(&self, key: &str) -> u32 {
        self.get_hashed(caseless_hash(key.as_bytes()), key)
    }

    fn get_hashed(&self, hash: u64, key: &str) -> u32 {
        let mut node = self.index.get(&hash);
        while let Some(n) = node {
            if n.key(&self.arena).eq_ignore_ascii_case(key) {
                return n.hits;
            }
            node = self.overflow.get(n.next as usize);
        }
        NONE
    }

    /// The hit chain slot of `key` (already lowercased), inserting it if absent. The caller
    /// has checked that the key count and arena stay below 2^32 - 1.
    fn head_mut(&mut self, key: &str) -> Option<&mut u32> {
        self.head_mut_hashed(caseless_hash(key.as_bytes()), key)
    }

    fn head_mut_hashed(&mut self, hash: u64, key: &str) -> Option<&mut u32> {
        let fresh = KeyNode {
            start: self.arena.len() as u32,
            len: key.len() as u32,
            next: NONE,
            hits: NONE,
        };
        let first = match self.index.entry(hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                self.arena.push_str(key);
                return Some(&mut v.insert(fresh).hits);
            }
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        };
        if first.key(&self.arena) == key {
            return Some(&mut first.hits);
        }
        let mut last = None;
        let mut at = first.next;
        while let Some(n) = self.overflow.get(at as usize) {
            if n.key(&self.arena) == key {
                return self.overflow.get_mut(at as usize).map(|n| &mut n.hits);
            }
            last = Some(at);
            at = n.next;
        }
        let new = self.overflow.len() as u32;
        match last.and_then(|l| self.overflow.get_mut(l as usize)) {
            Some(n) => n.next = new,
            None => first.next = new,
        }
        self.arena.push_str(key);
        self.overflow.push(fresh);
        self.overflow.last_mut().map(|n| &mut n.hits)
    }

    /// Every key and its hit chain.
    fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.index
            .values()
            .chain(&self.overflow)
            .map(|n| (n.key(&self.arena), n.hits))
    }

    /// Every key's hit chain slot.
    fn heads_mut(&mut self) -> impl Iterator<Item = &mut u32> {
        self.index.values_mut().chain(&mut self.overflow).map(|n| &mut n.hits)
    }
}

/// The entries of one prefix length: masked address → hit chain.
#[derive(Debug, Clone)]
struct PrefixTable<T> {
    prefix: u8,
    map: HashMap<T, u32, Mix>,
}

impl<T: Hash + Eq + Copy> PrefixTable<T> {
    /// The hit chain slot of `addr/prefix` in `tables` (kept longest prefix first).
    fn head_mut(tables: &mut Vec<Self>, addr: T, prefix: u8) -> Option<&mut u32> {
        let at = match tables.binary_search_by(|t| prefix.cmp(&t.prefix)) {
            Ok(at) => at,
            Err(at) => {
                tables.insert(
                    at,
                    PrefixTable {
                        prefix,
                        map: HashMap::default(),
                    },
                );
                at
            }
        };
        tables.get_mut(at).map(|t| t.map.entry(addr).or_insert(NONE))
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// A file parsed completely, not yet added.
#[derive(Debug, Default)]
struct Parsed {
    persons: Vec<Person>,
    entries: Vec<Entry>,
    duplicate_rows: Vec<DuplicateRow>,
}

#[derive(Debug)]
struct Entry {
    key: Key,
    /// Index into [`Parsed::persons`].
    person: Option<usize>,
}

/// An entry's key, strings lowercased.
#[derive(Debug)]
enum Key {
    Email(String),
    Domain(String),
    Username(String),
    V4(u32, u8),
    V6(u128, u8),
}

impl Entry {
    fn key_len(&self) -> usize {
        match &self.key {
            Key::Email(k) | Key::Domain(k) | Key::Username(k) => k.len(),
            Key::V4(..) | Key::V6(..) => 0,
        }
    }
}

type LineResult<T> = Result<T, (u64, LineError)>;

/// CSV when the first line that is neither blank nor a comment has a comma (an entry of a
/// plain list never does) or is the lone column `email`. A CSV header without an `email`
/// column is then an error that says so, not a list entry that fails to parse.
fn is_csv(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|header| header.contains(',') || header.trim_matches('"').trim().eq_ignore_ascii_case("email"))
}

fn parse_text(text: &str) -> LineResult<Parsed> {
    let mut parsed = Parsed::default();
    for (n, line) in text.lines().enumerate() {
        let n = n as u64 + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = if let Some(domain) = line.strip_prefix('@') {
            check_domain(domain)
                .map(|()| Key::Domain(domain.to_ascii_lowercase()))
                .map_err(|why| LineError::InvalidDomain {
                    value: line.to_owned(),
                    why,
                })
        } else if line.contains('@') {
            parse_address(line).map(Key::Email)
        } else if line.contains(':') || line.starts_with(|c: char| c.is_ascii_digit()) {
            parse_ip(line)
        } else {
            Err(LineError::InvalidEntry(line.to_owned()))
        };
        let key = key.map_err(|e| (n, e))?;
        parsed.entries.push(Entry { key, person: None });
    }
    Ok(parsed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Email,
    Name,
    Group,
    Usernames,
    Ips,
    Ignored,
}

fn parse_csv(text: &str) -> LineResult<Parsed> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let line_of = |r: &csv::StringRecord| r.position().map_or(0, |p| p.line());
    let csv_err = |e: csv::Error| (e.position().map_or(0, |p| p.line()), LineError::Csv(e.to_string()));

    let header = match records.next() {
        Some(r) => r.map_err(csv_err)?,
        None => return Ok(Parsed::default()),
    };
    let header_line = line_of(&header);
    let mut columns = Vec::with_capacity(header.len());
    for name in &header {
        let column = match name.to_ascii_lowercase().as_str() {
            "email" => Column::Email,
            "name" => Column::Name,
            "group" => Column::Group,
            "usernames" => Column::Usernames,
            "ips" => Column::Ips,
            n if n.starts_with("x-") => Column::Ignored,
            _ => return Err((header_line, LineError::UnknownColumn(name.to_owned()))),
        };
        if column != Column::Ignored && columns.contains(&column) {
            return Err((header_line, LineError::DuplicateColumn(name.to_owned())));
        }
        columns.push(column);
    }
    if !columns.contains(&Column::Email) {
        let names: Vec<&str> = header.iter().collect();
        return Err((header_line, LineError::NoEmailColumn(names.join(", "))));
    }

    let mut parsed = Parsed::default();
    // Address -> (first line, person index).
    let mut seen: HashMap<String, (u64, usize)> = HashMap::new();
    for record in records {
        let record = record.map_err(csv_err)?;
        let line = line_of(&record);
        if record.len() != columns.len() {
            return Err((
                line,
                LineError::WrongColumnCount {
                    expected: columns.len(),
                    found: record.len(),
                },
            ));
        }
        let at = |e: LineError| (line, e);
        let mut person = Person {
            email: "".into(),
            name: None,
            group: None,
        };
        let mut keys = Vec::new();
        let mut first_row = None;
        for (column, field) in columns.iter().zip(&record) {
            let non_empty = (!field.is_empty()).then(|| field.into());
            match column {
                Column::Email if field.is_empty() => return Err(at(LineError::MissingEmail)),
                Column::Email => {
                    let key = parse_address(field).map_err(at)?;
                    match seen.get(&key) {
                        Some(&(first_line, index)) => {
                            first_row = Some(index);
                            parsed.duplicate_rows.push(DuplicateRow {
                                line,
                                first_line,
                                email: field.to_owned(),
                            });
                        }
                        None => {
                            seen.insert(key.clone(), (line, parsed.persons.len()));
                        }
                    }
                    person.email = field.into();
                    keys.push(Key::Email(key));
                }
                Column::Name => person.name = non_empty,
                Column::Group => person.group = non_empty,
                Column::Usernames => {
                    for user in list_items(field) {
                        keys.push(Key::Username(parse_username(user).map_err(at)?));
                    }
                }
                Column::Ips => {
                    for ip in list_items(field) {
                        keys.push(parse_ip(ip).map_err(at)?);
                    }
                }
                Column::Ignored => {}
            }
        }
        // A repeated address is the first row's person: its keys join that person.
        let index = first_row.unwrap_or_else(|| {
            parsed.persons.push(person);
            parsed.persons.len() - 1
        });
        parsed.entries.extend(keys.into_iter().map(|key| Entry {
            key,
            person: Some(index),
        }));
    }
    Ok(parsed)
}

/// The non-empty items of a `;`-separated field.
fn list_items(field: &str) -> impl Iterator<Item = &str> {
    field.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// Checks an address and returns it lowercased. Quoted local parts and comments are not
/// supported: list files hold plain `user@domain`.
fn parse_address(s: &str) -> Result<String, LineError> {
    let bad = |why| LineError::InvalidAddress {
        value: s.to_owned(),
        why,
    };
    if s.len() > 254 {
        return Err(bad("longer than 254 bytes"));
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(bad("no '@'"));
    };
    if local.is_empty() {
        return Err(bad("empty local part"));
    }
    if local.len() > 64 {
        return Err(bad("local part longer than 64 bytes"));
    }
    if domain.contains('@') {
        return Err(bad("more than one '@'"));
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"(),:;<>[\\]".contains(c))
    {
        return Err(bad(
            "space, control character or one of \"(),:;<>[\\] in the local part",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("misplaced '.' in the local part"));
    }
    check_domain(domain).map_err(bad)?;
    Ok(s.to_ascii_lowercase())
}

/// Checks a domain name: dot-separated labels of letters, digits, `-`, `_` or non-ASCII
/// (internationalized names written in UTF-8), none empty or starting or ending with `-`.
fn check_domain(d: &str) -> Result<(), &'static str> {
    if d.is_empty() {
        return Err("empty domain");
    }
    if d.len() > 253 {
        return Err("domain longer than 253 bytes");
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err("empty label in the domain");
        }
        if label.len() > 63 {
            return Err("domain label longer than 63 bytes");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii())
        {
            return Err("domain may hold only letters, digits, '-', '_' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("domain label starts or ends with '-'");
        }
    }
    Ok(())
}

/// Normalizes, checks and lowercases a user name.
fn parse_username(s: &str) -> Result<String, LineError> {
    let bad = |why| LineError::InvalidUsername {
        value: s.to_owned(),
        why,
    };
    let user = normalize_username(s);
    if user.is_empty() {
        return Err(bad("empty after removing DOMAIN\\ and @realm"));
    }
    if user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("space or control character"));
    }
    if user == "-" {
        // Web logs write `-` for "no user": such an entry would match every anonymous request.
        return Err(bad("\"-\" means no user in logs"));
    }
    Ok(user.to_ascii_lowercase())
}

/// Parses an IP address (a full-length prefix) or a CIDR range, whose host bits must be zero
/// (`10.0.0.1/8` is likely a typo for a host or a range; which is unknowable). IPv4-mapped IPv6
/// entries are stored as IPv4, as lookups see them.
fn parse_ip(s: &str) -> Result<Key, LineError> {
    let bad = |why| LineError::BadCidr {
        value: s.to_owned(),
        why,
    };
    let (addr, prefix) = match s.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().map_err(|_| bad("not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(len) => match len.trim().parse::<u8>() {
            Ok(len) if len <= max => len,
            _ => return Err(bad("prefix length out of range")),
        },
    };
    let key = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if prefix >= 96 => Key::V4(u32::from(v4), prefix - 96),
            _ => Key::V6(u128::from(v6), prefix),
        },
        IpAddr::V4(v4) => Key::V4(u32::from(v4), prefix),
    };
    let host_bits = match key {
        Key::V4(a, p) => a & !mask_v4(p) != 0,
        Key::V6(a, p) => a & !mask_v6(p) != 0,
        _ => false,
    };
    if host_bits {
        return Err(bad("host bits set after the prefix"));
    }
    Ok(key)
}
