//! Alerts to campaigns and exposure.
//!
//! 1. Every mail and web request the alerts show is gathered once (a message by its id, a
//!    request by its file and offset), with the highest level of the alerts naming it and the
//!    joins correlations made between them.
//! 2. A message named by an alert of medium level or above is a campaign message. Its
//!    campaign is its author: the sending domain, or the address of a free-mail persona. A
//!    message whose log shows only a mass mailer's bounce address (Exchange tracking logs no
//!    header From) joins the campaign of that domain, else the one with its subject, else the
//!    one whose tracker its recipient fetched, else one of its own (mailer and subject).
//!    A low-level message joins a campaign only when it shares its author or a tracking-URL
//!    template: alone, per-recipient tracking is what newsletters do.
//! 3. A request is a fetch of a campaign's tracker when a correlation joined it to a campaign
//!    message on the URL or site; joined on the person only, when it is on a host or rare
//!    domain the campaign's mails link to (or, for a campaign whose logs show no URL at all,
//!    when its host is not one that another, non-campaign, sender mails); or without a join,
//!    when it carries a campaign message's URL identifiers, template or tracking domain.
//!
//! Nothing here reads files or panics; inputs are whatever the alerts held.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;

use super::read::{AlertSeen, Evidence, MailSeen, Read, Seen, WebSeen};
use super::{
    Actions, Campaign, EvidenceRef, Exposure, FetchRef, GroupCount, InputSummary, MessageRef, Point, Report, RuleCount,
    Summary, VERSION, agent,
};
use crate::enrich::stage::is_bounce_address;
use crate::enrich::url;
use crate::enrich::watchlist::Watchlists;
use crate::rules::Level;

/// How a correlation tied a request to a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Join {
    /// On the person alone: nothing proves it was that mail's tracker.
    Person,
    /// On the mailed site, the log hiding the URL.
    Site,
    /// On the mailed URL's identifiers.
    Url,
}

impl Join {
    fn name(self) -> &'static str {
        match self {
            Join::Person => "person",
            Join::Site => "site",
            Join::Url => "url",
        }
    }
}

#[derive(Default)]
struct Mail {
    message_id: Option<String>,
    time: Option<Timestamp>,
    from: BTreeSet<String>,
    from_names: BTreeSet<String>,
    subjects: BTreeSet<String>,
    recipients: BTreeSet<String>,
    sender_domains: BTreeSet<String>,
    freemail: bool,
    esp: bool,
    urls: BTreeSet<String>,
    url_keys: BTreeSet<String>,
    templates: BTreeSet<String>,
    rare_domains: BTreeSet<String>,
    actions: BTreeSet<String>,
    people: BTreeMap<String, Option<String>>,
    level: Option<Level>,
    alerts: BTreeSet<usize>,
    evidence: BTreeSet<Evidence>,
}

#[derive(Default)]
struct Fetch {
    time: Option<Timestamp>,
    url: Option<String>,
    method: Option<String>,
    user: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    people: BTreeMap<String, Option<String>>,
    pixel: bool,
    url_keys: BTreeSet<String>,
    templates: BTreeSet<String>,
    level: Option<Level>,
    alerts: BTreeSet<usize>,
    evidence: Evidence,
    /// Mails a correlation joined it to, and how.
    links: BTreeMap<usize, Join>,
}

