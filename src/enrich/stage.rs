//! The enrichment stage: fills an event's computed `reconwatch.*` fields and its ECS
//! `threat.enrichments` from the loaded watchlists, intel and shipped lists, just before the
//! rules see it. Batch scans, rule tests and (later) the daemon call the same
//! [`Enricher::enrich`].
//!
//! It never fails and never drops an event: an event it cannot analyse (no URL, no recipient)
//! simply gets fewer fields. It must stay deterministic — the same event always gets the same
//! fields whatever thread or order it is seen in — so that a scan's alerts do not depend on the
//! number of threads; no state carries from one event to the next (per-thread caches only hold
//! values derived from the immutable configuration).
//!
//! # What is computed (documented for rule writers in `rules/README.md`)
//! - `reconwatch.person.*`: the watch-listed people the event concerns. A mail concerns its
//!   recipients (`email.to.address`); a web request its user (`user.name`, `user.email`) and
//!   client (`source.ip`, `network.forwarded_ip`).
//! - `reconwatch.url.*`: every URL the event carries (`url.original`, `email.urls`), analysed by
//!   [`super::url`]; "recipient encoding" checks the tokens against the addresses of the people
//!   concerned (a mail's recipients, a web user's watch-listed address), so a web request that
//!   carries its own user's address in base64 is found as surely as the mail that sent it.
//! - `reconwatch.sender.*`: [`super::sender`] on the mail's From (display name and address),
//!   envelope sender, Reply-To and subject.
//! - `reconwatch.intel.*` and `threat.enrichments`: [`super::intel`] lookups of the URLs, their
//!   domains, the client and server addresses and the mail's sender addresses.
//!
//! # On demand
//! [`Enricher::lazy`] computes nothing up front: the rule engine asks for a stage
//! ([`EnrichStage`]) when a rule's cheaper tests passed and it reads one of its fields, and
//! [`Lazy::complete`] computes the rest for an event that matched. The URL fields come from
//! four stages, so that ordinary traffic never pays for the URL analysis (tokens, templates,
//! keys):
//! - *site*: registered, unknown, rare and lookalike domains, shortener — a function of each
//!   URL's host, cached per thread;
//! - *pixel*: from each URL's path and query and the response's type and size;
//! - *recipient*: no encoding of a person's address occurs anywhere in the decoded URLs (a few
//!   byte searches), so none is in a token; else the analysis;
//! - *key*: none where every URL is on a site known to be safe; else the analysis.
//!
//! Each looks at exactly the URLs the analysis looks at (the event's, then those they wrap:
//! `for_each_url`), and each field ends up as [`Enricher::enrich`] computes it (a test runs
//! every stage alone against the whole enrichment).

//! # Cost
//! An event without URL or mail addresses costs a few hash lookups. Each URL costs one
//! analysis (~1 µs); each recipient of a mail with URLs one precomputation of its encodings
//! (three digests). At most [`MAX_URLS`] URLs and [`MAX_RECIPIENTS`] recipients' encodings are
//! analysed per event (the event itself is kept whole; only its computed fields stop there).
//! Per-domain answers (known, lookalike, shortener, redirector host) are cached per thread.
//! Computed values are owned strings, allocated only when there is something to say.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::hash::Mix;
use super::intel::{self, IntelSet};
use super::sender::{SenderAnalyzer, SenderCatalog};
use super::url::{self, EncodingKind, RecipientKeys};
use super::watchlist::{ListEntry, Via, Watchlists};
use crate::event::{Compute, ComputedUrl, EnrichStage, Event, Family, Str};

/// URLs analysed per event at most (a newsletter carries 20–60; more is a spam run).
pub const MAX_URLS: usize = 128;
/// Recipients checked for encodings per event at most.
pub const MAX_RECIPIENTS: usize = 64;
/// Wrapped URLs (a redirector's target) analysed per event at most.
const MAX_WRAPPED: usize = 8;
/// Values kept in one computed list at most (tokens, templates, domains).
const MAX_LIST: usize = 32;
/// Addresses' encodings (web users', mail recipients') cached per thread at most.
const KEY_CACHE: usize = 4096;
/// Registered domains' answers cached per thread at most.
const DOMAIN_CACHE: usize = 65_536;

/// Domains of sites so widely used that a request to them says nothing (search, social, big
/// CDNs, ad and analytics networks), shipped as `rules/lists/well-known-domains.txt`.
const WELL_KNOWN: &str = include_str!("../../rules/lists/well-known-domains.txt");

/// Everything the stage reads, loaded once and shared by every scan thread.
pub struct Enricher {
    watchlists: Watchlists,
    intel: IntelSet,
    sender: SenderAnalyzer,
    /// Registered domains of the organisation: configured, and derived from the watchlists.
    own: HashSet<String>,
    /// Other registered domains of watch-listed people (a journalist's outlet): protected
    /// from lookalikes and never unknown, but not the organisation's.
    listed: HashSet<String>,
    /// Registered domains of well-known sites (with the outlets' and ESPs' in `sender`, never
    /// "unknown").
    well_known: HashSet<String>,
}

/// Per-thread working memory of [`Enricher::enrich`].
#[derive(Default)]
pub struct EnrichScratch<'s> {
    intel_hits: Vec<intel::Match<'s>>,
    keys: HashMap<String, RecipientKeys, Mix>,
    /// What is known of each registered domain seen (web traffic repeats a few thousand
    /// domains millions of times): a pure function of the domain and the configuration, so
    /// caching it cannot change a result.
    domains: HashMap<Box<str>, DomainInfo<'s>, Mix>,
    /// Per host as written in a URL, its registered domain and what is known of that (the
    /// registered domain is a function of the host alone).
    sites: HashMap<Box<str>, Option<Site<'s>>, Mix>,
}

/// A host's registered domain, what is known of it, and the protected domain it imitates
/// (by its registered domain, or, when that is unknown, by its labels:
/// `bbc.co.uk.world-briefing.example`).
struct Site<'s> {
    registered: Box<str>,
    info: DomainInfo<'s>,
    lookalike: Option<&'s str>,
}

