//! Indicator-of-compromise (intel) sets: load Zeek Intel framework files and plain lists of
//! domains, URLs, e-mail addresses, IP addresses and subnets, then answer "which indicators
//! match this observed value" on the per-event hot path.
//!
//! # Inputs
//! - **Zeek Intel files** (`#fields` header naming tab-separated columns, in any order; `-` and
//!   `(empty)` are unset; other `#` lines are comments; blank lines are skipped). Required
//!   columns: `indicator`, `indicator_type`, `meta.source`; `meta.desc` and `meta.url` are kept;
//!   every other column (`meta.do_notice`, `meta.cif_*`, ...) is ignored. A second `#fields`
//!   line replaces the first (concatenated files). Supported types: `Intel::DOMAIN`,
//!   `Intel::URL`, `Intel::EMAIL`, `Intel::ADDR`, `Intel::SUBNET`. Any other `Intel::*` type
//!   (`FILE_HASH`, `SOFTWARE`, `USER_NAME`, `CERT_HASH`, types added by Zeek packages ...) is
//!   counted in [`FileStats::unsupported`], not an error.
//! - **Plain lists**: one indicator per line, `#` comment lines, a trailing ` # comment` after
//!   whitespace allowed. The type is given by the caller or inferred: `addr/len` → subnet, an IP
//!   → address, a `/`, `?` or `://` → URL, an `@` → e-mail, else a domain.
//!
//! **A malformed line stops the load of its file** with an [`IntelError`] naming `file:line`
//! and the reason: half-loaded intel would give a false sense of coverage. A file is parsed
//! completely before any of it is added, so a failed file leaves the builder as it was.
//! The same indicator from several sources keeps every source; the same indicator twice from
//! the same source keeps the last description and URL (as Zeek's `Intel::insert` does).
//!
//! # Matching (all ASCII case-insensitive, like Zeek, which lowercases every indicator)
//! - **Domain**: exact, and by default also parent domains: the indicator `evil.example`
//!   matches `a.b.evil.example` ([`DomainMatch::Parents`]). Zeek itself matches exact names
//!   only; [`DomainMatch::Exact`] gives that. One trailing dot is ignored on both sides.
//!   Wildcards (`*.x`, `.x`) are rejected at load: parent matching covers them.
//! - **URL**: Zeek style, without scheme: both the indicator and the observed URL are reduced
//!   to `host[:port]/path[?query]`: scheme (`http://`, `https://`, any `x://` or `//`) and
//!   userinfo (`user@`) dropped, the fragment dropped, a trailing dot of the host dropped, the
//!   port dropped when it is the scheme's default (`:80` for http or no scheme, `:443` for
//!   https), an empty path made `/`. Then the whole string must be equal, ignoring ASCII case
//!   (Zeek lowercases whole URLs, path included). No percent-decoding, no `.`/`..` resolution,
//!   `/a` and `/a/` differ.
//! - **E-mail**: the exact address, ignoring ASCII case.
//! - **IP**: exact `Intel::ADDR` and containment in every `Intel::SUBNET`, IPv4 and IPv6. IPv4
//!   is held as IPv4-mapped IPv6 (as Zeek does), so `::ffff:1.2.3.4` and `1.2.3.4` are one
//!   address. A subnet written with host bits set (`10.1.2.3/8`) is masked (`10.0.0.0/8`).
//!
//! # Must never
//! Panic on any input, allocate per lookup for inputs up to [`KEY_STACK`] bytes (lookups append
//! to a caller-owned `Vec` that is reused), or format strings on the hot path.
//!
//! # Design
//! Indicator texts live in one arena `String`; sources, descriptions and reference URLs are
//! interned (a feed repeats them on every line). String indicators are found through a map from
//! a 64-bit hash of the normalised, lowercased key to the head of a collision chain, verified by
//! comparing bytes; the observed value is lowercased into a stack buffer. Subnets are a map from
//! (masked address, prefix length) for each prefix length present, probed longest first.
//! The tables are built from trusted intel files, so attacker-chosen lookups cannot lengthen
//! the collision chains.

use super::hash::{Mix, caseless_hash};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::event::{EcsEmail, EcsUrl, Enrichment, EnrichmentIndicator, EnrichmentMatched};

#[cfg(test)]
mod tests;

/// Observed values up to this many bytes are normalised on the stack; longer ones allocate.
pub const KEY_STACK: usize = 512;

/// "No entry" in the u32 links between entries, metadata and pooled strings.
const NONE: u32 = u32::MAX;

/// The kinds of indicator this module matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorType {
    /// A DNS name (`Intel::DOMAIN`).
    Domain,
    /// A URL without scheme (`Intel::URL`).
    Url,
    /// An e-mail address (`Intel::EMAIL`).
    Email,
    /// An IPv4 or IPv6 address (`Intel::ADDR`).
    Addr,
    /// A CIDR subnet (`Intel::SUBNET`).
    Subnet,
}