fn min_time(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_level(a: Option<Level>, b: Level) -> Option<Level> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// The key a message is known by: its id, else its queue id, else where it was logged.
fn mail_key(m: &MailSeen) -> String {
    if let Some(id) = &m.message_id {
        return format!("id:{}", id.to_ascii_lowercase());
    }
    if let Some(id) = &m.local_id {
        return format!("local:{id}");
    }
    evidence_key(&m.evidence)
}

fn evidence_key(e: &Evidence) -> String {
    match (&e.file, e.offset) {
        (Some(f), Some(o)) => format!("at:{f}:{o}"),
        _ => format!("text:{}", e.original.as_deref().unwrap_or("")),
    }
}

/// Everything the alerts show, each mail and request once.
#[derive(Default)]
struct Gathered {
    mails: Vec<Mail>,
    mail_index: HashMap<String, usize>,
    fetches: Vec<Fetch>,
    fetch_index: HashMap<String, usize>,
}

impl Gathered {
    fn mail(&mut self, m: &MailSeen, alert: usize, level: Level) -> usize {
        let key = mail_key(m);
        let i = *self.mail_index.entry(key).or_insert_with(|| {
            self.mails.push(Mail::default());
            self.mails.len() - 1
        });
        let t = &mut self.mails[i];
        if t.message_id.is_none() {
            t.message_id.clone_from(&m.message_id);
        }
        t.time = min_time(t.time, m.time);
        t.from.extend(m.from.iter().cloned());
        t.from_names.extend(m.from_name.iter().cloned());
        t.subjects.extend(m.subject.iter().cloned());
        t.recipients.extend(m.recipients.iter().cloned());
        t.sender_domains.extend(m.sender_domain.iter().cloned());
        t.freemail |= m.freemail;
        t.esp |= m.esp;
        t.urls.extend(m.urls.iter().cloned());
        t.url_keys.extend(m.url_keys.iter().cloned());
        t.templates.extend(m.templates.iter().cloned());
        t.rare_domains.extend(m.rare_domains.iter().cloned());
        t.actions.extend(m.action.iter().map(|a| a.to_ascii_lowercase()));
        for (p, g) in &m.people {
            let slot = t.people.entry(p.clone()).or_default();
            if slot.is_none() {
                slot.clone_from(g);
            }
        }
        t.level = max_level(t.level, level);
        t.alerts.insert(alert);
        t.evidence.insert(m.evidence.clone());
        i
    }

    fn fetch(&mut self, w: &WebSeen, alert: usize, level: Level) -> usize {
        let key = evidence_key(&w.evidence);
        let i = *self.fetch_index.entry(key).or_insert_with(|| {
            self.fetches.push(Fetch {
                evidence: w.evidence.clone(),
                ..Fetch::default()
            });
            self.fetches.len() - 1
        });
        let t = &mut self.fetches[i];
        t.time = min_time(t.time, w.time);
        for (slot, v) in [
            (&mut t.url, &w.url),
            (&mut t.method, &w.method),
            (&mut t.user, &w.user),
            (&mut t.ip, &w.ip),
            (&mut t.user_agent, &w.user_agent),
        ] {
            if slot.is_none() {
                slot.clone_from(v);
            }
        }
        for (p, g) in &w.people {
            let slot = t.people.entry(p.clone()).or_default();
            if slot.is_none() {
                slot.clone_from(g);
            }
        }
        t.pixel |= w.pixel;
        t.url_keys.extend(w.url_keys.iter().cloned());
        t.templates.extend(w.templates.iter().cloned());
        t.level = max_level(t.level, level);
        t.alerts.insert(alert);
        i
    }

    fn of(alerts: &[AlertSeen]) -> Gathered {
        let mut g = Gathered::default();
        for (n, a) in alerts.iter().enumerate() {
            let mut mails = Vec::new();
            let mut webs = Vec::new();
            for e in &a.events {
                match e {
                    Seen::Mail(m) => mails.push(g.mail(m, n, a.level)),
                    Seen::Web(w) => webs.push(g.fetch(w, n, a.level)),
                }
            }
            if a.correlation && !mails.is_empty() && !webs.is_empty() {
                // A join on addresses alone ties a request to the person, not to the mail.
                let join = if !a.group.is_empty() && a.group.iter().all(|v| v.contains('@')) {
                    Join::Person
                } else if a.group.iter().any(|v| v.contains('#')) {
                    // A URL key (`site/path#identifiers`).
                    Join::Url
                } else {
                    Join::Site
                };
                for &w in &webs {
                    for &m in &mails {
                        let slot = g.fetches[w].links.entry(m).or_insert(join);
                        *slot = (*slot).max(join);
                    }
                }
            }
        }
        g
    }
}

/// The registered domain of a URL's or address's host.
fn domain_of(url_or_host: &str) -> Option<String> {
    let a = url::site(url_or_host, None);
    a.registered_domain()
        .map(str::to_owned)
        .or_else(|| (!a.host().is_empty()).then(|| a.host().to_owned()))
}

fn address_domain(addr: &str) -> Option<String> {
    addr.rsplit_once('@').and_then(|(_, d)| domain_of(d))
}

/// The host a template's URL names, when its host has no placeholder.
fn template_host(t: &str) -> Option<String> {
    let h = url::host_of(t)?;
    (!h.contains('{')).then(|| h.to_ascii_lowercase())
}

/// The mail's author, when the log shows one: `persona ADDRESS` for free mail, else the
/// sending domain. `None` when the only sender shown is a mass mailer's bounce address or an
/// email service provider's envelope.
fn author(m: &Mail) -> Option<String> {
    if m.esp {
        return None;
    }
    let from = m.from.iter().find(|f| !is_bounce_address(f))?;
    if m.freemail {
        return Some(format!("persona {from}"));
    }
    m.sender_domains
        .iter()
        .find(|d| from.ends_with(d.as_str()))
        .cloned()
        .or_else(|| address_domain(from))
}

/// Whether a URL in the mail's logged text stands in an image (`src=`), as far as the log
/// shows it.
fn mailed_as_image(mail: &Mail, fetched: &str) -> Option<bool> {
    for e in &mail.evidence {
        let Some(text) = &e.original else { continue };
        let Some(at) = text.find(fetched) else { continue };
        let before = &text[..at];
        let before = &before[before.len().saturating_sub(12)..].to_ascii_lowercase();
        if before.contains("src=") {
            return Some(true);
        }
        if before.contains("href=") {
            return Some(false);
        }
    }
    None
}

const IMAGE_EXTENSIONS: [&str; 8] = ["gif", "png", "jpg", "jpeg", "webp", "bmp", "ico", "svg"];
const PIXEL_NAMES: [&str; 9] = ["p", "pixel", "open", "o", "1x1", "beacon", "spacer", "blank", "track"];

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(url: &str, method: Option<&str>, join: &str) -> &'static str {
        let f = Fetch {
            url: Some(url.to_owned()),
            method: method.map(str::to_owned),
            ..Fetch::default()
        };
        fetch_kind(&f, &[], join)
    }

    #[test]
    fn fetches_are_told_apart_by_what_the_log_shows() {
        assert_eq!(kind("https://x.example/p.gif?id=abc", None, "url"), "open");
        assert_eq!(
            kind(
                "http://x.example/open/YmVhdHJpY2UudHVybmVyQHNlbmF0ZS5lbG1hcmlhLmV4YW1wbGU",
                None,
                "campaign"
            ),
            "open"
        );
        assert_eq!(kind("https://x.example/t/8cafe367/logo.png", None, "url"), "open");
        assert_eq!(kind("https://x.example/2021/01/story?ref=abc", None, "url"), "click");
        assert_eq!(kind("x.example:443", Some("CONNECT"), "site"), "contact");
        assert_eq!(kind("https://x.example/static/img/logo.png", None, "campaign"), "asset");
    }

    #[test]
    fn a_mailed_url_in_an_img_tag_is_an_open() {
        let mail = Mail {
            evidence: [Evidence {
                original: Some(
                    r#"info: body <img src="https://bit.ly/3XToDVn" width="1"> <a href="https://bit.ly/9aBcDeF">"#
                        .into(),
                ),
                ..Evidence::default()
            }]
            .into(),
            ..Mail::default()
        };
        let f = |u: &str| Fetch {
            url: Some(u.to_owned()),
            ..Fetch::default()
        };
        assert_eq!(fetch_kind(&f("https://bit.ly/3XToDVn"), &[&mail], "url"), "open");
        assert_eq!(fetch_kind(&f("https://bit.ly/9aBcDeF"), &[&mail], "url"), "click");
    }

    /// A request joined to a campaign mail on the person only is that campaign's when it is on
    /// a host or rare domain its mails link to; a campaign whose logs show no URL takes it
    /// unless another sender mails its host (regression: a newsletter pixel the person opened
    /// after a lure was charged to the lure).
    #[test]
    fn a_person_join_counts_only_on_the_campaigns_own_trackers() {
        let mut d = Draft::default();
        let copy = Mail {
            urls: ["https://u28598849.ct.sendgrid.net/wf/open?upn=TDPJAhas4Pjq".to_owned()].into(),
            rare_domains: ["lure.example".to_owned()].into(),
            ..Mail::default()
        };
        d.add_mail(0, &copy, None);
        let f = |u: &str| Fetch {
            url: Some(u.to_owned()),
            ..Fetch::default()
        };
        assert!(d.tracked_by(&f("https://U28598849.ct.sendgrid.net/wf/open?upn=x"), false));
        assert!(d.tracked_by(&f("http://kw3ue9.px.lure.example/1x1.gif"), false));
        assert!(!d.tracked_by(&f("https://sendy.rivers.example/t/6o36rINACsMPS2gejzVocn/x"), false));
        assert!(!d.tracked_by(&f("https://u1111.ct.sendgrid.net/wf/open?upn=y"), false));
        // No URL in any of its mails: taken unless another sender explains it.
        let mut exchange_only = Draft::default();
        exchange_only.add_mail(1, &Mail::default(), None);
        assert!(exchange_only.tracked_by(&f("https://sendy.rivers.example/t/x"), false));
        assert!(!exchange_only.tracked_by(&f("https://sendy.rivers.example/t/x"), true));
    }

    #[test]
    fn the_author_is_not_a_bounce_address_or_a_provider() {
        let mail = |from: &str, domain: &str, esp: bool, freemail: bool| Mail {
            from: [from.to_owned()].into(),
            sender_domains: [domain.to_owned()].into(),
            esp,
            freemail,
            ..Mail::default()
        };
        assert_eq!(
            author(&mail("sophie@lure.example", "lure.example", false, false)).as_deref(),
            Some("lure.example")
        );
        assert_eq!(
            author(&mail(
                "bounce-4de4e35cf212@mailer.postblast.example",
                "postblast.example",
                false,
                false
            )),
            None
        );
        assert_eq!(
            author(&mail(
                "0102abc-000000@eu-west-1.amazonses.com",
                "amazonses.com",
                true,
                false
            )),
            None
        );
        assert_eq!(
            author(&mail("helen.ward.writer@gmail.com", "gmail.com", false, true)).as_deref(),
            Some("persona helen.ward.writer@gmail.com")
        );
    }
}