impl Site<'_> {
    /// Adds what the site says to a URL's fields: its registered domain, the protected domain
    /// it imitates, and, when it is on no list (and no shortener's), its domain as a rare one.
    fn record(&self, out: &mut ComputedUrl) {
        push_unique(&mut out.registered_domain, &self.registered);
        if let Some(l) = self.lookalike {
            push_unique(&mut out.lookalike, l);
        }
        if !self.info.known && !self.info.shortener {
            push_unique(&mut out.rare_domain, &self.registered);
        }
    }

    /// Whether a URL on it may carry a key: identifiers on sites known to be safe (outlets,
    /// well-known sites, ours) join nothing; a provider's tracking host or a shortener's link
    /// may.
    fn may_key(&self) -> bool {
        !self.info.known || self.info.shortener || self.info.esp
    }
}

/// The per-domain answers [`EnrichScratch`] caches.
#[derive(Clone, Copy)]
struct DomainInfo<'s> {
    known: bool,
    /// A URL shortener's.
    shortener: bool,
    /// Some redirector's host is in it (the path decides, per URL).
    redirector: bool,
    /// The protected domain it imitates.
    lookalike: Option<&'s str>,
    /// An email service provider's (its tracking hosts may carry a mail's identifiers).
    esp: bool,
}

impl Enricher {
    /// Builds the stage. The organisation's own domains are `own_domains`, the watchlists'
    /// `@domain` entries and the domains holding a tenth of the watch-listed addresses (at
    /// least three): mail from them is not `external`. They and every other watch-listed
    /// address's domain are protected from lookalikes, and URLs on them are not unknown.
    pub fn new(
        watchlists: Watchlists,
        intel: IntelSet,
        mut catalog: SenderCatalog,
        own_domains: &[String],
    ) -> Enricher {
        let mut own: HashSet<String> = own_domains
            .iter()
            .filter_map(|d| registered_domain(d).map(str::to_owned))
            .collect();
        // The watch-listed people's domains: `@domain` entries are the organisation's; an
        // address domain is when it holds a tenth of the addresses (at least three), so that
        // the outlet of a watch-listed journalist is protected but not taken for ours.
        // Borrowed from the watchlists: a million addresses are a few thousand domains.
        let mut listed: HashSet<&str> = HashSet::new();
        let mut per_domain: HashMap<&str, usize> = HashMap::new();
        let mut addresses = 0usize;
        for list in watchlists.lists() {
            for v in watchlists.entries(&list.name).into_iter().flatten() {
                // Lower-cased, borrowed: addresses, and `@domain` entries.
                let (entry, domain) = match v {
                    ListEntry::Domain(d) => (true, d),
                    ListEntry::Address(a) => (false, a.rsplit_once('@').map_or("", |(_, d)| d)),
                };
                let Some(reg) = registered_domain(domain) else { continue };
                if entry {
                    own.insert(reg.to_owned());
                } else {
                    addresses += 1;
                    *per_domain.entry(reg).or_default() += 1;
                }
                listed.insert(reg);
            }
        }
        let threshold = (addresses / 10).max(3);
        own.extend(
            per_domain
                .into_iter()
                .filter(|(_, n)| *n >= threshold)
                .map(|(d, _)| d.to_owned()),
        );
        let listed: HashSet<String> = listed
            .into_iter()
            .filter(|d| !own.contains(*d))
            .map(str::to_owned)
            .collect();
        let well_known: HashSet<String> = WELL_KNOWN
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_ascii_lowercase)
            .collect();
        // Registered domains from the PSL are valid domain names.
        for d in &own {
            let _ = catalog.protect_own_domain(d, OWN);
        }
        for d in &listed {
            let _ = catalog.protect_domain(d, LISTED);
        }
        let sender = catalog.build();
        Enricher {
            watchlists,
            intel,
            sender,
            own,
            listed,
            well_known,
        }
    }

    /// The organisation's registered domains: configured, `@domain` watchlist entries, and
    /// the domains holding a tenth of the watch-listed addresses (at least three).
    pub fn own_domains(&self) -> impl Iterator<Item = &str> {
        self.own.iter().map(String::as_str)
    }

    /// The watchlists (for placeholders and reports).
    pub fn watchlists(&self) -> &Watchlists {
        &self.watchlists
    }

    /// The intel set.
    pub fn intel(&self) -> &IntelSet {
        &self.intel
    }

    /// Fresh per-thread scratch space.
    pub fn scratch(&self) -> EnrichScratch<'_> {
        EnrichScratch::default()
    }

    /// Computes every `reconwatch.*` field and `threat.enrichments` of `ev`, replacing any
    /// earlier values.
    pub fn enrich<'s>(&'s self, ev: &mut Event<'_>, scratch: &mut EnrichScratch<'s>) {
        self.lazy(ev, scratch).complete(ev);
    }

    /// Clears the computed fields of `ev` and returns its enrichment, to be computed stage by
    /// stage as fields are read ([`Lazy`]). Each field ends up exactly as [`Enricher::enrich`]
    /// computes it.
    pub fn lazy<'a, 's>(&'s self, ev: &mut Event<'_>, scratch: &'a mut EnrichScratch<'s>) -> Lazy<'a, 's> {
        ev.reconwatch = Default::default();
        ev.threat.enrichments.clear();
        Lazy {
            enricher: self,
            scratch,
            // Decided by the parser (the event's dataset), as rule routing does.
            mail: ev.family() == Some(Family::Mail),
            done: 0,
            keyable: false,
        }
    }

    /// Whether a registered domain is known: an outlet's, an email service provider's, a
    /// well-known site's or the organisation's own.
    fn is_known(&self, reg: &str) -> bool {
        self.well_known.contains(reg)
            || self.own.contains(reg)
            || self.listed.contains(reg)
            || self.sender.outlet_of_domain(reg).is_some()
            || self.sender.is_esp(reg)
    }

    /// `reconwatch.person.*`.
    fn people(&self, ev: &mut Event<'_>, mail: bool) {
        let mut found = Found::default();
        for to in &ev.email.to.address {
            found.absorb(self.watchlists.lookup_email(to), Some(to));
        }
        if let Some(u) = &ev.user.name {
            found.absorb(self.watchlists.lookup_username(u), None);
        }
        if let Some(e) = &ev.user.email {
            found.absorb(self.watchlists.lookup_email(e), Some(e));
        }
        if !mail {
            for ip in [ev.source.ip, ev.network.forwarded_ip].into_iter().flatten() {
                found.absorb(self.watchlists.lookup_ip(ip), None);
            }
        }
        let p = &mut ev.reconwatch.person;
        p.high_risk = Some(!found.lists.is_empty());
        p.watchlist = found.lists;
        p.group = found.groups;
        p.email = found.emails;
    }

    /// What is known of a registered domain, from the cache or computed once.
    fn domain_info<'s>(&'s self, reg: &str, cache: &mut HashMap<Box<str>, DomainInfo<'s>, Mix>) -> DomainInfo<'s> {
        if let Some(info) = cache.get(reg) {
            return *info;
        }
        let info = DomainInfo {
            known: self.is_known(reg),
            shortener: url::SHORTENERS.contains(&reg),
            redirector: url::REDIRECTORS
                .iter()
                .any(|(host, _)| registered_domain(host) == Some(reg)),
            lookalike: self.sender.lookalike(reg).map(|l| l.imitates),
            esp: self.sender.is_esp(reg),
        };
        if cache.len() >= DOMAIN_CACHE {
            cache.clear();
        }
        cache.insert(reg.into(), info);
        info
    }

    /// `reconwatch.url.*`.
    fn urls<'s>(&'s self, ev: &mut Event<'_>, scratch: &mut EnrichScratch<'s>, mail: bool) {
        let web = !mail;
        let (mime, bytes) = (ev.http.response.mime_type.as_deref(), ev.http.response.bytes);
        // Fresh: the cheaper URL stages may have run; this one gives every field again.
        let mut out = ComputedUrl::default();
        fill_keys(ev, mail, scratch);
        let mut any = false;
        let (mut pixel, mut has_token, mut shortener, mut redirector, mut unknown) =
            (false, false, false, false, false);
        for_each_url(ev, mail, |u, host, parts, inner| {
            any = true;
            let a = if web && !inner {
                url::analyze_with_host(u, host)
            } else {
                url::analyze(u)
            };
            let signals = if web && !inner {
                a.pixel(mime, bytes)
            } else {
                a.pixel(None, None)
            };
            pixel |= signals.likely;
            // What the site says, as the site stage says it (the same cache).
            let mut keyable = true;
            if let Some(site) = self.site(u, host, parts.host, scratch) {
                site.record(&mut out);
                unknown |= !site.info.known;
                shortener |= site.info.shortener;
                redirector |= site.info.redirector && a.is_redirector();
                keyable = site.may_key();
            }
            let token = a.has_token();
            if token {
                has_token = true;
                for t in a.identifiers().filter(|t| t.is_token_like()) {
                    push_unique(&mut out.tokens, t.raw);
                }
            }
            // A mail's templates group one campaign's copies whatever its identifiers' shape
            // (a 6-character code, a number, a host label); a web request's only tokened ones
            // (every image asset would have one).
            if token || (mail && a.identifiers().next().is_some()) {
                push_unique_owned(&mut out.template, a.template());
            }
            // Shorter identifiers too: a key only joins what a suspicious mail carried.
            if keyable && let Some(k) = a.key() {
                push_unique_owned(&mut out.key, k);
            }
            for k in looked_for(ev, mail).filter_map(|a| scratch.keys.get(a)) {
                if let Some(enc) = k.encoded_in(&a) {
                    push_unique(&mut out.recipient_encoding, encoding_name(enc.kind));
                }
            }
        });
        if any {
            out.pixel = Some(pixel);
            out.has_token = Some(has_token);
            out.shortener = Some(shortener);
            out.redirector = Some(redirector);
            out.unknown_domain = Some(unknown);
        }
        ev.reconwatch.url = out;
    }

    /// The [`EnrichStage::UrlSite`] fields (`registered_domain`, `unknown_domain`,
    /// `rare_domain`, `shortener`, `lookalike`) as [`Enricher::urls`] gives them: each a
    /// function of a URL's host, answered from a per-thread cache of hosts, for the URLs the
    /// URL stage analyses (the event's, then those they wrap). Returns whether some URL may
    /// have a key: one on a site not known to be safe, a provider's or a shortener's, or
    /// without a registered domain.
    fn url_sites<'s>(&'s self, ev: &mut Event<'_>, scratch: &mut EnrichScratch<'s>, mail: bool) -> bool {
        let mut out = ComputedUrl::default();
        let (mut any, mut unknown, mut shortener, mut keyable) = (false, false, false, false);
        for_each_url(ev, mail, |u, host, parts, _| {
            any = true;
            let Some(site) = self.site(u, host, parts.host, scratch) else {
                keyable = true;
                return;
            };
            site.record(&mut out);
            keyable |= site.may_key();
            unknown |= !site.info.known;
            shortener |= site.info.shortener;
        });
        let u = &mut ev.reconwatch.url;
        u.registered_domain = out.registered_domain;
        u.lookalike = out.lookalike;
        u.rare_domain = out.rare_domain;
        if any {
            u.unknown_domain = Some(unknown);
            u.shortener = Some(shortener);
        }
        keyable
    }

    /// What is known of the site of `url` (whose host as written is `written`), from the
    /// per-thread cache; `None` when it has no registered domain (an IP address, junk).
    fn site<'c, 's>(
        &'s self,
        url: &str,
        host: Option<&str>,
        written: &str,
        scratch: &'c mut EnrichScratch<'s>,
    ) -> Option<&'c Site<'s>> {
        if !scratch.sites.contains_key(written) {
            let a = url::site(url, host);
            let site = a.registered_domain().map(|reg| {
                let info = self.domain_info(reg, &mut scratch.domains);
                let lookalike = info.lookalike.or_else(|| {
                    let below = a.host().strip_suffix(reg)?.strip_suffix('.')?;
                    (!info.known)
                        .then(|| self.sender.protected_in_labels(below))
                        .flatten()
                        .map(|l| l.imitates)
                });
                Site {
                    registered: Box::from(reg),
                    info,
                    lookalike,
                }
            });
            if scratch.sites.len() >= DOMAIN_CACHE {
                scratch.sites.clear();
            }
            scratch.sites.insert(written.into(), site);
        }
        scratch.sites.get(written).and_then(Option::as_ref)
    }

    /// `reconwatch.url.pixel` ([`EnrichStage::UrlPixel`]) as [`Enricher::urls`] gives it, from
    /// each URL's path and query (and a web response's type and size).
    fn url_pixel(&self, ev: &mut Event<'_>, mail: bool) {
        let (mime, bytes) = (ev.http.response.mime_type.as_deref(), ev.http.response.bytes);
        let (mut any, mut pixel) = (false, false);
        for_each_url(ev, mail, |_, _, p, inner| {
            any = true;
            let signals = if !mail && !inner {
                url::pixel(p.path, p.query, mime, bytes)
            } else {
                url::pixel(p.path, p.query, None, None)
            };
            pixel |= signals.likely;
        });
        if any {
            ev.reconwatch.url.pixel = Some(pixel);
        }
    }

    /// Settles `reconwatch.url.recipient_encoding` ([`EnrichStage::Recipient`]) as empty when
    /// no encoding of a looked-for address ([`looked_for`]) occurs anywhere in the URLs the URL
    /// stage analyses ([`RecipientKeys::occurs_in`]), and returns `true`; `false` when one may
    /// be in a token, which only the URL stage can say.
    fn no_recipient_encoding<'s>(&'s self, ev: &mut Event<'_>, scratch: &mut EnrichScratch<'s>, mail: bool) -> bool {
        fill_keys(ev, mail, scratch);
        let mut found = false;
        for_each_url(ev, mail, |u, _, _, _| {
            found = found || looked_for(ev, mail).any(|a| scratch.keys.get(a).is_some_and(|k| k.occurs_in(u)));
        });
        if !found {
            ev.reconwatch.url.recipient_encoding.clear();
        }
        !found
    }

    /// `reconwatch.sender.*`.
    fn sender(&self, ev: &mut Event<'_>) {
        let e = &ev.email;
        let from = e.from.address.as_deref().or(e.sender.address.as_deref());
        let input = super::sender::SenderInput {
            from,
            from_name: e.from.name.as_deref(),
            envelope: e.sender.address.as_deref(),
            reply_to: e.reply_to.address.as_deref(),
            subject: e.subject.as_deref(),
        };
        let a = self.sender.analyze(&input);
        // The provider that carried it, whoever wrote it: by the envelope sender, else by the
        // sending host.
        let service = [e.sender.address.as_deref(), ev.source.domain.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|d| {
                registered_domain(&d[d.rfind('@').map_or(0, |i| i + 1)..].to_ascii_lowercase()).map(str::to_owned)
            })
            .find(|d| self.sender.is_esp(d));
        let known = a.domain.as_deref().is_some_and(|d| self.is_known(d));
        let s = &mut ev.reconwatch.sender;
        s.external = Some(a.domain.as_deref().is_some_and(|d| !self.own.contains(d)));
        s.esp = Some(a.esp);
        s.freemail = Some(a.freemail);
        s.bulk = Some(a.esp || service.is_some() || e.sender.address.as_deref().is_some_and(is_bounce_address));
        s.invented_outlet = Some(a.invented_outlet && !known && s.external == Some(true));
        s.service = service.map(Cow::Owned);
        s.journalist = Some(a.journalist);
        s.reply_to_mismatch = Some(a.reply_to_mismatch);
        s.envelope_mismatch = Some(a.envelope_mismatch);
        s.outlet = a.outlet.map(owned);
        if let Some(c) = &a.claim {
            s.claimed_outlet = Some(owned(c.outlet));
            s.claim_via = Some(Cow::Borrowed(c.via.name()));
        }
        // The organisation's own domains are protected too, but mail from the organisation
        // itself is no lookalike of it.
        // A protected domain as labels of an unknown one (`bbc.co.uk.world-briefing.example`);
        // vanity subdomains of well-known services (`reuters.zoom.us`) are ordinary.
        let host = from
            .and_then(|f| f.rsplit_once('@'))
            .map(|(_, h)| h.trim_end_matches('>'));
        let sub = || host.filter(|_| !known).and_then(|h| self.sender.subdomain_lookalike(h));
        if let Some(l) = a.lookalike.or_else(sub).filter(|_| s.external == Some(true)) {
            s.lookalike = Some(owned(l.imitates));
            s.lookalike_method = Some(Cow::Borrowed(l.method.name()));
        }
        s.domain = a.domain.map(Cow::Owned);
    }

    /// `reconwatch.intel.*` and `threat.enrichments`.
    fn threats<'s>(&'s self, ev: &mut Event<'_>, scratch: &mut EnrichScratch<'s>) {
        let set = &self.intel;
        let mut enrichments = Vec::new();
        let mut look = |field: &str, atomic: &str, n: usize, hits: &mut Vec<intel::Match<'s>>| {
            for m in &hits[hits.len() - n..] {
                enrichments.extend(m.enrichments(field, atomic));
            }
        };
        let hits = &mut scratch.intel_hits;
        hits.clear();
        if let Some(u) = &ev.url.original {
            let n = set.lookup_url(u, hits);
            look("url.original", u, n, hits);
        }
        if let Some(d) = &ev.url.domain {
            let n = set.lookup_domain(d, hits);
            look("url.domain", d, n, hits);
        }
        for u in ev.email.urls.iter().take(MAX_URLS) {
            let n = set.lookup_url(u, hits);
            look("email.urls", u, n, hits);
            if let Some(host) = url::host_of(u) {
                let n = set.lookup_domain(host, hits);
                look("email.urls", u, n, hits);
            }
        }
        for (field, addr) in [
            ("email.from.address", &ev.email.from.address),
            ("email.sender.address", &ev.email.sender.address),
            ("email.reply_to.address", &ev.email.reply_to.address),
        ] {
            if let Some(a) = addr {
                let n = set.lookup_email(a, hits);
                look(field, a, n, hits);
                if let Some((_, d)) = a.rsplit_once('@') {
                    let n = set.lookup_domain(d, hits);
                    look(field, a, n, hits);
                }
            }
        }
        for (field, ip) in [("source.ip", ev.source.ip), ("destination.ip", ev.destination.ip)] {
            if let Some(ip) = ip {
                let n = set.lookup_ip(ip, hits);
                if n > 0 {
                    look(field, &ip.to_string(), n, hits);
                }
            }
        }
        let i = &mut ev.reconwatch.intel;
        i.hit = Some(!hits.is_empty());
        for m in hits.iter() {
            push_unique(&mut i.indicator, m.indicator());
            for s in m.sources() {
                push_unique(&mut i.source, s.source);
            }
        }
        ev.threat.enrichments = enrichments;
    }
}