impl IndicatorType {
    /// Every supported type.
    pub const ALL: [IndicatorType; 5] = [
        IndicatorType::Domain,
        IndicatorType::Url,
        IndicatorType::Email,
        IndicatorType::Addr,
        IndicatorType::Subnet,
    ];

    /// The short name (`domain`, `url`, `email`, `addr`, `subnet`), as in configuration files
    /// and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            IndicatorType::Domain => "domain",
            IndicatorType::Url => "url",
            IndicatorType::Email => "email",
            IndicatorType::Addr => "addr",
            IndicatorType::Subnet => "subnet",
        }
    }

    /// The Zeek enum name, such as `Intel::DOMAIN`.
    pub const fn zeek_name(self) -> &'static str {
        match self {
            IndicatorType::Domain => "Intel::DOMAIN",
            IndicatorType::Url => "Intel::URL",
            IndicatorType::Email => "Intel::EMAIL",
            IndicatorType::Addr => "Intel::ADDR",
            IndicatorType::Subnet => "Intel::SUBNET",
        }
    }

    /// The type for a Zeek enum name (`Intel::DOMAIN` ...), if supported.
    pub fn from_zeek(name: &str) -> Option<IndicatorType> {
        Self::ALL.into_iter().find(|t| t.zeek_name() == name)
    }

    /// The type for a short name a caller or config may use: `domain`, `url`, `email`,
    /// `addr` (or `ip`), `subnet` (or `cidr`), ASCII case ignored.
    pub fn from_name(name: &str) -> Option<IndicatorType> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "domain" => IndicatorType::Domain,
            "url" => IndicatorType::Url,
            "email" => IndicatorType::Email,
            "addr" | "ip" => IndicatorType::Addr,
            "subnet" | "cidr" => IndicatorType::Subnet,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Domain matching semantics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DomainMatch {
    /// The observed name equals the indicator (Zeek's behaviour).
    Exact,
    /// The observed name equals the indicator or is one of its subdomains.
    #[default]
    Parents,
}

/// How an indicator matched the observed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The normalised values are equal.
    Exact,
    /// The observed domain is a subdomain of the indicator.
    ParentDomain,
    /// The observed address lies in the indicator subnet.
    Subnet,
}

/// A load failed. Every variant names the file; line errors name the line (1-based).
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A line is malformed; the whole file is rejected.
    #[error("{file}:{line}: {reason}")]
    Line { file: String, line: usize, reason: String },
}

/// What loading one file produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    /// The file's name as given to the loader.
    pub file: String,
    /// `zeek` or `plain`.
    pub format: &'static str,
    /// Lines read, comments and blanks included.
    pub lines: usize,
    /// Indicator rows accepted, by type (index: [`IndicatorType`] order).
    pub loaded: [usize; 5],
    /// Rows whose indicator and source were already loaded (their desc/url replaced the old).
    pub duplicates: usize,
    /// Rows of unsupported Zeek types, by type name (`Intel::FILE_HASH` → count).
    pub unsupported: BTreeMap<String, usize>,
}

impl FileStats {
    /// Rows accepted of one type.
    pub fn loaded_of(&self, t: IndicatorType) -> usize {
        self.loaded[t.index()]
    }
}

/// One source's metadata about an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'s> {
    /// `meta.source` (for plain lists: the source name the caller gave).
    pub source: &'s str,
    /// `meta.desc`.
    pub desc: Option<&'s str>,
    /// `meta.url`: where to read more.
    pub url: Option<&'s str>,
}

/// An indicator that matched an observed value. Borrowed from the [`IntelSet`].
#[derive(Debug, Clone, Copy)]
pub struct Match<'s> {
    set: &'s IntelSet,
    id: u32,
    /// How it matched.
    pub how: MatchKind,
}

impl PartialEq for Match<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.set, other.set) && self.id == other.id && self.how == other.how
    }
}

