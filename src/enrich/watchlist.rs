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
//! A bad line is an error naming `file:line` and the reason, and loading stops there: a file
//! that is not UTF-8 is refused before anything is added, and what a file added before its bad
//! line is taken out again, so a failed load leaves the watchlists as they were (a half-loaded
//! list would give a false sense of coverage).
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
//! **Design.** Built for a million people in a few hundred bytes each, loaded at the speed the
//! file is read. A file is streamed (never held whole) and every row goes straight into the
//! tables, with no allocation per row: keys are stored lowercased in one byte arena per kind
//! (addresses, domains, user names), found through an open-addressing table by a hash that
//! ignores ASCII case (module `keys`), so a lookup hashes the borrowed input in place instead of
//! lowercasing a copy; a person is four offsets into one text arena (its address, when written
//! in lowercase, is not stored twice: it is the address key). Each key heads a chain of hits
//! (list, person) in one flat vector, laid out contiguously after each load. IP entries live in
//! one hash map per prefix length (exact addresses are /32 or /128), and a lookup masks the
//! address for each length present — at most 33 (IPv4) or 129 (IPv6) probes, in practice a
//! handful. Everything is appended during a load, so undoing a failed one is truncating.

use std::collections::HashMap;
use std::hash::Hash;
use std::io::{BufRead, BufReader, Read, Seek};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::hash::Mix;

mod keys;
#[cfg(test)]
mod tests;

use keys::KeyTable;
/// End of a chain (hits, keys); also "no person".
use keys::NONE;

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

/// A person from a CSV row, borrowed from the watchlists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    email: &'a str,
    name: Option<&'a str>,
    group: Option<&'a str>,
}

impl<'a> Person<'a> {
    /// The address, as written in the list.
    pub fn email(self) -> &'a str {
        self.email
    }
    /// The `name` column, if not empty.
    pub fn name(self) -> Option<&'a str> {
        self.name
    }
    /// The `group` column, if not empty.
    pub fn group(self) -> Option<&'a str> {
        self.group
    }
}

/// Where a person's text lies in [`Watchlists::person_text`]: the address (unless
/// [`IN_KEYS`] says it is the address key), then name, then group, back to back.
#[derive(Debug, Clone, Copy)]
struct PersonRecord {
    email: u32,
    name: u32,
    group: u32,
    end: u32,
}

/// Set in [`PersonRecord::email`] when the address as written is its (lowercased) key, which
/// then holds it: the usual case, and a million addresses need not be stored twice.
const IN_KEYS: u32 = 1 << 31;