/// One event's enrichment, computed stage by stage as its fields are read (the rule engine
/// asks through [`Compute`]), each stage at most once. [`Lazy::complete`] runs the stages not
/// run yet; the event then carries exactly what [`Enricher::enrich`] gives it.
pub struct Lazy<'a, 's> {
    enricher: &'s Enricher,
    scratch: &'a mut EnrichScratch<'s>,
    mail: bool,
    /// One bit per [`EnrichStage`] stage run.
    done: u8,
    /// Set by the URL-site stage: some URL may have a key (see [`Enricher::url_sites`]).
    keyable: bool,
}

impl Lazy<'_, '_> {
    /// Runs `stage` and what it needs, unless done.
    pub fn run(&mut self, ev: &mut Event<'_>, stage: EnrichStage) {
        let bit = 1u8 << stage as u8;
        if self.done & bit != 0 {
            return;
        }
        let (e, mail) = (self.enricher, self.mail);
        match stage {
            EnrichStage::UrlSite => self.keyable = e.url_sites(ev, self.scratch, mail),
            EnrichStage::UrlKey => {
                // No key where every site is known to be safe; elsewhere only the analysis says.
                self.run(ev, EnrichStage::UrlSite);
                if self.keyable {
                    self.run(ev, EnrichStage::Url);
                }
            }
            EnrichStage::UrlPixel => e.url_pixel(ev, mail),
            EnrichStage::Person => e.people(ev, mail),
            EnrichStage::Recipient => {
                // Encodings are looked for of the people found.
                self.run(ev, EnrichStage::Person);
                if !e.no_recipient_encoding(ev, self.scratch, mail) {
                    self.run(ev, EnrichStage::Url);
                }
            }
            EnrichStage::Url => {
                self.run(ev, EnrichStage::Person);
                e.urls(ev, self.scratch, mail);
                // It gives every URL field again, the cheaper stages' too.
                for s in [
                    EnrichStage::UrlSite,
                    EnrichStage::UrlPixel,
                    EnrichStage::Recipient,
                    EnrichStage::UrlKey,
                ] {
                    self.done |= 1 << s as u8;
                }
            }
            EnrichStage::Sender if mail => e.sender(ev),
            EnrichStage::Intel if !e.intel.is_empty() => e.threats(ev, self.scratch),
            EnrichStage::Sender | EnrichStage::Intel => {}
        }
        self.done |= bit;
    }