impl<'s> Match<'s> {
    fn entry(&self) -> &'s Entry {
        // Ids handed out by the set always index its entries.
        &self.set.entries[self.id as usize]
    }

    /// The indicator as stored: normalised and lowercased (`evil.example`,
    /// `evil.example/login?x=1`, `10.0.0.0/8`).
    pub fn indicator(&self) -> &'s str {
        self.set.text(self.entry())
    }

    /// Its type.
    pub fn indicator_type(&self) -> IndicatorType {
        self.entry().kind
    }

    /// Every source's metadata, in load order.
    pub fn sources(&self) -> impl Iterator<Item = Meta<'s>> + use<'s> {
        let set = self.set;
        let mut next = self.entry().first_meta;
        std::iter::from_fn(move || {
            let m = set.metas.get(next as usize)?;
            next = m.next;
            Some(Meta {
                source: set.pooled(m.source).unwrap_or(""),
                desc: set.pooled(m.desc),
                url: set.pooled(m.url),
            })
        })
    }

    /// The ECS `threat.indicator.type` of this indicator.
    pub fn ecs_type(&self) -> &'static str {
        match self.indicator_type() {
            IndicatorType::Domain => "domain-name",
            IndicatorType::Url => "url",
            IndicatorType::Email => "email-addr",
            IndicatorType::Addr | IndicatorType::Subnet => {
                if self.indicator().contains(':') {
                    "ipv6-addr"
                } else {
                    "ipv4-addr"
                }
            }
        }
    }

    /// One ECS `threat.enrichments` object per source of this indicator. `field` is the event
    /// field that was looked up (`url.original`, `destination.ip` ...) and `atomic` its value.
    pub fn enrichments<'a>(&self, field: &'a str, atomic: &'a str) -> impl Iterator<Item = Enrichment> + use<'s, 'a> {
        let this = *self;
        self.sources().map(move |m| this.enrichment(m, field, atomic))
    }

    fn enrichment(&self, m: Meta<'_>, field: &str, atomic: &str) -> Enrichment {
        let name = self.indicator();
        let t = self.indicator_type();
        Enrichment {
            indicator: EnrichmentIndicator {
                kind: self.ecs_type(),
                provider: m.source.to_owned(),
                description: m.desc.map(str::to_owned),
                reference: m.url.map(str::to_owned),
                name: name.to_owned(),
                ip: (t == IndicatorType::Addr).then(|| name.parse().ok()).flatten(),
                email: (t == IndicatorType::Email).then(|| EcsEmail {
                    address: name.to_owned(),
                }),
                url: match t {
                    IndicatorType::Url => Some(EcsUrl {
                        original: Some(name.to_owned()),
                        domain: None,
                    }),
                    IndicatorType::Domain => Some(EcsUrl {
                        original: None,
                        domain: Some(name.to_owned()),
                    }),
                    _ => None,
                },
            },
            matched: EnrichmentMatched {
                atomic: atomic.to_owned(),
                field: field.to_owned(),
                kind: "indicator_match_rule",
            },
        }
    }
}

/// An observed value to look up, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed<'a> {
    /// A DNS name.
    Domain(&'a str),
    /// A URL, with or without scheme.
    Url(&'a str),
    /// An e-mail address.
    Email(&'a str),
    /// An IP address (checked against addresses and subnets).
    Ip(IpAddr),
}

// ---------------------------------------------------------------------------------------------
// Storage

#[derive(Debug, Clone)]
struct Entry {
    start: u32,
    len: u32,
    kind: IndicatorType,
    first_meta: u32,
    /// The next entry with the same key hash (string tables only).
    next: u32,
}

#[derive(Debug, Clone)]
struct MetaRec {
    source: u32,
    desc: u32,
    url: u32,
    next: u32,
}

/// A table of one string indicator type: key hash → head of the entry chain.
#[derive(Debug, Default, Clone)]
struct StrTable {
    heads: HashMap<u64, u32, Mix>,
    /// The longest key, so longer observed values are rejected without hashing.
    max_len: usize,
}

/// Lowercases an observed value into a stack buffer, spilling to the heap only when longer
/// than [`KEY_STACK`].
struct KeyBuf {
    stack: [u8; KEY_STACK],
    len: usize,
    heap: Vec<u8>,
}

impl KeyBuf {
    fn new() -> Self {
        KeyBuf {
            stack: [0; KEY_STACK],
            len: 0,
            heap: Vec::new(),
        }
    }

    fn push_lower(&mut self, s: &[u8]) {
        if self.heap.is_empty() && self.len + s.len() <= KEY_STACK {
            let dst = &mut self.stack[self.len..self.len + s.len()];
            for (d, c) in dst.iter_mut().zip(s) {
                *d = c.to_ascii_lowercase();
            }
            self.len += s.len();
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.stack[..self.len]);
            }
            self.heap.extend(s.iter().map(u8::to_ascii_lowercase));
        }
    }

    fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.stack[..self.len]
        } else {
            &self.heap
        }
    }
}

/// A loaded, immutable set of indicators. Build it with [`IntelSetBuilder`].
#[derive(Debug, Clone, Default)]
pub struct IntelSet {
    arena: String,
    entries: Vec<Entry>,
    metas: Vec<MetaRec>,
    pool: Vec<Box<str>>,
    domains: StrTable,
    urls: StrTable,
    emails: StrTable,
    /// IPv4 as IPv4-mapped IPv6.
    addrs: HashMap<u128, u32, Mix>,
    /// (masked address, prefix length in the 128-bit space) → entry.
    subnets: HashMap<(u128, u8), u32, Mix>,
    /// The prefix lengths present in `subnets`, longest first.
    subnet_lens: Vec<u8>,
    domain_match: DomainMatch,
    counts: [usize; 5],
    files: Vec<FileStats>,
}

impl IntelSet {
    fn text(&self, e: &Entry) -> &str {
        let (s, l) = (e.start as usize, e.len as usize);
        self.arena.get(s..s + l).unwrap_or("")
    }