/// An address or `@domain` entry of a list (lowercased), as [`Watchlists::entries`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListEntry<'a> {
    /// An address.
    Address(&'a str),
    /// A domain, without its `@`.
    Domain(&'a str),
}

impl ListEntry<'_> {
    /// The entry as a placeholder value: the address, or `@domain`.
    pub fn value(self) -> String {
        match self {
            ListEntry::Address(a) => a.to_owned(),
            ListEntry::Domain(d) => format!("@{d}"),
        }
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
    pub person: Option<Person<'a>>,
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
                    person: self.wl.person(hit.person),
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
    persons: Vec<PersonRecord>,
    /// The persons' text (see [`PersonRecord`]).
    person_text: String,
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
        let origin = path.display().to_string();
        let failed = |fail: Fail| match fail {
            Fail::Io(error) => WatchlistError::Read {
                path: path.to_owned(),
                error,
            },
            fail => fail.at(&origin),
        };
        let mut file = std::fs::File::open(path).map_err(|e| failed(Fail::Io(e)))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            // A pipe or FIFO (`/dev/stdin`, `<(…)`) can be read once: both passes run over it
            // in memory.
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(|e| failed(Fail::Io(e)))?;
            let survey = survey(bytes.as_slice()).map_err(failed)?;
            check_name(name)?;
            let rows = bytes.get(survey.bom as usize..).unwrap_or_default();
            return self.add_reader(name, survey.format, survey.lines, rows).map_err(failed);
        }
        // A first pass, at the speed of reading, refuses a file that is not UTF-8 wherever the
        // bad byte is (before any other error and before anything is added) and finds the
        // format; the second streams the rows into the tables. The file is never held whole.
        let survey = survey(BufReader::with_capacity(BUFFER, &file)).map_err(failed)?;
        check_name(name)?;
        file.seek(std::io::SeekFrom::Start(survey.bom))
            .map_err(|e| failed(Fail::Io(e)))?;
        let reader = BufReader::with_capacity(BUFFER, file);
        self.add_reader(name, survey.format, survey.lines, reader)
            .map_err(failed)
    }

    /// Like [`Watchlists::load`], on text in memory; `origin` names it in errors.
    pub fn add_text(&mut self, name: &str, origin: &str, text: &str) -> Result<LoadSummary, WatchlistError> {
        check_name(name)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let format = if is_csv(text) {
            ListFormat::Csv
        } else {
            ListFormat::Text
        };
        self.add_reader(name, format, 0, text.as_bytes())
            .map_err(|fail| fail.at(origin))
    }

    /// Adds the list file `reader` streams (after its byte order mark) in `format`; `lines`,
    /// when known, sizes the tables. On error, takes out again what the file added.
    fn add_reader(
        &mut self,
        name: &str,
        format: ListFormat,
        lines: u64,
        reader: impl BufRead,
    ) -> Result<LoadSummary, Fail> {
        let mark = self.mark();
        let list = match self.lists.iter().position(|l| l.name == name) {
            Some(id) => id,
            None if self.lists.len() < usize::from(u16::MAX) => {
                self.lists.push(ListInfo {
                    name: name.to_owned(),
                    persons: 0,
                    addresses: 0,
                    domains: 0,
                    usernames: 0,
                    ips: 0,
                });
                self.lists.len() - 1
            }
            None => return Err(Fail::TooLarge),
        };
        let mut load = Loader {
            // Below u16::MAX, checked above.
            list: list as u16,
            person_base: self.persons.len(),
            wl: self,
            summary: LoadSummary {
                list: name.to_owned(),
                format,
                persons: 0,
                addresses: 0,
                domains: 0,
                usernames: 0,
                ips: 0,
                duplicates: 0,
                duplicate_rows: Vec::new(),
            },
            first_lines: Vec::new(),
            pending: Vec::new(),
            scratch: String::new(),
        };
        let read = match format {
            ListFormat::Csv => load.csv(reader, usize::try_from(lines).unwrap_or(0)),
            ListFormat::Text => load.text(reader),
        };
        let summary = load.summary;
        if let Err(fail) = read {
            self.rollback(mark);
            return Err(fail);
        }
        if let Some(info) = self.lists.get_mut(list) {
            info.persons += summary.persons;
            info.addresses += summary.addresses;
            info.domains += summary.domains;
            info.usernames += summary.usernames;
            info.ips += summary.ips;
        }
        self.compact_hits();
        Ok(summary)
    }

    /// How long every table is, to take a failed load out again.
    fn mark(&self) -> Mark {
        Mark {
            lists: self.lists.len(),
            persons: self.persons.len(),
            person_text: self.person_text.len(),
            hits: self.hits.len(),
            emails: self.emails.arena_len(),
            domains: self.domains.arena_len(),
            usernames: self.usernames.arena_len(),
        }
    }

    /// Takes out everything added since `mark`. A load only appends (keys, hits, persons), and
    /// links a new hit at the end of an existing chain, whose last hit then pointed nowhere.
    fn rollback(&mut self, mark: Mark) {
        self.lists.truncate(mark.lists);
        self.persons.truncate(mark.persons);
        self.person_text.truncate(mark.person_text);
        self.hits.truncate(mark.hits);
        let added = |at: u32| at != NONE && at as usize >= mark.hits;
        for hit in &mut self.hits {
            if added(hit.next) {
                hit.next = NONE;
            }
        }
        self.emails.truncate(mark.emails);
        self.domains.truncate(mark.domains);
        self.usernames.truncate(mark.usernames);
        // A new IP entry's chain starts with a new hit; an old one's did not.
        for table in &mut self.v4 {
            table.map.retain(|_, head| !added(*head));
        }
        self.v4.retain(|t| !t.map.is_empty());
        for table in &mut self.v6 {
            table.map.retain(|_, head| !added(*head));
        }
        self.v6.retain(|t| !t.map.is_empty());
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
        let mut out: Vec<String> = self.entries(list)?.map(ListEntry::value).collect();
        out.sort_unstable();
        Some(out)
    }

    /// The list's addresses and `@domain` entries (lowercased), borrowed, in no particular
    /// order; `None` if there is no such list. What [`Watchlists::values`] holds, without a
    /// string per entry (a million of them).
    pub fn entries<'a>(&'a self, list: &str) -> Option<impl Iterator<Item = ListEntry<'a>> + 'a> {
        let id = self.lists.iter().position(|l| l.name == list)?;
        let on_list = move |&(_, head): &(&str, u32)| self.chain(head).any(|h| usize::from(h.list) == id);
        let addresses = self
            .emails
            .iter()
            .filter(on_list)
            .map(|(key, _)| ListEntry::Address(key));
        let domains = self
            .domains
            .iter()
            .filter(on_list)
            .map(|(key, _)| ListEntry::Domain(key));
        Some(addresses.chain(domains))
    }

    /// Approximate heap bytes held, from the capacities of the tables (for a memory gauge and
    /// the benchmark; allocator overhead is not counted).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        fn map<K, V, S>(m: &HashMap<K, V, S>) -> usize {
            // One control byte per bucket; buckets are at least the capacity.
            m.capacity() * (size_of::<(K, V)>() + 1)
        }
        self.lists.capacity() * size_of::<ListInfo>()
            + self.lists.iter().map(|l| l.name.capacity()).sum::<usize>()
            + self.persons.capacity() * size_of::<PersonRecord>()
            + self.person_text.capacity()
            + self.hits.capacity() * size_of::<HitNode>()
            + self.emails.heap_bytes()
            + self.domains.heap_bytes()
            + self.usernames.heap_bytes()
            + self.v4.iter().map(|t| map(&t.map)).sum::<usize>()
            + self.v6.iter().map(|t| map(&t.map)).sum::<usize>()
    }

    /// The person at `index` (of a hit), or `None` for [`NONE`].
    fn person(&self, index: u32) -> Option<Person<'_>> {
        let r = self.persons.get(index as usize)?;
        let text = |from: u32, to: u32| self.person_text.get(from as usize..to as usize).unwrap_or_default();
        let email = if r.email & IN_KEYS != 0 {
            self.emails.key_at(r.email & !IN_KEYS)
        } else {
            text(r.email, r.name)
        };
        let (name, group) = (text(r.name, r.group), text(r.group, r.end));
        Some(Person {
            email,
            name: (!name.is_empty()).then_some(name),
            group: (!group.is_empty()).then_some(group),
        })
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

    /// Lays each hit chain out contiguously. Chains grow by appending, so the hits of an entry
    /// shared by many persons (an office's /24) end up scattered over the vector, and walking
    /// the chain would cost a cache miss per hit. Moved in place, with one index (4 bytes) per
    /// hit to spare instead of a second vector of hits (12).
    fn compact_hits(&mut self) {
        let hits = &mut self.hits;
        // Where each hit goes: chains in table order.
        let mut place = vec![NONE; hits.len()];
        let mut taken = 0u32;
        let mut relay = |head: &mut u32| {
            if hits.get(*head as usize).is_none() {
                return;
            }
            let mut at = *head;
            *head = taken;
            while let Some((node, slot)) = hits.get(at as usize).zip(place.get_mut(at as usize)) {
                if *slot != NONE {
                    break; // never: a hit is on one chain
                }
                *slot = taken;
                taken += 1;
                at = node.next;
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
        // A hit on no chain (none is) would keep a place, at the end, for the moves to work.
        for slot in place.iter_mut().filter(|s| **s == NONE) {
            *slot = taken;
            taken += 1;
        }
        // In the new order a chain's next hit is the one after it.
        for (node, &to) in hits.iter_mut().zip(&place) {
            if node.next != NONE {
                node.next = to + 1;
            }
        }
        // Each swap puts one hit where it goes.
        for i in 0..hits.len() {
            while let Some(&to) = place.get(i)
                && to as usize != i
                && (to as usize) < hits.len()
            {
                hits.swap(i, to as usize);
                place.swap(i, to as usize);
            }
        }
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

/// Read buffer of a list file.
const BUFFER: usize = 1 << 16;

/// Why a load stopped, before the file's name is known to say so.
#[derive(Debug)]
enum Fail {
    Line(u64, LineError),
    Io(std::io::Error),
    TooLarge,
}

impl Fail {
    /// The error, naming `origin` (a read error of an in-memory text cannot happen; named too).
    fn at(self, origin: &str) -> WatchlistError {
        match self {
            Fail::Line(line, reason) => WatchlistError::Line {
                origin: origin.to_owned(),
                line,
                reason,
            },
            Fail::Io(error) => WatchlistError::Read {
                path: origin.into(),
                error,
            },
            Fail::TooLarge => WatchlistError::TooLarge {
                origin: origin.to_owned(),
            },
        }
    }
}

/// The lengths of the tables before a load (see [`Watchlists::rollback`]).
struct Mark {
    lists: usize,
    persons: usize,
    person_text: usize,
    hits: usize,
    emails: usize,
    domains: usize,
    usernames: usize,
}

/// What the first pass over a file found.
struct Survey {
    format: ListFormat,
    /// Bytes of the byte order mark (0 or 3).
    bom: u64,
    lines: u64,
}

/// Checks that the file is UTF-8 (else the error names the line of the first bad byte) and
/// finds its format as [`is_csv`] does.
fn survey(mut reader: impl BufRead) -> Result<Survey, Fail> {
    let mut line = Vec::new();
    let mut survey = Survey {
        format: ListFormat::Text,
        bom: 0,
        lines: 0,
    };
    let mut found = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(Fail::Io)? == 0 {
            return Ok(survey);
        }
        survey.lines += 1;
        let mut text = std::str::from_utf8(&line).map_err(|_| Fail::Line(survey.lines, LineError::NotUtf8))?;
        if survey.lines == 1
            && let Some(rest) = text.strip_prefix('\u{feff}')
        {
            survey.bom = 3;
            text = rest;
        }
        if !found && let Some(format) = header_format(text) {
            survey.format = format;
            found = true;
        }
    }
}

/// A list name must be usable in rule placeholders such as `%staff%`.
fn check_name(name: &str) -> Result<(), WatchlistError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(WatchlistError::BadName(name.to_owned()));
    }
    Ok(())
}