    /// Runs every stage not run yet.
    pub fn complete(&mut self, ev: &mut Event<'_>) {
        // The URL stage first: it covers the cheaper URL stages.
        self.run(ev, EnrichStage::Url);
        for stage in EnrichStage::ALL {
            self.run(ev, stage);
        }
    }
}

impl Compute for Lazy<'_, '_> {
    fn compute(&mut self, event: &mut Event<'_>, stage: EnrichStage) {
        self.run(event, stage);
    }
}

/// What the watchlists said about the people of one event.
#[derive(Default)]
struct Found {
    lists: Vec<Str<'static>>,
    groups: Vec<Str<'static>>,
    emails: Vec<Str<'static>>,
}

impl Found {
    /// Takes the entries that matched a lookup of `address` (an email address) or of a user
    /// name or IP (`None`). A CSV row names its person by the row's address; an address or
    /// `@domain` entry of a plain list, by the address looked up.
    fn absorb(&mut self, matches: super::watchlist::Matches<'_>, address: Option<&str>) {
        for m in matches {
            push_unique(&mut self.lists, m.list);
            if let Some(p) = m.person {
                push_unique(&mut self.emails, p.email());
                if let Some(g) = p.group() {
                    push_unique(&mut self.groups, g);
                }
            } else if let Some(a) = address
                && matches!(m.via, Via::Address | Via::Domain(_))
            {
                push_unique(&mut self.emails, &a.to_ascii_lowercase());
            }
        }
    }
}