    fn pooled(&self, id: u32) -> Option<&str> {
        self.pool.get(id as usize).map(|s| &**s)
    }

    /// Distinct indicators loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No indicator is loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Distinct indicators of one type.
    pub fn count(&self, t: IndicatorType) -> usize {
        self.counts[t.index()]
    }

    /// What each loaded file produced, in load order.
    pub fn files(&self) -> &[FileStats] {
        &self.files
    }

    /// The domain semantics in force.
    pub fn domain_match(&self) -> DomainMatch {
        self.domain_match
    }

    /// Approximate heap bytes held (from capacities; hash tables counted at 1 control byte
    /// plus the slot per bucket).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let table = |cap: usize, slot: usize| cap * (slot + 1);
        self.arena.capacity()
            + self.entries.capacity() * size_of::<Entry>()
            + self.metas.capacity() * size_of::<MetaRec>()
            + self.pool.capacity() * size_of::<Box<str>>()
            + self.pool.iter().map(|s| s.len()).sum::<usize>()
            + [&self.domains, &self.urls, &self.emails]
                .iter()
                .map(|t| table(t.heads.capacity(), size_of::<(u64, u32)>()))
                .sum::<usize>()
            + table(self.addrs.capacity(), size_of::<(u128, u32)>())
            + table(self.subnets.capacity(), size_of::<((u128, u8), u32)>())
    }

    fn table(&self, t: IndicatorType) -> Option<&StrTable> {
        match t {
            IndicatorType::Domain => Some(&self.domains),
            IndicatorType::Url => Some(&self.urls),
            IndicatorType::Email => Some(&self.emails),
            IndicatorType::Addr | IndicatorType::Subnet => None,
        }
    }

    fn find_str(&self, table: &StrTable, key: &[u8]) -> Option<u32> {
        if key.len() > table.max_len {
            return None;
        }
        let mut id = *table.heads.get(&caseless_hash(key))?;
        while let Some(e) = self.entries.get(id as usize) {
            if self.text(e).as_bytes() == key {
                return Some(id);
            }
            id = e.next;
        }
        None
    }

    /// Appends every indicator matching `observed` to `out`; returns how many were appended.
    pub fn lookup<'s>(&'s self, observed: Observed<'_>, out: &mut Vec<Match<'s>>) -> usize {
        match observed {
            Observed::Domain(d) => self.lookup_domain(d, out),
            Observed::Url(u) => self.lookup_url(u, out),
            Observed::Email(e) => self.lookup_email(e, out),
            Observed::Ip(ip) => self.lookup_ip(ip, out),
        }
    }

    /// Domain indicators equal to `domain` or, with [`DomainMatch::Parents`], to one of its
    /// parent domains (most specific first). ASCII case and one trailing dot are ignored.
    pub fn lookup_domain<'s>(&'s self, domain: &str, out: &mut Vec<Match<'s>>) -> usize {
        if self.domains.heads.is_empty() {
            return 0;
        }
        let d = domain.trim();
        let d = d.strip_suffix('.').unwrap_or(d);
        let mut buf = KeyBuf::new();
        buf.push_lower(d.as_bytes());
        let key = buf.as_bytes();
        let before = out.len();
        let mut start = 0;
        loop {
            let suffix = &key[start..];
            if let Some(id) = self.find_str(&self.domains, suffix) {
                let how = if start == 0 {
                    MatchKind::Exact
                } else {
                    MatchKind::ParentDomain
                };
                out.push(Match { set: self, id, how });
            }
            if self.domain_match == DomainMatch::Exact {
                break;
            }
            match suffix.iter().position(|&b| b == b'.') {
                Some(i) => start += i + 1,
                None => break,
            }
        }
        out.len() - before
    }

    /// URL indicators equal to `url` after the normalisation described in the module doc.
    pub fn lookup_url<'s>(&'s self, url: &str, out: &mut Vec<Match<'s>>) -> usize {
        if self.urls.heads.is_empty() {
            return 0;
        }
        let Some(parts) = split_url(url) else {
            return 0;
        };
        let mut buf = KeyBuf::new();
        parts.write(&mut buf);
        self.push_found(IndicatorType::Url, buf.as_bytes(), out)
    }

    /// E-mail indicators equal to `address`, ignoring ASCII case and surrounding whitespace.
    pub fn lookup_email<'s>(&'s self, address: &str, out: &mut Vec<Match<'s>>) -> usize {
        if self.emails.heads.is_empty() {
            return 0;
        }
        let mut buf = KeyBuf::new();
        buf.push_lower(address.trim().as_bytes());
        self.push_found(IndicatorType::Email, buf.as_bytes(), out)
    }

    fn push_found<'s>(&'s self, t: IndicatorType, key: &[u8], out: &mut Vec<Match<'s>>) -> usize {
        let found = self.table(t).and_then(|table| self.find_str(table, key)).map(|id| {
            out.push(Match {
                set: self,
                id,
                how: MatchKind::Exact,
            })
        });
        usize::from(found.is_some())
    }

    /// The address indicator equal to `ip`, then every subnet containing it, longest prefix
    /// first.
    pub fn lookup_ip<'s>(&'s self, ip: IpAddr, out: &mut Vec<Match<'s>>) -> usize {
        let before = out.len();
        let a = ip_key(ip);
        if let Some(&id) = self.addrs.get(&a) {
            out.push(Match {
                set: self,
                id,
                how: MatchKind::Exact,
            });
        }
        for &len in &self.subnet_lens {
            if let Some(&id) = self.subnets.get(&(mask(a, len), len)) {
                out.push(Match {
                    set: self,
                    id,
                    how: MatchKind::Subnet,
                });
            }
        }
        out.len() - before
    }
}