/// What a fetch was: `contact` (the log hides the URL), `open` (an image), `click` (a link),
/// or `asset` (the campaign site's image or page without identifiers: it told the sender an
/// address and a time, not whose).
fn fetch_kind(f: &Fetch, mails: &[&Mail], join: &str) -> &'static str {
    let Some(u) = f.url.as_deref() else {
        return "contact";
    };
    if f.method.as_deref() == Some("CONNECT") || !u.contains('/') {
        return "contact";
    }
    for m in mails {
        if let Some(image) = mailed_as_image(m, u) {
            return if image { "open" } else { "click" };
        }
    }
    let a = url::site(u, None);
    if join == "campaign" && f.url_keys.is_empty() && !url::analyze(u).tokens().iter().any(url::is_identifier) {
        return "asset";
    }
    let path = a.path().to_ascii_lowercase();
    let last = path.rsplit('/').next().unwrap_or("");
    let ext = last.rsplit_once('.').map_or("", |(_, e)| e);
    // A pixel-named segment anywhere: `/p.gif`, `/open/TOKEN`, `/wf/open`.
    let named = path
        .split('/')
        .any(|seg| PIXEL_NAMES.contains(&seg.rsplit_once('.').map_or(seg, |(stem, _)| stem)));
    if f.pixel || IMAGE_EXTENSIONS.contains(&ext) || named {
        "open"
    } else {
        "click"
    }
}