/// Whether an envelope sender is a bounce-handling address of a bulk mailer: VERP and similar
/// local parts (`bounce-4f51…@`, `bounces+123@`, `list-bounces@`, `bnc3.…@`, `msprvs1=…`
/// (Microsoft SRS/BATV), `prvs=…` (BATV), `return-…@`).
pub fn is_bounce_address(addr: &str) -> bool {
    let Some((local, _)) = addr.rsplit_once('@') else {
        return false;
    };
    let l = local.to_ascii_lowercase();
    const PREFIXES: &[&str] = &[
        "bounce",
        "bnc",
        "msprvs1=",
        "prvs=",
        "return-",
        "rp-",
        "mailer-daemon",
        "verp",
    ];
    PREFIXES.iter().any(|p| l.starts_with(p))
        || l.contains("-bounces")
        || l.contains("+bounces")
        || l.contains(".bounce")
}

/// The protect label of the organisation's own domains.
const OWN: &str = "own";
/// The protect label of other watch-listed people's domains.
const LISTED: &str = "watchlist";

fn owned(s: &str) -> Str<'static> {
    Cow::Owned(s.to_owned())
}

/// Calls `f` with each URL the URL stages analyse, in the order they analyse them: the event's
/// own (at most [`MAX_URLS`]; a web request's with its host, for origin-form URLs), then the
/// URLs they wrap in a query value (at most [`MAX_WRAPPED`], decoded, without host). `f` gets
/// the URL, the host it is read with, its [`url::Parts`] and whether it is a wrapped one.
fn for_each_url(ev: &Event<'_>, mail: bool, mut f: impl FnMut(&str, Option<&str>, url::Parts<'_>, bool)) {
    let host = ev.url.domain.as_deref().filter(|_| !mail);
    let mut wrapped: Vec<String> = Vec::new();
    for u in ev.url.original.iter().chain(ev.email.urls.iter()).take(MAX_URLS) {
        let p = url::parts(u, host);
        // `may_wrap` first: a byte scan that rules out most queries without splitting them.
        if wrapped.len() < MAX_WRAPPED && url::may_wrap(p.query) {
            wrapped.extend(url::wrapped_in_query(p.query));
        }
        f(u, host, p, false);
    }
    for w in &wrapped {
        f(w, None, url::parts(w, None), true);
    }
}

