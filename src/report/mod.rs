//! The campaign exposure report (`reconwatch report`): alerts in, an answer for a security
//! office out — which campaigns reached whom, whose device fetched a tracker (so the sender
//! learned their address, network and device), when, and what to do.
//!
//! Alerts are read by [`read`] (bad lines skipped, counted and named), grouped by [`build`]
//! into campaigns and per-person exposure (the [`Report`] model, which is also the JSON
//! output's schema), and written by [`html`] (one self-contained file: inline CSS and SVG drawn
//! here, no script, nothing fetched), [`text`] (Markdown for tickets, CSV of the people to
//! notify) or serde (JSON).
//!
//! Everything from alerts is attacker-controlled text (subjects, display names, URLs): the HTML
//! writer escapes every value it prints. Nothing here panics on any input.

pub mod agent;
pub mod build;
pub mod html;
pub mod read;
mod svg;
pub mod text;

use jiff::Timestamp;
use serde::Serialize;

pub use build::build;
pub use read::{InputCount, Read, Skip};

/// The version of the JSON document ([`Report`]); raised when a field changes meaning or goes.
pub const VERSION: u32 = 1;

/// The report. As JSON (`--format json`), one object with these fields, version [`VERSION`]:
///
/// - `version` (number), `summary` ([`Summary`]), `actions` ([`Actions`]),
/// - `campaigns` (list of [`Campaign`], oldest first), `people` (list of [`Exposure`]: every
///   watch-listed person a campaign reached, and anyone whose device fetched a tracker; those
///   whose device fetched one first),
/// - `input` ([`InputSummary`]: what was read and what was skipped).
///
/// Times are RFC 3339 UTC strings; absent values are left out, lists may be empty.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub summary: Summary,
    pub actions: Actions,
    pub campaigns: Vec<Campaign>,
    pub people: Vec<Exposure>,
    pub input: InputSummary,
}

/// The first lines a reader sees.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub campaigns: usize,
    /// Distinct campaign messages.
    pub messages: usize,
    /// Watch-listed people a campaign's mail was addressed to.
    pub people_reached: usize,
    /// People whose device fetched a campaign's tracker (pixel, link or tracking host).
    pub people_fetched: usize,
    /// The same two counts per watchlist group (`ungrouped` for people without one).
    pub by_group: Vec<GroupCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
}

/// People reached and people whose device fetched a tracker, in one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupCount {
    pub group: String,
    pub reached: usize,
    pub fetched: usize,
}

/// What to do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Actions {
    /// Addresses of the people to notify, those whose device fetched a tracker first.
    pub notify: Vec<String>,
    /// Hosts to block at the web gateway: the campaigns' tracking hosts on their own domains
    /// (shared services such as link shorteners or cloud storage are not listed whole).
    pub block_hosts: Vec<String>,
    /// Message ids of the lure mails to purge from mailboxes.
    pub purge_message_ids: Vec<String>,
}

/// One campaign: mail from one author (a sending domain, or a free-mail persona), or, when
/// the log shows only a mass mailer's bounce address, joined to the author whose mail has the
/// same subject or whose tracker the recipient fetched; else one mailer and subject.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// `C1`, `C2`, ... in order of first mail.
    pub id: String,
    /// The author domain, the persona's address, or `SUBJECT (via MAILER)`.
    pub name: String,
    /// The highest rule level among its alerts.
    pub level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Sender addresses (header From, else envelope); a mass mailer's bounce addresses as
    /// one entry, `N bounce address(es) @DOMAIN`.
    pub senders: Vec<String>,
    /// Display names of the senders.
    pub personas: Vec<String>,
    /// Registered domains the mail came from (author or mass mailer).
    pub sender_domains: Vec<String>,
    /// Lure subjects.
    pub subjects: Vec<String>,
    /// Hosts of its tracking URLs, mailed or fetched.
    pub tracking_hosts: Vec<String>,
    /// Tracking-URL templates (identifiers replaced by placeholders).
    pub url_templates: Vec<String>,
    /// Distinct messages.
    pub messages: usize,
    pub message_ids: Vec<String>,
    /// Watch-listed people it reached, by group.
    pub targets_by_group: Vec<GroupCount>,
    /// Watch-listed people it reached.
    pub targets: Vec<String>,
    /// Addressed people who are on no watchlist (a stale address, a colleague in copy).
    pub unlisted_recipients: Vec<String>,
    /// Tracker fetches (pixel opens, link clicks, tracking-host contacts).
    pub fetches: usize,
    /// People whose device fetched its tracker.
    pub people_fetched: usize,
    /// Fetches after its mail joined on the person only that are not its tracker's (on no
    /// host its mails link to; for a campaign whose logs show no URL, on a host another sender
    /// mails): left out of its exposure (likely another mail's pixel).
    pub set_aside: usize,
    /// Rules that raised its alerts, with counts.
    pub rules: Vec<RuleCount>,
    /// Its mails and fetches in time order (for the timeline).
    pub timeline: Vec<Point>,
}

/// A rule and how many of a campaign's alerts it raised.
#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub title: String,
    pub level: String,
    pub alerts: usize,
}

/// One mail or fetch on a campaign's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub time: Timestamp,
    /// `mail`, `open`, `click`, `contact` or `asset`.
    pub kind: &'static str,
}

/// One person's exposure.
#[derive(Debug, Clone, Serialize)]
pub struct Exposure {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// On a watchlist (given with `--watchlist`, or as the alerts say).
    pub watchlisted: bool,
    /// Ids of the campaigns that reached them or whose tracker their device fetched.
    pub campaigns: Vec<String>,
    /// Campaign mail addressed to them.
    pub messages: Vec<MessageRef>,
    /// Whether their device fetched a tracker.
    pub fetched: bool,
    pub fetches: Vec<FetchRef>,
}

/// A campaign message as one recipient got it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRef {
    pub campaign: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// `delivered` or `rejected` (as the mail log says).
    pub outcome: &'static str,
    pub evidence: Vec<EvidenceRef>,
}

/// A fetch of a campaign's tracker by a person's device.
#[derive(Debug, Clone, Serialize)]
pub struct FetchRef {
    pub campaign: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    /// `open` (a pixel or image with identifiers), `click` (a link), `contact` (the log hides
    /// the URL: a TLS tunnel or a stripped query) or `asset` (an image or page of the
    /// campaign's site without identifiers: the sender learned an address and a time).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The proxy user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub device: agent::Agent,
    /// How the fetch was tied to the mail: `url` (the mailed URL's identifiers), `site` (the
    /// mailed site, the log hiding the URL), `person` (the recipient's device after the mail,
    /// nothing proving which pixel), `campaign` (the campaign's tracking URL or host, no
    /// message known).
    pub join: &'static str,
    /// The message whose tracker it was, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// When the device is another watch-listed person's (a forwarded mail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_of: Option<String>,
    pub evidence: EvidenceRef,
}

/// Where the evidence is: log file, offset and the logged text.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceRef {
    /// A number unique in the report (the HTML anchors `#ev-N`).
    pub id: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Which log (`event.dataset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// `event.original`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

/// What was read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputSummary {
    pub inputs: Vec<InputCount>,
    /// Alerts read.
    pub alerts: u64,
    /// Alerts that named nothing of a campaign (benign-looking tracking, low level).
    pub alerts_unused: u64,
    /// Lines that were not alerts of this version.
    pub skipped_lines: u64,
    /// The first of them, with the reason.
    pub skipped: Vec<Skip>,
}