/// A campaign being built.
#[derive(Default)]
struct Draft {
    name: String,
    mails: BTreeSet<usize>,
    /// Domains whose hosts are its trackers: its author's and its mails' rare link domains.
    domains: BTreeSet<String>,
    /// The hosts its mails' logged URLs name (lower case): where its trackers are, when a mail
    /// log shows them.
    hosts: BTreeSet<String>,
    templates: BTreeSet<String>,
    subjects: BTreeSet<String>,
    /// Accepted fetches: (fetch, mail, join).
    fetches: Vec<(usize, Option<usize>, &'static str)>,
    set_aside: usize,
}

impl Draft {
    fn add_mail(&mut self, i: usize, m: &Mail, author: Option<&str>) {
        self.mails.insert(i);
        if let Some(a) = author.filter(|a| !a.starts_with("persona ")) {
            self.domains.insert(a.to_owned());
        }
        self.domains.extend(m.rare_domains.iter().cloned());
        self.hosts.extend(
            m.urls
                .iter()
                .filter_map(|u| url::host_of(u))
                .map(str::to_ascii_lowercase),
        );
        self.templates.extend(m.templates.iter().cloned());
        self.subjects.extend(m.subjects.iter().cloned());
    }

    /// Whether a request a correlation joined to one of its mails on the person alone is its
    /// tracker's. When its mails' logs show URLs (its copies through a gateway that logs
    /// bodies), the request must be on one of their hosts or rare domains: a person who got
    /// the lure also opens newsletters. When none does (Exchange logs no URLs), nothing names
    /// its trackers: the request is taken unless `explained` (another sender mails its
    /// domain).
    fn tracked_by(&self, f: &Fetch, explained: bool) -> bool {
        if self.hosts.is_empty() {
            return !explained;
        }
        let Some(u) = f.url.as_deref() else { return false };
        let host = url::host_of(u).map(str::to_ascii_lowercase);
        host.is_some_and(|h| self.hosts.contains(&h)) || domain_of(u).is_some_and(|d| self.domains.contains(&d))
    }