/// The addresses whose encodings are looked for in an event's URLs: a web request's people
/// (their own addresses, found by the person stage), a mail's recipients when it has URLs.
fn looked_for<'e>(ev: &'e Event<'_>, mail: bool) -> impl Iterator<Item = &'e str> {
    let person = ev.reconwatch.person.email.iter().filter(move |_| !mail);
    let recipients = ev
        .email
        .to
        .address
        .iter()
        .take(MAX_RECIPIENTS)
        .filter(move |_| mail && !ev.email.urls.is_empty());
    person.chain(recipients).map(|a| a.as_ref())
}

/// Makes sure the encodings of every [`looked_for`] address are in the per-thread cache (three
/// digests each: the same few thousand addresses recur).
fn fill_keys(ev: &Event<'_>, mail: bool, scratch: &mut EnrichScratch<'_>) {
    if scratch.keys.len() + MAX_RECIPIENTS + MAX_LIST > KEY_CACHE {
        scratch.keys.clear();
    }
    for a in looked_for(ev, mail) {
        if !scratch.keys.contains_key(a) {
            scratch.keys.insert(a.to_owned(), RecipientKeys::new(a));
        }
    }
}

fn push_unique(list: &mut Vec<Str<'static>>, s: &str) {
    if list.len() < MAX_LIST && !list.iter().any(|x| x == s) {
        list.push(owned(s));
    }
}

fn push_unique_owned(list: &mut Vec<Str<'static>>, s: String) {
    if list.len() < MAX_LIST && !list.iter().any(|x| *x == s) {
        list.push(Cow::Owned(s));
    }
}

/// The registered domain of a lower-case host name (Public Suffix List; an unknown TLD counts
/// as a public suffix).
fn registered_domain(host: &str) -> Option<&str> {
    psl::domain_str(host.strip_suffix('.').unwrap_or(host))
}