/// CSV when the first line that is neither blank nor a comment has a comma (an entry of a
/// plain list never does) or is the lone column `email`. A CSV header without an `email`
/// column is then an error that says so, not a list entry that fails to parse.
fn is_csv(text: &str) -> bool {
    text.lines().find_map(header_format) == Some(ListFormat::Csv)
}

/// The format a line says the file is in, if it is the first one that counts (neither blank
/// nor a comment); see [`is_csv`].
fn header_format(line: &str) -> Option<ListFormat> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let csv = line.contains(',') || line.trim_matches('"').trim().eq_ignore_ascii_case("email");
    Some(if csv { ListFormat::Csv } else { ListFormat::Text })
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

/// The kinds of string keys, each in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Domain,
    Username,
}

/// An IP entry: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpKey {
    V4(u32, u8),
    V6(u128, u8),
}

/// A key of the CSV row being read, checked, not yet added.
#[derive(Debug, Clone)]
enum Pending {
    /// The row's address (lowercased in [`Loader::scratch`] at this range).
    Email(std::ops::Range<usize>),
    Username(std::ops::Range<usize>),
    Ip(IpKey),
}

/// One file being added to the watchlists: rows go straight into the tables.
struct Loader<'w> {
    wl: &'w mut Watchlists,
    list: u16,
    /// Persons from this file are those from here on.
    person_base: usize,
    summary: LoadSummary,
    /// The line of each person of this file (for [`DuplicateRow::first_line`]).
    first_lines: Vec<u64>,
    /// The current CSV row's keys, and their lowercased text; reused from row to row.
    pending: Vec<Pending>,
    scratch: String,
}