    fn first(&self, mails: &[Mail]) -> Option<Timestamp> {
        self.mails.iter().filter_map(|&i| mails[i].time).min()
    }
}

/// Adds low-level messages to the campaign of their author or of a template they share.
fn attach_low(
    mails: &[Mail],
    by_author: &HashMap<String, usize>,
    drafts: &mut [Draft],
    campaign_of: &mut [Option<usize>],
) {
    for (i, m) in mails.iter().enumerate() {
        if campaign_of[i].is_some() || grade(m.level) {
            continue;
        }
        let a = author(m);
        let d = a.as_ref().and_then(|a| by_author.get(a).copied()).or_else(|| {
            drafts
                .iter()
                .position(|d| m.templates.iter().any(|t| d.templates.contains(t)))
        });
        if let Some(d) = d {
            drafts[d].add_mail(i, m, a.as_deref());
            campaign_of[i] = Some(d);
        }
    }
}

fn grade(level: Option<Level>) -> bool {
    level.is_some_and(|l| l >= Level::Medium)
}

/// Groups the alerts read into the report. `watchlists` names people and their groups.
pub fn build(read: &Read, watchlists: Option<&Watchlists>) -> Report {
    let g = Gathered::of(&read.alerts);
    let mails = &g.mails;
    let mut drafts: Vec<Draft> = Vec::new();
    let mut by_author: HashMap<String, usize> = HashMap::new();
    let mut campaign_of: Vec<Option<usize>> = vec![None; mails.len()];

    // Campaign messages whose author the log shows.
    for (i, m) in mails.iter().enumerate() {
        if !grade(m.level) {
            continue;
        }
        let Some(a) = author(m) else { continue };
        let d = *by_author.entry(a.clone()).or_insert_with(|| {
            drafts.push(Draft {
                name: a.strip_prefix("persona ").unwrap_or(&a).to_owned(),
                ..Draft::default()
            });
            drafts.len() - 1
        });
        drafts[d].add_mail(i, m, Some(&a));
        campaign_of[i] = Some(d);
    }
    // Low-level messages of a known author or template.
    attach_low(mails, &by_author, &mut drafts, &mut campaign_of);
    // Hosts other senders mail: a fetch joined on the person alone to one of these is more
    // likely that sender's pixel.
    let mut others: BTreeSet<String> = BTreeSet::new();
    for (i, m) in mails.iter().enumerate() {
        if campaign_of[i].is_none() && !grade(m.level) {
            others.extend(m.urls.iter().filter_map(|u| domain_of(u)));
            others.extend(m.rare_domains.iter().cloned());
        }
    }
    let campaign_domains: BTreeSet<String> = drafts.iter().flat_map(|d| d.domains.iter().cloned()).collect();
    let plausible = |f: &Fetch| {
        f.url
            .as_deref()
            .and_then(domain_of)
            .is_none_or(|d| campaign_domains.contains(&d) || !others.contains(&d))
    };
    // Campaign messages that show only a mass mailer's bounce address; those without a
    // subject (a rejected copy) last, to find their mailer's campaign.
    // Each mail's joined fetches (the reverse of `Fetch::links`).
    let mut linked: HashMap<usize, Vec<(usize, Join)>> = HashMap::new();
    for (fi, f) in g.fetches.iter().enumerate() {
        for (&mi, &join) in &f.links {
            linked.entry(mi).or_default().push((fi, join));
        }
    }
    let mut unknown: Vec<usize> = (0..mails.len())
        .filter(|&i| grade(mails[i].level) && campaign_of[i].is_none())
        .collect();
    unknown.sort_by_key(|&i| mails[i].subjects.is_empty());
    for i in unknown {
        let m = &mails[i];
        let by_domain = m.sender_domains.iter().find_map(|d| by_author.get(d).copied());
        let by_subject = || {
            let t = m.time;
            drafts
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.mails.is_empty() && m.subjects.iter().any(|s| d.subjects.contains(s)))
                .min_by_key(|(_, d)| match (t, d.first(mails)) {
                    (Some(a), Some(b)) => (a.as_second() - b.as_second()).unsigned_abs(),
                    _ => u64::MAX,
                })
                .map(|(n, _)| n)
        };
        let by_tracker = || {
            linked.get(&i)?.iter().find_map(|&(fi, join)| {
                let f = &g.fetches[fi];
                if join == Join::Person && !plausible(f) {
                    return None;
                }
                let d = f.url.as_deref().and_then(domain_of)?;
                drafts
                    .iter()
                    .position(|c| c.domains.contains(&d) && !c.mails.is_empty())
            })
        };
        // The same mass mailer nearest in time (a rejected copy logs no subject).
        let by_mailer = || {
            let t = m.time?.as_second();
            drafts
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    d.mails
                        .iter()
                        .any(|&o| mails[o].sender_domains.iter().any(|s| m.sender_domains.contains(s)))
                })
                .filter_map(|(n, d)| Some(((t - d.first(mails)?.as_second()).unsigned_abs(), n)))
                .min()
                .map(|(_, n)| n)
        };
        let by_mailer = || if m.subjects.is_empty() { by_mailer() } else { None };
        let d = by_domain
            .or_else(by_subject)
            .or_else(by_tracker)
            .or_else(by_mailer)
            .unwrap_or_else(|| {
                let mailer = m
                    .sender_domains
                    .iter()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| "unknown sender".into());
                let subject = m.subjects.iter().next().cloned().unwrap_or_else(|| "no subject".into());
                let key = format!("mailer {mailer} {subject}");
                *by_author.entry(key).or_insert_with(|| {
                    drafts.push(Draft {
                        name: format!("{subject} (via {mailer})"),
                        ..Draft::default()
                    });
                    drafts.len() - 1
                })
            });
        drafts[d].add_mail(i, m, None);
        campaign_of[i] = Some(d);
    }
    attach_low(mails, &by_author, &mut drafts, &mut campaign_of);

    // Fetches. Campaign mails by the URL keys they carry.
    let mut by_url_key: HashMap<&str, usize> = HashMap::new();
    for (mi, m) in mails.iter().enumerate() {
        if campaign_of[mi].is_some() {
            for k in &m.url_keys {
                by_url_key.entry(k.as_str()).or_insert(mi);
            }
        }
    }
    for (fi, f) in g.fetches.iter().enumerate() {
        let mut taken = false;
        for (&mi, &join) in &f.links {
            let Some(d) = campaign_of[mi] else { continue };
            if join == Join::Person && !drafts[d].tracked_by(f, !plausible(f)) {
                drafts[d].set_aside += 1;
                continue;
            }
            drafts[d].fetches.push((fi, Some(mi), join.name()));
            taken = true;
        }
        // A fetch a correlation joined to mail is that mail's. Set aside (joined on the person
        // only, to a campaign it is no tracker of), it may still be another campaign's tracker
        // by what it carries, as a fetch no correlation joined: a person who got two lures,
        // one whose log shows nothing suspicious, fetched the other one's pixel.
        if taken {
            continue;
        }
        let joined = !f.links.is_empty();
        // No join: the mailed URL's identifiers, else the campaign's template or domain.
        let by_key = f.url_keys.iter().find_map(|k| by_url_key.get(k.as_str()).copied());
        if let Some(mi) = by_key {
            let d = campaign_of[mi].unwrap_or_default();
            drafts[d].fetches.push((fi, Some(mi), "url"));
            continue;
        }
        let host_domain = f.url.as_deref().and_then(domain_of);
        // A fetch set aside from a person's lure may be on the very host another campaign's
        // mails link to (a provider's per-account tracking host, `u4859878.ct.sendgrid.net`):
        // that person opened the other lure too, one whose log showed nothing suspicious.
        let host = f
            .url
            .as_deref()
            .filter(|_| joined)
            .and_then(url::host_of)
            .map(str::to_ascii_lowercase);
        let d = drafts.iter().position(|d| {
            !d.mails.is_empty()
                && (f.templates.iter().any(|t| d.templates.contains(t))
                    || host_domain.as_ref().is_some_and(|h| d.domains.contains(h))
                    || host.as_ref().is_some_and(|h| d.hosts.contains(h)))
        });
        let d = match d {
            Some(d) => Some(d),
            // A request an alert of medium level or above names on its own (intel, a URL
            // encoding the person's address): a campaign of its host.
            None if grade(f.level) && !joined => {
                let host = host_domain.clone().unwrap_or_else(|| "unknown host".into());
                let key = format!("web {host}");
                Some(*by_author.entry(key).or_insert_with(|| {
                    drafts.push(Draft {
                        name: format!("{host} (web requests only)"),
                        domains: host_domain.iter().cloned().collect(),
                        ..Draft::default()
                    });
                    drafts.len() - 1
                }))
            }
            None => None,
        };
        if let Some(d) = d {
            drafts[d].fetches.push((fi, None, "campaign"));
        }
    }

    finish(read, &g, drafts, watchlists)
}