/// The name rules use for an encoding (`reconwatch.url.recipient_encoding`).
pub fn encoding_name(k: EncodingKind) -> &'static str {
    match k {
        EncodingKind::Plain => "plain",
        EncodingKind::Base64 => "base64",
        EncodingKind::Base64Url => "base64url",
        EncodingKind::Hex => "hex",
        EncodingKind::Md5 => "md5",
        EncodingKind::Sha1 => "sha1",
        EncodingKind::Sha256 => "sha256",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Dataset;
    use crate::event::{Field, Value};

    /// Ten parliament addresses, one journalist at an outlet of theirs, `@family.example`.
    fn enricher(own: &[&str]) -> Enricher {
        let mut w = Watchlists::new();
        let mut csv = String::from("email,name,group,usernames,ips\n");
        for i in 0..10 {
            csv += &format!("mp{i}@parliament.example,MP {i},parliamentarian,mp{i},10.0.0.{i}\n");
        }
        csv += "jo@haldennews.example,Jo,journalist,,\n";
        w.add_text("vip", "vip.csv", &csv).unwrap();
        w.add_text("family", "family.txt", "@family.example\n").unwrap();
        let own: Vec<String> = own.iter().map(|s| s.to_string()).collect();
        Enricher::new(w, IntelSet::default(), SenderCatalog::builtin(), &own)
    }

    fn own(e: &Enricher) -> Vec<&str> {
        let mut v: Vec<&str> = e.own_domains().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn own_domains_are_configured_domain_entries_and_the_lists_main_domains() {
        assert_eq!(own(&enricher(&[])), ["family.example", "parliament.example"]);
        assert_eq!(
            own(&enricher(&["www.senate.example"])),
            ["family.example", "parliament.example", "senate.example"]
        );
        // The journalist's outlet is protected from lookalikes and known, but not ours.
        let e = enricher(&[]);
        assert!(e.is_known("haldennews.example"));
        assert_eq!(
            e.sender.lookalike("haldennews-daily.example").map(|l| l.imitates),
            Some("haldennews.example")
        );
        // An added word is no lookalike of our own domain; another TLD is.
        assert!(e.sender.lookalike("parliament-watch.example").is_none());
        assert_eq!(
            e.sender.lookalike("parliament.org").map(|l| l.imitates),
            Some("parliament.example")
        );
    }

    fn text(ev: &Event<'_>, f: Field) -> String {
        ev.get(f).map(|v| v.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_plain_list_or_domain_entry_names_the_person_by_the_address_looked_up() {
        let e = enricher(&[]);
        let mut s = e.scratch();
        let mut ev = Event::new(Dataset::PostfixLog);
        ev.email.to.address = vec!["Aunt.May@Family.example".into(), "mp3@parliament.example".into()];
        e.enrich(&mut ev, &mut s);
        assert_eq!(
            text(&ev, Field::PersonEmail),
            "aunt.may@family.example,mp3@parliament.example"
        );
        assert_eq!(text(&ev, Field::PersonWatchlist), "family,vip");
    }

    #[test]
    fn a_web_request_names_its_person_by_user_or_ip_and_finds_their_encoded_address() {
        let e = enricher(&[]);
        let mut s = e.scratch();
        // mp3's address in base64 (no `+` or `/`, so also base64url), in a pixel on an unknown domain, fetched from mp3's IP.
        let token = "bXAzQHBhcmxpYW1lbnQuZXhhbXBsZQ";
        let url = format!("https://t.tracker.example/o/{token}.gif");
        let mut ev = Event::new(Dataset::SquidAccess);
        ev.url.original = Some(url.as_str().into());
        ev.url.domain = Some("t.tracker.example".into());
        ev.source.ip = Some("10.0.0.3".parse().unwrap());
        e.enrich(&mut ev, &mut s);
        assert_eq!(text(&ev, Field::PersonHighRisk), "true");
        assert_eq!(text(&ev, Field::PersonEmail), "mp3@parliament.example");
        assert_eq!(text(&ev, Field::PersonWatchlist), "vip");
        assert_eq!(text(&ev, Field::UrlRecipientEncoding), "base64");
        assert_eq!(text(&ev, Field::UrlPixel), "true");
        assert_eq!(text(&ev, Field::UrlUnknownDomain), "true");
        assert_eq!(text(&ev, Field::UrlRegisteredDomain), "tracker.example");
        assert_eq!(ev.get(Field::SenderDomain), None, "a web event has no sender");

        // By user name, with no IP; someone else's request is not high-risk.
        let mut by_user = Event::new(Dataset::SquidAccess);
        by_user.url.original = Some("https://www.bbc.co.uk/news".into());
        by_user.user.name = Some("MP7".into());
        e.enrich(&mut by_user, &mut s);
        assert_eq!(text(&by_user, Field::PersonEmail), "mp7@parliament.example");
        assert_eq!(text(&by_user, Field::UrlUnknownDomain), "false");
        by_user.user.name = Some("visitor".into());
        e.enrich(&mut by_user, &mut s);
        assert_eq!(by_user.get(Field::PersonHighRisk), Some(Value::Str("false")));
        assert_eq!(by_user.get(Field::PersonEmail), None, "earlier values are replaced");
    }

    #[test]
    fn a_mail_is_analysed_for_its_recipients_and_sender() {
        let e = enricher(&[]);
        let mut s = e.scratch();
        let mut ev = Event::new(Dataset::PostfixLog);
        ev.email.from.address = Some("sophie.lang@bbc-worldnews.example".into());
        ev.email.from.name = Some("Sophie Lang | BBC News".into());
        ev.email.sender.address = Some("bounce-4f51@mailer.postblast.example".into());
        ev.email.to.address = vec!["aunt@family.example".into(), "someone@else.example".into()];
        ev.email.urls = vec!["https://bbc-worldnews.example/p.gif?id=H6jS30rkoIEXXK3A&c=w1".into()];
        e.enrich(&mut ev, &mut s);
        assert_eq!(text(&ev, Field::PersonWatchlist), "family");
        assert_eq!(text(&ev, Field::SenderExternal), "true");
        assert_eq!(text(&ev, Field::SenderBulk), "true");
        assert_eq!(text(&ev, Field::SenderLookalike), "bbc.co.uk");
        assert_eq!(text(&ev, Field::SenderClaimVia), "display_name");
        assert_eq!(text(&ev, Field::SenderEnvelopeMismatch), "true");
        assert_eq!(text(&ev, Field::UrlLookalike), "bbc.co.uk");
        assert_eq!(text(&ev, Field::UrlTokens), "H6jS30rkoIEXXK3A");
        assert_eq!(
            text(&ev, Field::UrlTemplate),
            "https://bbc-worldnews.example/p.gif?id={b64:16}&c=w1"
        );
        // Mail from the organisation itself is internal and no lookalike of it.
        ev.email.from.address = Some("mp1@parliament.example".into());
        ev.email.from.name = None;
        ev.email.sender.address = Some("mp1@parliament.example".into());
        e.enrich(&mut ev, &mut s);
        assert_eq!(text(&ev, Field::SenderExternal), "false");
        assert_eq!(ev.get(Field::SenderLookalike), None);
        assert_eq!(text(&ev, Field::SenderBulk), "false");
    }

    /// A campaign through an email service provider: the author's domain is judged apart from
    /// the provider's; each URL with identifiers gets one key, its site's rare domain, and a
    /// URL wrapped in a redirector is analysed too.
    #[test]
    fn a_mail_service_does_not_launder_its_author() {
        let e = enricher(&[]);
        let mut s = e.scratch();
        let mut ev = Event::new(Dataset::PostfixLog);
        ev.email.from.address = Some("laura.kingsley@westminster-briefing.example".into());
        ev.email.from.name = Some("Laura Kingsley | The Westminster Briefing".into());
        ev.email.sender.address =
            Some("bounces+4412871-3f2a-mp1=parliament.example@em8811.westminster-briefing.example".into());
        ev.source.domain = Some("o1.ptr4412.sendgrid.net".into());
        ev.email.to.address = vec!["mp1@parliament.example".into()];
        ev.email.urls = vec![
            "https://u4412871.ct.sendgrid.net/wf/open?upn=Qk9iL2pYb3lmR3pwV0x5dzRPQUpkQT09".into(),
            "http://kw3ue9.px.westminster-briefing.example/1x1.gif".into(),
            "https://www.google.com/url?q=https%3A%2F%2Fbit.ly%2F3XToDVn".into(),
            "https://reuters.com.global-wire.example/world".into(),
            "https://twitter.com/LauraKingsley".into(),
            "https://img.westminster-briefing.example/t/H6jS30rkoIEXXK3A.gif".into(),
        ];
        e.enrich(&mut ev, &mut s);
        assert_eq!(text(&ev, Field::SenderDomain), "westminster-briefing.example");
        assert_eq!(text(&ev, Field::SenderService), "sendgrid.net");
        assert_eq!(text(&ev, Field::SenderEsp), "false", "the author is no provider");
        assert_eq!(text(&ev, Field::SenderBulk), "true");
        assert_eq!(text(&ev, Field::SenderInventedOutlet), "true");
        assert_eq!(
            text(&ev, Field::UrlKey),
            "sendgrid.net/wf/open#Qk9iL2pYb3lmR3pwV0x5dzRPQUpkQT09,westminster-briefing.example/1x1.gif#kw3ue9,\
             westminster-briefing.example/t/{}.gif#H6jS30rkoIEXXK3A,bit.ly/{}#3XToDVn"
        );
        assert_eq!(
            text(&ev, Field::UrlTokens),
            "Qk9iL2pYb3lmR3pwV0x5dzRPQUpkQT09,H6jS30rkoIEXXK3A,3XToDVn",
            "one token per identifier: the stem of `x.gif`, not `x.gif` too"
        );
        assert_eq!(
            text(&ev, Field::UrlRareDomain),
            "westminster-briefing.example,global-wire.example"
        );
        assert_eq!(text(&ev, Field::UrlLookalike), "reuters.com");

        // A newsletter of an organisation through the same provider: no invented outlet, and
        // sent from its own domain.
        ev.email.from.address = Some("newsletter@harbourdistrict.example".into());
        ev.email.from.name = Some("Harbour District Council".into());
        e.enrich(&mut ev, &mut s);
        assert_eq!(text(&ev, Field::SenderInventedOutlet), "false");
        assert_eq!(text(&ev, Field::SenderService), "sendgrid.net");
    }

    /// Each stage run alone gives its fields exactly as the whole enrichment does — the cheap
    /// URL stages (site, pixel, recipient, key) answer without the URL analysis where they can,
    /// and must never answer differently from it: safe and unknown sites, a shortener, a
    /// lookalike by domain and by labels, an IP host, a provider's host, wrapped URLs (decoded,
    /// with their own host), origin-form URLs read with the request's host, pixel shapes, an
    /// address encoded plainly, percent-encoded, in base64 and as a digest, and mail.
    #[test]
    fn each_stage_alone_gives_its_fields_as_the_whole_enrichment_does() {
        let e = enricher(&[]);
        let mut s = e.scratch();
        let b64 = "bXAzQHBhcmxpYW1lbnQuZXhhbXBsZQ";
        let md5 = hex_md5("mp3@parliament.example");
        // URL, the request's host, the response's type and size.
        type Request<'a> = (String, Option<&'a str>, Option<&'a str>, Option<u64>);
        let web: Vec<Request> = vec![
            ("https://www.bbc.co.uk/news/world-123".into(), None, Some("text/html"), Some(90_000)),
            (format!("https://t.tracker.example/o/{b64}.gif"), None, Some("image/gif"), Some(43)),
            (format!("https://t.tracker.example/o.gif?e={md5}&w=1&h=1"), None, None, None),
            ("https://cdn.unknown-shop.example/img/hv8lx780.jpg".into(), None, Some("image/jpeg"), Some(20_000)),
            ("https://cdn.unknown-shop.example/static/main.q6r7u6a9.js".into(), None, None, Some(90_000)),
            ("/p.gif?id=H6jS30rkoIEXXK3A".into(), Some("px.unknown-shop.example"), None, Some(43)),
            ("/index.html".into(), Some("www.bbc.co.uk:443"), None, None),
            ("https://bit.ly/3XToDVn".into(), None, None, None),
            ("https://haldennews-daily.example/story?ref=mp3%40parliament.example".into(), None, None, None),
            ("https://bbc.co.uk.world-briefing.example/x/AbCdEfGhIjKlMnOp.png".into(), None, None, Some(100)),
            ("http://198.51.100.7/t/AbCdEfGhIjKlMnOp".into(), None, None, None),
            (
                format!(
                    "https://www.google.com/url?q=https%3A%2F%2Fpx.tracker.example%2Fopen.gif%3Fu%3D{b64}&sa=D"
                ),
                None,
                None,
                None,
            ),
            (
                "https://www.google-analytics.com/collect?v=1&dl=http%3A%2F%2Fnews.bbc.co.uk%2F&cid=1893210283.1578104400"
                    .into(),
                None,
                None,
                None,
            ),
            ("https://links.sendgrid.net/ls/click?upn=AbCdEfGhIjKlMnOpQrStUv".into(), None, None, None),
            ("www.unknown-shop.example:443".into(), None, None, Some(0)),
            ("".into(), None, None, None),
        ];
        let mut events = Vec::new();
        for (url, host, mime, bytes) in &web {
            for ip in ["10.0.0.3", "192.0.2.9"] {
                let mut ev = Event::new(Dataset::SquidAccess);
                ev.url.original = Some(url.clone().into());
                ev.url.domain = host.map(Into::into);
                ev.http.response.mime_type = mime.map(Into::into);
                ev.http.response.bytes = *bytes;
                ev.source.ip = Some(ip.parse().unwrap());
                events.push(ev);
            }
        }
        let mut mail = Event::new(Dataset::PostfixLog);
        mail.email.to.address = vec!["mp3@parliament.example".into(), "someone@else.example".into()];
        mail.email.urls = web.iter().map(|(u, ..)| u.clone().into()).collect();
        events.push(mail);
        for ev in &events {
            let mut whole = ev.clone();
            e.enrich(&mut whole, &mut s);
            for stage in EnrichStage::ALL {
                let mut alone = ev.clone();
                e.lazy(&mut alone, &mut s).run(&mut alone, stage);
                for &f in Field::ALL.iter().filter(|f| f.computed_by() == Some(stage)) {
                    assert_eq!(
                        alone.get(f).map(|v| v.to_string()),
                        whole.get(f).map(|v| v.to_string()),
                        "{f} by {stage:?} alone, for {:?} {:?}",
                        ev.url.original,
                        ev.source.ip
                    );
                }
            }
        }
    }

    fn hex_md5(s: &str) -> String {
        use md5::Digest;
        md5::Md5::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn bounce_addresses_of_bulk_mailers() {
        for a in [
            "bounce-4f51@mailer.postblast.example",
            "bounces+123-abc@sendgrid.net",
            "msprvs1=17aB=bounces-1@mail.example",
            "list-bounces@lists.example",
            "prvs=1234abcd=user@example.org",
        ] {
            assert!(is_bounce_address(a), "{a}");
        }
        for a in ["sophie.lang@news.example", "bouncy.castle@example.org", "no-at-sign"] {
            assert!(!is_bounce_address(a), "{a}");
        }
    }
}