fn ip_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(a: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        1..=127 => a & (!0u128 << (128 - u32::from(len))),
        _ => a,
    }
}

/// Whether a 128-bit key (with its prefix length) is IPv4-mapped.
fn is_v4(a: u128, len: u8) -> bool {
    len >= 96 && (a >> 32) == 0xffff
}

// ---------------------------------------------------------------------------------------------
// URL normalisation (shared by loading and lookups)

struct UrlParts<'a> {
    host: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

impl UrlParts<'_> {
    fn write(&self, buf: &mut KeyBuf) {
        buf.push_lower(self.host.as_bytes());
        if let Some(p) = self.port {
            buf.push_lower(b":");
            buf.push_lower(p.as_bytes());
        }
        if !self.rest.starts_with('/') {
            buf.push_lower(b"/");
        }
        buf.push_lower(self.rest.as_bytes());
    }
}

/// Splits a URL (with or without scheme) into host, non-default port and path+query.
/// `None` when there is no host.
fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let s = url.trim();
    let (scheme, after) = match s.find("://") {
        Some(i)
            if i > 0
                && s.as_bytes()[0].is_ascii_alphabetic()
                && s[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            (Some(&s[..i]), &s[i + 3..])
        }
        _ => (None, s.strip_prefix("//").unwrap_or(s)),
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let rest = &rest[..rest.find('#').unwrap_or(rest.len())];
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(i) => (&hostport[..=i], hostport[i + 1..].strip_prefix(':')),
            None => (hostport, None),
        }
    } else {
        match hostport.rfind(':') {
            Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
            None => (hostport, None),
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    let is = |name: &str| scheme.is_some_and(|s| s.eq_ignore_ascii_case(name));
    let port = port.filter(|p| {
        !(p.is_empty() || (*p == "80" && (scheme.is_none() || is("http"))) || (*p == "443" && is("https")))
    });
    Some(UrlParts { host, port, rest })
}

// ---------------------------------------------------------------------------------------------
// Loading

/// Which intel files to load: plain serde data; [`IntelConfig::build`] loads them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelConfig {
    /// Domain indicators also match subdomains (default `true`; `false` is Zeek's exact match).
    #[serde(default = "yes")]
    pub parent_domains: bool,
    /// Zeek Intel framework files.
    #[serde(default)]
    pub zeek: Vec<PathBuf>,
    /// Plain lists.
    #[serde(default)]
    pub lists: Vec<ListConfig>,
}

fn yes() -> bool {
    true
}

/// One plain list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    /// The file.
    pub path: PathBuf,
    /// The provider reported for its indicators (default: the file name without extension).
    #[serde(default)]
    pub source: Option<String>,
    /// The type of every line (`domain`, `url`, `email`, `addr`, `subnet`); default: inferred.
    #[serde(default, rename = "type")]
    pub kind: Option<IndicatorType>,
}

impl IntelConfig {
    /// Loads every file, Zeek files first, each in the order listed; the first bad file or
    /// line stops the load.
    pub fn build(&self) -> Result<IntelSet, IntelError> {
        Ok(self.builder()?.build())
    }

    /// A builder holding every file of the configuration, to add more to before building.
    pub fn builder(&self) -> Result<IntelSetBuilder, IntelError> {
        let mut b = IntelSetBuilder::new(if self.parent_domains {
            DomainMatch::Parents
        } else {
            DomainMatch::Exact
        });
        for path in &self.zeek {
            b.add_zeek_file(path)?;
        }
        for list in &self.lists {
            let stem = list.path.file_stem().map(|s| s.to_string_lossy());
            let source = list.source.as_deref().or(stem.as_deref()).unwrap_or("list");
            b.add_plain_file(&list.path, source, list.kind)?;
        }
        Ok(b)
    }
}

/// One parsed row waiting to be added.
struct Row<'t> {
    kind: IndicatorType,
    value: String,
    source: &'t str,
    desc: Option<&'t str>,
    url: Option<&'t str>,
}