/// Person facts: name, group, watch-listed.
struct People<'w> {
    watchlists: Option<&'w Watchlists>,
    /// Groups and listing the alerts themselves gave.
    from_alerts: HashMap<String, Option<String>>,
}

impl People<'_> {
    fn lookup(&self, email: &str) -> (bool, Option<String>, Option<String>) {
        if let Some(w) = self.watchlists {
            let mut listed = false;
            let (mut name, mut group) = (None, None);
            for m in w.lookup_email(email) {
                listed = true;
                if let Some(p) = m.person {
                    name = name.or_else(|| p.name().map(str::to_owned));
                    group = group.or_else(|| p.group().map(str::to_owned));
                }
            }
            if listed {
                return (true, name, group);
            }
        }
        match self.from_alerts.get(email) {
            Some(g) => (true, None, g.clone()),
            None => (false, None, None),
        }
    }

    /// The watch-listed person whose account or device made a request.
    fn owner(&self, f: &Fetch) -> Option<String> {
        if let Some(p) = f.people.keys().next() {
            return Some(p.clone());
        }
        let w = self.watchlists?;
        let by_user = f
            .user
            .as_deref()
            .and_then(|u| w.lookup_username(u).find_map(|m| m.person));
        let by_ip = || {
            f.ip.as_deref()
                .and_then(|ip| ip.parse().ok())
                .and_then(|ip| w.lookup_ip(ip).find_map(|m| m.person))
        };
        by_user.or_else(by_ip).map(|p| p.email().to_ascii_lowercase())
    }
}

const UNGROUPED: &str = "ungrouped";