impl Loader<'_> {
    fn text(&mut self, mut reader: impl BufRead) -> Result<(), Fail> {
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).map_err(Fail::Io)? == 0 {
                return Ok(());
            }
            n += 1;
            let line = std::str::from_utf8(&buf)
                .map_err(|_| Fail::Line(n, LineError::NotUtf8))?
                .trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: LineError| Fail::Line(n, e);
            let mut key = std::mem::take(&mut self.scratch);
            let added = if let Some(domain) = line.strip_prefix('@') {
                check_domain(domain)
                    .map_err(|why| {
                        at(LineError::InvalidDomain {
                            value: line.to_owned(),
                            why,
                        })
                    })
                    .and_then(|()| self.add_key(Kind::Domain, lowercase(&mut key, domain), NONE).map(drop))
            } else if line.contains('@') {
                check_address(line)
                    .map_err(at)
                    .and_then(|()| self.add_key(Kind::Email, lowercase(&mut key, line), NONE).map(drop))
            } else if line.contains(':') || line.starts_with(|c: char| c.is_ascii_digit()) {
                parse_ip(line).map_err(at).and_then(|ip| self.add_ip(ip, NONE))
            } else {
                Err(at(LineError::InvalidEntry(line.to_owned())))
            };
            self.scratch = key;
            added?;
        }
    }

    /// A CSV file of about `rows` rows (0: unknown).
    fn csv(&mut self, reader: impl Read, rows: usize) -> Result<(), Fail> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .buffer_capacity(BUFFER)
            .from_reader(reader);
        let line_of = |r: &csv::StringRecord| r.position().map_or(0, |p| p.line());
        let csv_err = |e: csv::Error| {
            let line = e.position().map_or(0, |p| p.line());
            let reason = LineError::Csv(e.to_string());
            match e.into_kind() {
                csv::ErrorKind::Io(e) => Fail::Io(e),
                _ => Fail::Line(line, reason),
            }
        };
        // Fields are trimmed here, not by the reader: its trimming builds each record anew.
        let mut record = csv::StringRecord::new();
        if !reader.read_record(&mut record).map_err(csv_err)? {
            return Ok(());
        }
        let header_line = line_of(&record);
        let mut columns = Vec::with_capacity(record.len());
        for name in record.iter().map(str::trim) {
            let column = match name.to_ascii_lowercase().as_str() {
                "email" => Column::Email,
                "name" => Column::Name,
                "group" => Column::Group,
                "usernames" => Column::Usernames,
                "ips" => Column::Ips,
                n if n.starts_with("x-") => Column::Ignored,
                _ => return Err(Fail::Line(header_line, LineError::UnknownColumn(name.to_owned()))),
            };
            if column != Column::Ignored && columns.contains(&column) {
                return Err(Fail::Line(header_line, LineError::DuplicateColumn(name.to_owned())));
            }
            columns.push(column);
        }
        if !columns.contains(&Column::Email) {
            let names: Vec<&str> = record.iter().map(str::trim).collect();
            return Err(Fail::Line(header_line, LineError::NoEmailColumn(names.join(", "))));
        }
        // An address per row, and usually a user name: room for them all at once, instead of
        // rebuilding the tables at every doubling on the way to a million.
        self.wl.emails.reserve(rows);
        if columns.contains(&Column::Usernames) {
            self.wl.usernames.reserve(rows);
        }
        self.wl.persons.reserve(rows);
        while reader.read_record(&mut record).map_err(csv_err)? {
            let line = line_of(&record);
            if record.len() != columns.len() {
                return Err(Fail::Line(
                    line,
                    LineError::WrongColumnCount {
                        expected: columns.len(),
                        found: record.len(),
                    },
                ));
            }
            self.row(&columns, &record, line)?;
        }
        Ok(())
    }

    /// One CSV row: checked whole, in column order (the first bad field is the error), then
    /// added in that order.
    fn row(&mut self, columns: &[Column], record: &csv::StringRecord, line: u64) -> Result<(), Fail> {
        let at = |e: LineError| Fail::Line(line, e);
        self.pending.clear();
        self.scratch.clear();
        let (mut email, mut name, mut group) = ("", "", "");
        for (column, field) in columns.iter().zip(record).map(|(c, f)| (c, f.trim())) {
            match column {
                Column::Email if field.is_empty() => return Err(at(LineError::MissingEmail)),
                Column::Email => {
                    check_address(field).map_err(at)?;
                    email = field;
                    self.pending
                        .push(Pending::Email(append_lowercase(&mut self.scratch, field)));
                }
                Column::Name => name = field,
                Column::Group => group = field,
                Column::Usernames => {
                    for user in list_items(field) {
                        let user = check_username(user).map_err(at)?;
                        self.pending
                            .push(Pending::Username(append_lowercase(&mut self.scratch, user)));
                    }
                }
                Column::Ips => {
                    for ip in list_items(field) {
                        self.pending.push(Pending::Ip(parse_ip(ip).map_err(at)?));
                    }
                }
                Column::Ignored => {}
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let scratch = std::mem::take(&mut self.scratch);
        let added = self.add_row(&pending, &scratch, line, (email, name, group));
        self.pending = pending;
        self.scratch = scratch;
        added
    }

    /// Adds a checked row: its person (unless an earlier row of the file has the address: then
    /// the row's keys join that row's person) and its keys.
    fn add_row(
        &mut self,
        pending: &[Pending],
        scratch: &str,
        line: u64,
        person: (&str, &str, &str),
    ) -> Result<(), Fail> {
        let (email, name, group) = person;
        let key = |r: &std::ops::Range<usize>| scratch.get(r.clone()).unwrap_or_default();
        let address = pending
            .iter()
            .find_map(|p| match p {
                Pending::Email(r) => Some(key(r)),
                _ => None,
            })
            .unwrap_or_default();
        let wl = &*self.wl;
        let earlier = wl
            .chain(wl.emails.get(address))
            .find(|h| {
                usize::from(h.list) == usize::from(self.list)
                    && h.person != NONE
                    && h.person as usize >= self.person_base
            })
            .map(|h| h.person);
        let person = match earlier {
            Some(first) => {
                let first_line = self
                    .first_lines
                    .get(first as usize - self.person_base)
                    .copied()
                    .unwrap_or(0);
                self.summary.duplicate_rows.push(DuplicateRow {
                    line,
                    first_line,
                    email: email.to_owned(),
                });
                first
            }
            None => {
                self.first_lines.push(line);
                u32::try_from(self.wl.persons.len())
                    .ok()
                    .filter(|&p| p < NONE)
                    .ok_or(Fail::TooLarge)?
            }
        };
        let mut address_at = NONE;
        for p in pending {
            match p {
                Pending::Email(r) => address_at = self.add_key(Kind::Email, key(r), person)?,
                Pending::Username(r) => {
                    self.add_key(Kind::Username, key(r), person)?;
                }
                Pending::Ip(ip) => self.add_ip(*ip, person)?,
            }
        }
        if earlier.is_none() {
            let text = &mut self.wl.person_text;
            if text.len() + email.len() + name.len() + group.len() >= IN_KEYS as usize {
                return Err(Fail::TooLarge);
            }
            // Offsets below IN_KEYS (2^31), checked above and in add_key.
            let email_at = if email == address {
                address_at | IN_KEYS
            } else {
                text.push_str(email);
                (text.len() - email.len()) as u32
            };
            let name_at = text.len() as u32;
            text.push_str(name);
            let group_at = text.len() as u32;
            text.push_str(group);
            self.wl.persons.push(PersonRecord {
                email: email_at,
                name: name_at,
                group: group_at,
                end: text.len() as u32,
            });
            self.summary.persons += 1;
        }
        Ok(())
    }

    /// Adds `key` (lowercased) with this list and `person` (or [`NONE`]) and counts it; returns
    /// where the key starts in its table's arena.
    fn add_key(&mut self, kind: Kind, key: &str, person: u32) -> Result<u32, Fail> {
        let wl = &mut *self.wl;
        let (table, count) = match kind {
            Kind::Email => (&mut wl.emails, &mut self.summary.addresses),
            Kind::Domain => (&mut wl.domains, &mut self.summary.domains),
            Kind::Username => (&mut wl.usernames, &mut self.summary.usernames),
        };
        // Arena offsets stay below IN_KEYS (a person's address may point into it), hit indexes
        // below NONE.
        if table.arena_len() + key.len() + 1 >= IN_KEYS as usize || wl.hits.len() >= NONE as usize - 1 {
            return Err(Fail::TooLarge);
        }
        let (start, head) = table.insert(key).ok_or(Fail::TooLarge)?;
        let hit = HitNode {
            list: self.list,
            person,
            next: NONE,
        };
        if push_hit(&mut wl.hits, head, hit) {
            *count += 1;
        } else {
            self.summary.duplicates += 1;
        }
        Ok(start)
    }

    fn add_ip(&mut self, ip: IpKey, person: u32) -> Result<(), Fail> {
        let wl = &mut *self.wl;
        if wl.hits.len() >= NONE as usize - 1 {
            return Err(Fail::TooLarge);
        }
        let head = match ip {
            IpKey::V4(addr, prefix) => PrefixTable::head_mut(&mut wl.v4, addr, prefix),
            IpKey::V6(addr, prefix) => PrefixTable::head_mut(&mut wl.v6, addr, prefix),
        };
        let hit = HitNode {
            list: self.list,
            person,
            next: NONE,
        };
        if head.is_some_and(|head| push_hit(&mut wl.hits, head, hit)) {
            self.summary.ips += 1;
        } else {
            self.summary.duplicates += 1;
        }
        Ok(())
    }
}

/// `s` lowercased in `buf` (cleared first).
fn lowercase<'b>(buf: &'b mut String, s: &str) -> &'b str {
    buf.clear();
    buf.push_str(s);
    buf.make_ascii_lowercase();
    buf
}