/// Builds an [`IntelSet`] from any number of files and sources.
#[derive(Debug, Default)]
pub struct IntelSetBuilder {
    set: IntelSet,
    pool_index: HashMap<Box<str>, u32>,
}

impl IntelSetBuilder {
    /// An empty builder with the given domain semantics.
    pub fn new(domain_match: DomainMatch) -> Self {
        IntelSetBuilder {
            set: IntelSet {
                domain_match,
                ..IntelSet::default()
            },
            pool_index: HashMap::new(),
        }
    }

    /// Reads a Zeek Intel file from disk.
    pub fn add_zeek_file(&mut self, path: &Path) -> Result<FileStats, IntelError> {
        let name = path.display().to_string();
        let bytes = read(path, &name)?;
        self.add_zeek(&name, &bytes)
    }

    /// Reads a plain list from disk; `source` names its provider, `kind` fixes the type
    /// (`None`: inferred per line).
    pub fn add_plain_file(
        &mut self,
        path: &Path,
        source: &str,
        kind: Option<IndicatorType>,
    ) -> Result<FileStats, IntelError> {
        let name = path.display().to_string();
        let bytes = read(path, &name)?;
        self.add_plain(&name, &bytes, source, kind)
    }

    /// Adds a Zeek Intel file's text; `file` names it in errors and stats.
    pub fn add_zeek(&mut self, file: &str, text: &[u8]) -> Result<FileStats, IntelError> {
        let mut stats = FileStats {
            file: file.to_owned(),
            format: "zeek",
            ..FileStats::default()
        };
        let mut rows = Vec::new();
        let mut header: Option<Columns> = None;
        for (n, line) in lines(text) {
            stats.lines = n;
            let err = |reason: String| IntelError::Line {
                file: file.to_owned(),
                line: n,
                reason,
            };
            let line = line.map_err(err)?;
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("#fields") {
                header = Some(Columns::parse(rest).map_err(err)?);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let Some(cols) = &header else {
                return Err(err("data line before the `#fields` header".into()));
            };
            if let Some(row) = cols.row(line, &mut stats).map_err(err)? {
                rows.push(row);
            }
        }
        Ok(self.commit(stats, rows))
    }

    /// Adds a plain list's text: one indicator per line; `source` names its provider; `kind`
    /// fixes the type (`None`: inferred per line).
    pub fn add_plain(
        &mut self,
        file: &str,
        text: &[u8],
        source: &str,
        kind: Option<IndicatorType>,
    ) -> Result<FileStats, IntelError> {
        let mut stats = FileStats {
            file: file.to_owned(),
            format: "plain",
            ..FileStats::default()
        };
        let mut rows = Vec::new();
        for (n, line) in lines(text) {
            stats.lines = n;
            let err = |reason: String| IntelError::Line {
                file: file.to_owned(),
                line: n,
                reason,
            };
            let line = line.map_err(err)?.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (value, tail) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(v, t)| (v, t.trim_start()));
            if !tail.is_empty() && !tail.starts_with('#') {
                return Err(err(format!(
                    "unexpected text `{tail}` after the indicator (one indicator per line; \
                     comments start with `#`)"
                )));
            }
            let kind = match kind {
                Some(k) => k,
                None => infer(value).map_err(err)?,
            };
            let value = normalise(kind, value).map_err(err)?;
            rows.push(Row {
                kind,
                value,
                source,
                desc: None,
                url: None,
            });
        }
        Ok(self.commit(stats, rows))
    }

    /// The finished set.
    pub fn build(self) -> IntelSet {
        self.set
    }

    fn commit(&mut self, mut stats: FileStats, rows: Vec<Row<'_>>) -> FileStats {
        for row in rows {
            stats.loaded[row.kind.index()] += 1;
            let id = self.entry(row.kind, &row.value);
            let source = self.intern(Some(row.source));
            let desc = self.intern(row.desc);
            let url = self.intern(row.url);
            let set = &mut self.set;
            let Some(e) = set.entries.get(id as usize) else {
                continue;
            };
            let mut m = e.first_meta;
            let mut last = NONE;
            let mut dup = false;
            while let Some(rec) = set.metas.get_mut(m as usize) {
                if rec.source == source {
                    rec.desc = desc;
                    rec.url = url;
                    dup = true;
                    break;
                }
                last = m;
                m = rec.next;
            }
            if dup {
                stats.duplicates += 1;
                continue;
            }
            let new = set.metas.len() as u32;
            set.metas.push(MetaRec {
                source,
                desc,
                url,
                next: NONE,
            });
            match set.metas.get_mut(last as usize) {
                Some(prev) => prev.next = new,
                None => {
                    if let Some(e) = set.entries.get_mut(id as usize) {
                        e.first_meta = new;
                    }
                }
            }
        }
        self.set.files.push(stats.clone());
        stats
    }