fn finish(read: &Read, g: &Gathered, drafts: Vec<Draft>, watchlists: Option<&Watchlists>) -> Report {
    let mails = &g.mails;
    let mut from_alerts: HashMap<String, Option<String>> = HashMap::new();
    for p in mails
        .iter()
        .flat_map(|m| &m.people)
        .chain(g.fetches.iter().flat_map(|f| &f.people))
    {
        let slot = from_alerts.entry(p.0.clone()).or_default();
        if slot.is_none() {
            slot.clone_from(p.1);
        }
    }
    let people = People {
        watchlists,
        from_alerts,
    };

    // Campaigns in order of their first mail (or fetch).
    let first_of = |d: &Draft| {
        let fetch_first = d.fetches.iter().filter_map(|(f, _, _)| g.fetches[*f].time).min();
        min_time(d.first(mails), fetch_first)
    };
    let mut order: Vec<usize> = (0..drafts.len())
        .filter(|&d| !drafts[d].mails.is_empty() || !drafts[d].fetches.is_empty())
        .collect();
    order.sort_by_key(|&d| (first_of(&drafts[d]), drafts[d].name.clone()));
    let id_of: HashMap<usize, String> = order
        .iter()
        .enumerate()
        .map(|(n, &d)| (d, format!("C{}", n + 1)))
        .collect();

    let mut evidence_ids: HashMap<Evidence, usize> = HashMap::new();
    let mut evidence = |e: &Evidence| -> EvidenceRef {
        let next = evidence_ids.len() + 1;
        let id = *evidence_ids.entry(e.clone()).or_insert(next);
        EvidenceRef {
            id,
            file: e.file.clone(),
            offset: e.offset,
            dataset: e.dataset.clone(),
            original: e.original.clone(),
        }
    };

    let mut exposures: BTreeMap<String, Exposure> = BTreeMap::new();
    let exposure = |email: &str, exposures: &mut BTreeMap<String, Exposure>| {
        if !exposures.contains_key(email) {
            let (watchlisted, name, group) = people.lookup(email);
            exposures.insert(
                email.to_owned(),
                Exposure {
                    email: email.to_owned(),
                    name,
                    group,
                    watchlisted,
                    campaigns: Vec::new(),
                    messages: Vec::new(),
                    fetched: false,
                    fetches: Vec::new(),
                },
            );
        }
    };
    let mut campaigns = Vec::new();
    let mut purge = BTreeSet::new();
    let mut block = BTreeSet::new();
    let mut used_alerts: BTreeSet<usize> = BTreeSet::new();
    for &d in &order {
        let draft = &drafts[d];
        let id = id_of[&d].clone();
        let mut level = None;
        let mut alerts: BTreeSet<usize> = BTreeSet::new();
        let mut c = Campaign {
            id: id.clone(),
            name: draft.name.clone(),
            level: String::new(),
            first_seen: None,
            last_seen: None,
            senders: Vec::new(),
            personas: Vec::new(),
            sender_domains: Vec::new(),
            subjects: draft.subjects.iter().cloned().collect(),
            tracking_hosts: Vec::new(),
            url_templates: draft.templates.iter().cloned().collect(),
            messages: draft.mails.len(),
            message_ids: Vec::new(),
            targets_by_group: Vec::new(),
            targets: Vec::new(),
            unlisted_recipients: Vec::new(),
            fetches: 0,
            people_fetched: 0,
            set_aside: draft.set_aside,
            rules: Vec::new(),
            timeline: Vec::new(),
        };
        let (mut senders, mut personas, mut domains, mut hosts) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let (mut targets, mut unlisted) = (BTreeSet::new(), BTreeSet::new());
        let stamp = |t: Option<Timestamp>, c: &mut Campaign| {
            if let Some(t) = t {
                c.first_seen = Some(c.first_seen.map_or(t, |f| f.min(t)));
                c.last_seen = Some(c.last_seen.map_or(t, |l| l.max(t)));
            }
        };
        for &mi in &draft.mails {
            let m = &mails[mi];
            level = m.level.max(level);
            alerts.extend(m.alerts.iter().copied());
            stamp(m.time, &mut c);
            senders.extend(m.from.iter().cloned());
            personas.extend(m.from_names.iter().cloned());
            domains.extend(m.sender_domains.iter().cloned());
            hosts.extend(m.templates.iter().filter_map(|t| template_host(t)));
            if let Some(id) = &m.message_id {
                c.message_ids.push(id.clone());
            }
            if let Some(t) = m.time {
                c.timeline.push(Point { time: t, kind: "mail" });
            }
            let rejected = !m.actions.is_empty()
                && m.actions
                    .iter()
                    .all(|a| a.starts_with("reject") || a.starts_with("bounce") || a == "fail");
            if !rejected && let Some(id) = &m.message_id {
                purge.insert(id.clone());
            }
            let sender = m
                .from
                .iter()
                .find(|f| !is_bounce_address(f))
                .or(m.from.iter().next())
                .cloned();
            let evidence_list: Vec<EvidenceRef> = m.evidence.iter().map(&mut evidence).collect();
            for r in &m.recipients {
                exposure(r, &mut exposures);
                let e = exposures.get_mut(r).expect("just inserted");
                if !e.watchlisted {
                    unlisted.insert(r.clone());
                    exposures.remove(r);
                    continue;
                }
                targets.insert(r.clone());
                e.messages.push(MessageRef {
                    campaign: id.clone(),
                    time: m.time,
                    message_id: m.message_id.clone(),
                    subject: m.subjects.iter().next().cloned(),
                    sender: sender.clone(),
                    outcome: if rejected { "rejected" } else { "delivered" },
                    evidence: evidence_list.clone(),
                });
            }
        }
        let mut fetched_people = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for &(fi, mi, join) in &draft.fetches {
            let f = &g.fetches[fi];
            level = f.level.max(level);
            alerts.extend(f.alerts.iter().copied());
            stamp(f.time, &mut c);
            let mail = mi.map(|mi| &mails[mi]);
            let kind = fetch_kind(f, &mail.into_iter().collect::<Vec<_>>(), join);
            if let Some(t) = f.time {
                c.timeline.push(Point { time: t, kind });
            }
            let host = f
                .url
                .as_deref()
                .map(|u| url::site(u, None).host().to_owned())
                .filter(|h| !h.is_empty());
            hosts.extend(host.iter().cloned());
            let owner = people.owner(f);
            // The person whose identity the fetch gave away: the recipient of the mail whose
            // tracker it was, else the device's owner.
            let recipients: Vec<&String> = mail.map_or_else(Vec::new, |m| {
                m.recipients
                    .iter()
                    .filter(|r| exposures.contains_key(*r) || people.lookup(r).0)
                    .collect()
            });
            let target = match (&owner, recipients.as_slice()) {
                (Some(o), rs) if rs.contains(&o) => Some(o.clone()),
                (_, [first, ..]) => Some((*first).clone()),
                (Some(o), []) => Some(o.clone()),
                (None, []) => None,
            };
            let target = target.unwrap_or_else(|| {
                format!(
                    "unidentified device {}",
                    f.user
                        .as_deref()
                        .or(f.ip.as_deref())
                        .unwrap_or("(no user or address logged)")
                )
            });
            if !seen.insert((target.clone(), fi)) {
                continue;
            }
            exposure(&target, &mut exposures);
            fetched_people.insert(target.clone());
            let ua = f.user_agent.clone();
            let device = agent::parse(ua.as_deref().unwrap_or(""));
            let e = exposures.get_mut(&target).expect("just inserted");
            e.fetched = true;
            e.fetches.push(FetchRef {
                campaign: id.clone(),
                time: f.time,
                kind,
                url: f.url.clone(),
                host,
                source_ip: f.ip.clone(),
                user: f.user.clone(),
                user_agent: ua,
                device,
                join,
                message_id: mail.and_then(|m| m.message_id.clone()),
                device_of: owner.filter(|o| *o != target),
                evidence: evidence(&f.evidence),
            });
            c.fetches += 1;
        }
        for h in &hosts {
            if domain_of(h).is_some_and(|d| draft.domains.contains(&d)) {
                block.insert(h.clone());
            }
        }
        c.people_fetched = fetched_people.len();
        c.level = level.map_or("informational", |l| l.name()).to_owned();
        // Bounce addresses (one per message, VERP) are counted per mailer, not listed.
        let mut bounces: BTreeMap<String, usize> = BTreeMap::new();
        c.senders = senders
            .into_iter()
            .filter(|s| {
                let bounce = is_bounce_address(s);
                if bounce {
                    let at = s.rsplit_once('@').map_or("", |(_, d)| d);
                    *bounces.entry(at.to_owned()).or_default() += 1;
                }
                !bounce
            })
            .collect();
        c.senders
            .extend(bounces.into_iter().map(|(d, n)| format!("{n} bounce address(es) @{d}")));
        c.personas = personas.into_iter().collect();
        c.sender_domains = domains.into_iter().collect();
        c.tracking_hosts = hosts.into_iter().collect();
        c.message_ids.sort();
        c.message_ids.dedup();
        c.targets = targets.into_iter().collect();
        c.unlisted_recipients = unlisted.into_iter().collect();
        c.targets_by_group = by_group(
            c.targets
                .iter()
                .map(|t| (group_of(&exposures, t), true, fetched_people.contains(t))),
        );
        let mut rules: BTreeMap<(String, Level), usize> = BTreeMap::new();
        for &a in &alerts {
            let a = &read.alerts[a];
            *rules.entry((a.title.clone(), a.level)).or_default() += 1;
        }
        let mut rules: Vec<_> = rules.into_iter().collect();
        rules.sort_by(|a, b| b.0.1.cmp(&a.0.1).then(b.1.cmp(&a.1)).then(a.0.0.cmp(&b.0.0)));
        c.rules = rules
            .into_iter()
            .map(|((title, level), n)| RuleCount {
                title,
                level: level.name().to_owned(),
                alerts: n,
            })
            .collect();
        c.timeline.sort_by_key(|p| (p.time, p.kind));
        used_alerts.extend(alerts);
        campaigns.push(c);
    }

    for e in exposures.values_mut() {
        e.messages
            .sort_by(|a, b| (a.time, &a.campaign).cmp(&(b.time, &b.campaign)));
        e.fetches
            .sort_by(|a, b| (a.time, &a.campaign).cmp(&(b.time, &b.campaign)));
        let mut ids: Vec<String> = e
            .messages
            .iter()
            .map(|m| m.campaign.clone())
            .chain(e.fetches.iter().map(|f| f.campaign.clone()))
            .collect();
        ids.sort_by_key(|c| c.trim_start_matches('C').parse::<usize>().unwrap_or(0));
        ids.dedup();
        e.campaigns = ids;
    }
    let mut people_list: Vec<Exposure> = exposures.into_values().collect();
    people_list.sort_by(|a, b| {
        b.fetched
            .cmp(&a.fetched)
            .then(a.group.cmp(&b.group))
            .then(a.name.cmp(&b.name))
            .then(a.email.cmp(&b.email))
    });
    let reached: Vec<&Exposure> = people_list.iter().filter(|p| !p.messages.is_empty()).collect();
    let summary = Summary {
        campaigns: campaigns.len(),
        messages: campaigns.iter().map(|c| c.messages).sum(),
        people_reached: reached.len(),
        people_fetched: people_list.iter().filter(|p| p.fetched).count(),
        by_group: by_group(
            people_list
                .iter()
                .filter(|p| !p.messages.is_empty() || p.fetched)
                .map(|p| {
                    let group = p.group.clone().unwrap_or_else(|| UNGROUPED.into());
                    (group, !p.messages.is_empty(), p.fetched)
                }),
        ),
        first_seen: campaigns.iter().filter_map(|c| c.first_seen).min(),
        last_seen: campaigns.iter().filter_map(|c| c.last_seen).max(),
    };
    let actions = Actions {
        notify: people_list
            .iter()
            .filter(|p| p.watchlisted && (p.fetched || !p.messages.is_empty()))
            .map(|p| p.email.clone())
            .collect(),
        block_hosts: block.into_iter().collect(),
        purge_message_ids: purge.into_iter().collect(),
    };
    let input = InputSummary {
        inputs: read.inputs.clone(),
        alerts: read.alerts.len() as u64,
        alerts_unused: (read.alerts.len() - used_alerts.len()) as u64,
        skipped_lines: read.skipped_total,
        skipped: read.skipped.clone(),
    };
    Report {
        version: VERSION,
        summary,
        actions,
        campaigns,
        people: people_list,
        input,
    }
}

fn group_of(exposures: &BTreeMap<String, Exposure>, email: &str) -> String {
    exposures
        .get(email)
        .and_then(|e| e.group.clone())
        .unwrap_or_else(|| UNGROUPED.into())
}

/// Counts (group, reached, fetched) per group, largest group first.
fn by_group(people: impl Iterator<Item = (String, bool, bool)>) -> Vec<GroupCount> {
    let mut m: BTreeMap<String, GroupCount> = BTreeMap::new();
    for (group, reached, fetched) in people {
        let c = m.entry(group.clone()).or_insert_with(|| GroupCount {
            group,
            ..GroupCount::default()
        });
        c.reached += usize::from(reached);
        c.fetched += usize::from(fetched);
    }
    let mut v: Vec<GroupCount> = m.into_values().collect();
    v.sort_by(|a, b| {
        (b.reached, b.fetched)
            .cmp(&(a.reached, a.fetched))
            .then(a.group.cmp(&b.group))
    });
    v
}