/// Appends `s` lowercased to `buf`; returns where it is.
fn append_lowercase(buf: &mut String, s: &str) -> std::ops::Range<usize> {
    let start = buf.len();
    buf.push_str(s);
    if let Some(added) = buf.get_mut(start..) {
        added.make_ascii_lowercase();
    }
    start..buf.len()
}

/// The non-empty items of a `;`-separated field.
fn list_items(field: &str) -> impl Iterator<Item = &str> {
    field.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// Checks an address. Quoted local parts and comments are not supported: list files hold
/// plain `user@domain`.
fn check_address(s: &str) -> Result<(), LineError> {
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
    let special = |b: u8| {
        matches!(
            b,
            b'"' | b'(' | b')' | b',' | b':' | b';' | b'<' | b'>' | b'[' | b'\\' | b']'
        )
    };
    // The usual all-ASCII local part is checked by byte (a non-graphic ASCII byte is a space or
    // a control character); others by character, for Unicode spaces and controls.
    let plain = local.bytes().all(|b| b.is_ascii_graphic() && !special(b));
    if !plain
        && local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || u8::try_from(c).is_ok_and(special))
    {
        return Err(bad(
            "space, control character or one of \"(),:;<>[\\] in the local part",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("misplaced '.' in the local part"));
    }
    check_domain(domain).map_err(bad)
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
        // By byte: every byte of a non-ASCII character is non-ASCII.
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || !b.is_ascii())
        {
            return Err("domain may hold only letters, digits, '-', '_' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("domain label starts or ends with '-'");
        }
    }
    Ok(())
}

/// Normalizes and checks a user name.
fn check_username(s: &str) -> Result<&str, LineError> {
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
    Ok(user)
}

/// Parses an IP address (a full-length prefix) or a CIDR range, whose host bits must be zero
/// (`10.0.0.1/8` is likely a typo for a host or a range; which is unknowable). IPv4-mapped IPv6
/// entries are stored as IPv4, as lookups see them.
fn parse_ip(s: &str) -> Result<IpKey, LineError> {
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
            Some(v4) if prefix >= 96 => IpKey::V4(u32::from(v4), prefix - 96),
            _ => IpKey::V6(u128::from(v6), prefix),
        },
        IpAddr::V4(v4) => IpKey::V4(u32::from(v4), prefix),
    };
    let host_bits = match key {
        IpKey::V4(a, p) => a & !mask_v4(p) != 0,
        IpKey::V6(a, p) => a & !mask_v6(p) != 0,
    };
    if host_bits {
        return Err(bad("host bits set after the prefix"));
    }
    Ok(key)
}