    fn intern(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s else { return NONE };
        if let Some(&id) = self.pool_index.get(s) {
            return id;
        }
        let id = self.set.pool.len() as u32;
        self.set.pool.push(s.into());
        self.pool_index.insert(s.into(), id);
        id
    }

    /// The entry for a normalised indicator, created if new.
    fn entry(&mut self, kind: IndicatorType, value: &str) -> u32 {
        let set = &mut self.set;
        let new = set.entries.len() as u32;
        let mut next = NONE;
        match kind {
            IndicatorType::Addr | IndicatorType::Subnet => {
                // `value` came out of `normalise`, so it parses.
                let (a, len) = parse_net(value).unwrap_or((0, 128));
                if kind == IndicatorType::Addr {
                    if let Some(&id) = set.addrs.get(&a) {
                        return id;
                    }
                    set.addrs.insert(a, new);
                } else {
                    if let Some(&id) = set.subnets.get(&(a, len)) {
                        return id;
                    }
                    set.subnets.insert((a, len), new);
                    if !set.subnet_lens.contains(&len) {
                        set.subnet_lens.push(len);
                        set.subnet_lens.sort_unstable_by(|x, y| y.cmp(x));
                    }
                }
            }
            IndicatorType::Domain | IndicatorType::Url | IndicatorType::Email => {
                let table = match kind {
                    IndicatorType::Domain => &mut set.domains,
                    IndicatorType::Url => &mut set.urls,
                    _ => &mut set.emails,
                };
                let h = caseless_hash(value.as_bytes());
                // Walk the chain for an equal key (hash collisions chain through `next`).
                let mut id = table.heads.get(&h).copied().unwrap_or(NONE);
                while let Some(e) = set.entries.get(id as usize) {
                    let (s, l) = (e.start as usize, e.len as usize);
                    if set.arena.get(s..s + l) == Some(value) {
                        return id;
                    }
                    id = e.next;
                }
                table.max_len = table.max_len.max(value.len());
                next = table.heads.insert(h, new).unwrap_or(NONE);
            }
        }
        let start = set.arena.len() as u32;
        set.arena.push_str(value);
        set.entries.push(Entry {
            start,
            len: value.len() as u32,
            kind,
            first_meta: NONE,
            next,
        });
        set.counts[kind.index()] += 1;
        new
    }
}

fn read(path: &Path, name: &str) -> Result<Vec<u8>, IntelError> {
    std::fs::read(path).map_err(|source| IntelError::Io {
        file: name.to_owned(),
        source,
    })
}

/// Lines with their 1-based numbers, `\r` stripped, each checked for UTF-8.
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, Result<&str, String>)> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let empty = text.is_empty();
    text.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            (
                i + 1,
                std::str::from_utf8(l).map_err(|_| "the line is not valid UTF-8".to_owned()),
            )
        })
}

/// Where the columns of a Zeek file are.
struct Columns {
    count: usize,
    indicator: usize,
    kind: usize,
    source: usize,
    desc: Option<usize>,
    url: Option<usize>,
}

impl Columns {
    /// Parses what follows `#fields`.
    fn parse(rest: &str) -> Result<Columns, String> {
        let Some(names) = rest.strip_prefix('\t') else {
            return Err(if rest.starts_with(' ') {
                "the `#fields` header must be separated by tabs, not spaces".into()
            } else {
                "`#fields` must be followed by a tab and the column names".into()
            });
        };
        let names: Vec<&str> = names.split('\t').collect();
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(format!("column {} of the `#fields` header is empty", i + 1));
            }
            if names[..i].contains(n) {
                return Err(format!("column `{n}` appears twice in the `#fields` header"));
            }
        }
        let find = |n: &str| names.iter().position(|c| *c == n);
        let need = |n: &str| {
            find(n).ok_or_else(|| {
                if names.iter().any(|c| c.contains(' ')) {
                    format!(
                        "the `#fields` header has no `{n}` column (columns must be separated \
                         by tabs, not spaces)"
                    )
                } else {
                    format!("the `#fields` header has no `{n}` column")
                }
            })
        };
        Ok(Columns {
            count: names.len(),
            indicator: need("indicator")?,
            kind: need("indicator_type")?,
            source: need("meta.source")?,
            desc: find("meta.desc"),
            url: find("meta.url"),
        })
    }

    /// Parses a data line; `None` for an unsupported type (counted in `stats`).
    fn row<'t>(&self, line: &'t str, stats: &mut FileStats) -> Result<Option<Row<'t>>, String> {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != self.count {
            let hint = if fields.len() == 1 && line.contains(' ') {
                " (fields must be separated by tabs, not spaces)"
            } else {
                ""
            };
            return Err(format!(
                "expected {} tab-separated fields as in `#fields`, found {}{hint}",
                self.count,
                fields.len()
            ));
        }
        let get = |i: usize| {
            fields
                .get(i)
                .map(|f| f.trim())
                .filter(|f| !matches!(*f, "" | "-" | "(empty)"))
        };
        let indicator = get(self.indicator).ok_or("the indicator is empty")?;
        let type_name = get(self.kind).ok_or("the indicator_type is empty")?;
        let Some(kind) = IndicatorType::from_zeek(type_name) else {
            if type_name
                .strip_prefix("Intel::")
                .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            {
                *stats.unsupported.entry(type_name.to_owned()).or_default() += 1;
                return Ok(None);
            }
            return Err(format!(
                "unknown indicator_type `{type_name}` (expected Intel::DOMAIN, Intel::URL, \
                 Intel::EMAIL, Intel::ADDR, Intel::SUBNET or another Intel:: type)"
            ));
        };
        let source = get(self.source).ok_or("meta.source is empty")?;
        Ok(Some(Row {
            kind,
            value: normalise(kind, indicator)?,
            source,
            desc: self.desc.and_then(get),
            url: self.url.and_then(get),
        }))
    }
}

/// The type of a plain-list indicator.
fn infer(v: &str) -> Result<IndicatorType, String> {
    if let Some((a, _)) = v.split_once('/')
        && a.parse::<IpAddr>().is_ok()
    {
        return Ok(IndicatorType::Subnet);
    }
    if v.parse::<IpAddr>().is_ok() {
        return Ok(IndicatorType::Addr);
    }
    if v.contains(['/', '?']) || v.contains("://") {
        return Ok(IndicatorType::Url);
    }
    if v.contains('@') {
        return Ok(IndicatorType::Email);
    }
    if check_domain(v).is_ok() {
        return Ok(IndicatorType::Domain);
    }
    Err(format!(
        "`{v}` is not an IP address, CIDR subnet, e-mail address, URL or domain"
    ))
}

/// The stored (normalised, lowercased) form of an indicator, or why it is malformed.
fn normalise(kind: IndicatorType, v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{} `{v}` contains whitespace", kind.zeek_name()));
    }
    match kind {
        IndicatorType::Domain => {
            let d = v.strip_suffix('.').unwrap_or(v);
            check_domain(d)?;
            Ok(d.to_ascii_lowercase())
        }
        IndicatorType::Email => match v.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && check_domain(domain).is_ok() => Ok(v.to_ascii_lowercase()),
            _ => Err(format!("`{v}` is not an e-mail address (local-part@domain)")),
        },
        IndicatorType::Url => {
            let parts = split_url(v).ok_or_else(|| format!("URL `{v}` has no host"))?;
            let mut buf = KeyBuf::new();
            parts.write(&mut buf);
            String::from_utf8(buf.as_bytes().to_vec()).map_err(|_| format!("URL `{v}` is not valid UTF-8"))
        }
        IndicatorType::Addr => {
            let ip: IpAddr = v.parse().map_err(|_| format!("`{v}` is not an IP address"))?;
            Ok(ip.to_canonical().to_string())
        }
        IndicatorType::Subnet => {
            let (a, len) = v
                .split_once('/')
                .ok_or_else(|| format!("subnet `{v}` has no `/prefix-length`"))?;
            let ip: IpAddr = a
                .parse()
                .map_err(|_| format!("`{a}` in subnet `{v}` is not an IP address"))?;
            let max = if ip.to_canonical().is_ipv4() { 32 } else { 128 };
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("prefix length `{len}` of `{v}` is not 0..={max}"))?;
            let key_len = if max == 32 { len + 96 } else { len };
            Ok(net_text(mask(ip_key(ip), key_len), key_len))
        }
    }
}

/// A domain name's syntax: labels of letters, digits, `-`, `_` or non-ASCII, separated by dots.
fn check_domain(d: &str) -> Result<(), String> {
    if d.starts_with("*.") || d.starts_with('.') {
        return Err(format!(
            "wildcard domain `{d}`: list the parent domain itself (subdomains match it)"
        ));
    }
    if d.is_empty() || d.len() > 253 {
        return Err(format!("`{d}` is not a domain name (1 to 253 characters)"));
    }
    let ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') || b >= 0x80)
    });
    if ok {
        Ok(())
    } else {
        Err(format!("`{d}` is not a domain name"))
    }
}

/// The canonical text of a network key: `10.0.0.0/8`, `2001:db8::/32`.
fn net_text(a: u128, len: u8) -> String {
    if is_v4(a, len) {
        format!("{}/{}", Ipv4Addr::from(a as u32), len - 96)
    } else {
        format!("{}/{}", Ipv6Addr::from(a), len)
    }
}

/// Parses a stored address or subnet text back into its key.
fn parse_net(v: &str) -> Option<(u128, u8)> {
    match v.split_once('/') {
        None => Some((ip_key(v.parse().ok()?), 128)),
        Some((a, l)) => {
            let ip: IpAddr = a.parse().ok()?;
            let l: u8 = l.parse().ok()?;
            let l = if ip.is_ipv4() { l.saturating_add(96) } else { l };
            Some((mask(ip_key(ip), l), l))
        }
    }
}
