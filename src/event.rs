//! The normalized [`Event`] every stage agrees on, with Elastic Common Schema (ECS) field names.
//!
//! An event borrows its text from the line it was parsed from (`Cow::Borrowed`); only events that
//! outlive their line, such as a mail message assembled from many lines, own their strings. The
//! struct nests like ECS so that `serde_json` writes nested ECS JSON directly, and empty objects and
//! fields are left out. [`Field`] names every field by its dotted ECS name so that later stages
//! (rules, correlation, tests) can read any field without knowing the struct layout, and
//! [`FieldSet`] says which fields the event's log format records at all (the difference between
//! Sigma's `''` and `null`).
//!
//! This module must never parse input: parsers fill events, the pipeline fills `log.*`.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::Serialize;

/// A string borrowed from the input line, or owned when it had to be built.
pub type Str<'a> = Cow<'a, str>;

fn is_none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

macro_rules! ecs_object {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct $name<'a> {
            $(
                $(#[$fmeta])*
                #[serde(skip_serializing_if = "is_none")]
                pub $field: Option<$ty>,
            )*
        }
        impl $name<'_> {
            /// True when no field is set (the object is then left out of the JSON).
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_none())*
            }
        }
    };
}

ecs_object!(
    /// `event.*`: what kind of record this is and the input it came from.
    EventMeta {
        /// `event.dataset`, such as `squid.access` or `postfix.log`.
        dataset: Str<'a>,
        /// `event.action`: the gateway's own verb (`RECEIVE`, `reject`, `TCP_MISS`, `Blocked`).
        action: Str<'a>,
        /// `event.outcome`: `success`, `failure` or `unknown`.
        outcome: Str<'a>,
        /// `event.reason`: why the gateway decided as it did, in its own words (the text of an
        /// SMTP rejection, such as `no HELO/EHLO given`), where the log gives one.
        reason: Str<'a>,
        /// `event.duration` in nanoseconds.
        duration: u64,
        /// `event.original`: the input line exactly; for an assembled mail message, its lines
        /// joined by `\n`.
        original: Str<'a>,
    }
);

ecs_object!(
    /// `log.file.*`.
    LogFile {
        /// `log.file.path`: the input as given on the command line (`-` for stdin).
        path: Str<'a>,
    }
);

/// `log.*`: where in the input the event starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Log<'a> {
    #[serde(skip_serializing_if = "LogFile::is_empty")]
    pub file: LogFile<'a>,
    /// `log.offset`: byte offset of the (first) line's start in the decompressed input.
    #[serde(skip_serializing_if = "is_none")]
    pub offset: Option<u64>,
}

impl Log<'_> {
    pub fn is_empty(&self) -> bool {
        self.file.is_empty() && self.offset.is_none()
    }
}

ecs_object!(
    /// `host.*`: the machine that wrote the log (from a syslog header or the record).
    Host {
        hostname: Str<'a>,
    }
);

ecs_object!(
    /// `process.*`: the program that wrote the line (from a syslog header).
    Process {
        name: Str<'a>,
        pid: u32,
    }
);

ecs_object!(
    /// `source.*` and `destination.*`.
    Endpoint {
        /// The address as logged: an IP, a host name or a socket path.
        address: Str<'a>,
        ip: IpAddr,
        port: u16,
        /// A host name reported beside the address (such as the client's reverse DNS or HELO name).
        domain: Str<'a>,
        /// `source.bytes` / `destination.bytes`: bytes sent by that side.
        bytes: u64,
    }
);

/// `network.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Network {
    /// `network.forwarded_ip`: the client address a front end reported in `X-Forwarded-For`
    /// (its first, original-client entry) when the logged client is that front end.
    #[serde(skip_serializing_if = "is_none")]
    pub forwarded_ip: Option<IpAddr>,
}

impl Network {
    pub fn is_empty(&self) -> bool {
        self.forwarded_ip.is_none()
    }
}

ecs_object!(
    /// `user.*`.
    User {
        name: Str<'a>,
        email: Str<'a>,
    }
);

ecs_object!(
    /// `url.*`: the requested URL split into its parts (parts borrow from `original`).
    Url {
        original: Str<'a>,
        scheme: Str<'a>,
        domain: Str<'a>,
        port: u16,
        path: Str<'a>,
        query: Str<'a>,
        fragment: Str<'a>,
        /// The file extension of the last path segment, without the dot, as written.
        extension: Str<'a>,
    }
);

ecs_object!(
    /// `http.request.*`.
    HttpRequest {
        method: Str<'a>,
        referrer: Str<'a>,
        /// `http.request.cookie`: the Cookie header as logged. Not an ECS field (ECS has none);
        /// Sigma's proxy taxonomy tests it as `cs-cookie`.
        cookie: Str<'a>,
        /// `http.request.mime_type`: the request's Content-Type.
        mime_type: Str<'a>,
        /// `http.request.bytes`: request size in bytes.
        bytes: u64,
    }
);

ecs_object!(
    /// `http.response.*`.
    HttpResponse {
        status_code: u16,
        /// `http.response.bytes`: the total response size in bytes, headers included when the
        /// gateway counts them.
        bytes: u64,
        mime_type: Str<'a>,
    }
);

/// `http.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Http<'a> {
    #[serde(skip_serializing_if = "HttpRequest::is_empty")]
    pub request: HttpRequest<'a>,
    #[serde(skip_serializing_if = "HttpResponse::is_empty")]
    pub response: HttpResponse<'a>,
    #[serde(skip_serializing_if = "is_none")]
    pub version: Option<Str<'a>>,
}

impl Http<'_> {
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty() && self.version.is_none()
    }
}

ecs_object!(
    /// `user_agent.*`.
    UserAgent {
        original: Str<'a>,
    }
);

ecs_object!(
    /// One address field of `email.*` (`email.from.address`, `email.sender.address`, ...).
    EmailAddress {
        address: Str<'a>,
        /// The display name (`"Sophie Lang | BBC News"` of `From: "Sophie Lang | BBC News"
        /// <s.lang@x.example>`), unquoted and decoded, where the log records the header. Not
        /// ECS (ECS has no display names); reconwatch's sender analysis reads it.
        name: Str<'a>,
    }
);

/// `email.to.*`: the recipients, in the order the log reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmailRecipients<'a> {
    pub address: Vec<Str<'a>>,
}

impl EmailRecipients<'_> {
    pub fn is_empty(&self) -> bool {
        self.address.is_empty()
    }
}

/// `email.*`: one message as a mail gateway reports it.
///
/// `email.urls` is not an ECS field (ECS has none for the links a message carries); reconwatch adds
/// it for the URLs a mail log reports for a message (Proofpoint `msgParts[].urls`, Mimecast TTP,
/// Postfix `header_checks`/`body_checks` lines).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Email<'a> {
    #[serde(skip_serializing_if = "EmailAddress::is_empty")]
    pub from: EmailAddress<'a>,
    #[serde(skip_serializing_if = "EmailAddress::is_empty")]
    pub sender: EmailAddress<'a>,
    #[serde(skip_serializing_if = "EmailAddress::is_empty")]
    pub reply_to: EmailAddress<'a>,
    #[serde(skip_serializing_if = "EmailRecipients::is_empty")]
    pub to: EmailRecipients<'a>,
    #[serde(skip_serializing_if = "is_none")]
    pub subject: Option<Str<'a>>,
    #[serde(skip_serializing_if = "is_none")]
    pub message_id: Option<Str<'a>>,
    /// `email.local_id`: the gateway's own id for the message (Postfix/Sendmail queue id, Exim
    /// message id, Exchange internal id).
    #[serde(skip_serializing_if = "is_none")]
    pub local_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "is_none")]
    pub x_mailer: Option<Str<'a>>,
    /// `email.direction`: `inbound`, `outbound` or `internal`.
    #[serde(skip_serializing_if = "is_none")]
    pub direction: Option<Str<'a>>,
    /// Message size in bytes, where the gateway logs it (not ECS; ECS has none).
    #[serde(skip_serializing_if = "is_none")]
    pub size: Option<u64>,
    /// `email.urls` (reconwatch extension, see the type's documentation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<Str<'a>>,
}

impl Email<'_> {
    pub fn is_empty(&self) -> bool {
        self.from.is_empty()
            && self.sender.is_empty()
            && self.reply_to.is_empty()
            && self.to.is_empty()
            && self.subject.is_none()
            && self.message_id.is_none()
            && self.local_id.is_none()
            && self.x_mailer.is_none()
            && self.direction.is_none()
            && self.size.is_none()
            && self.urls.is_empty()
    }
}

/// A computed true/false: `None` until the enrichment stage decides it. Rules read it as the
/// text `true` or `false`; the JSON output shows only `true` (absent means false or not computed).
pub type Flag = Option<bool>;

fn not_true(f: &Flag) -> bool {
    *f != Some(true)
}

/// A computed list of strings (owned: computed values never borrow from the input line).
pub type Computed = Vec<Str<'static>>;

macro_rules! computed_object {
    ($(#[$meta:meta])* $name:ident {
        $(flags { $($(#[$bmeta:meta])* $flag:ident,)* })?
        $(texts { $($(#[$tmeta:meta])* $text:ident,)* })?
        $(lists { $($(#[$lmeta:meta])* $list:ident,)* })?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct $name {
            $($($(#[$bmeta])* #[serde(skip_serializing_if = "not_true")] pub $flag: Flag,)*)?
            $($($(#[$tmeta])* #[serde(skip_serializing_if = "is_none")] pub $text: Option<Str<'static>>,)*)?
            $($($(#[$lmeta])* #[serde(skip_serializing_if = "Vec::is_empty")] pub $list: Computed,)*)?
        }
        impl $name {
            /// True when nothing would be serialized.
            pub fn is_empty(&self) -> bool {
                true $($(&& not_true(&self.$flag))*)? $($(&& self.$text.is_none())*)? $($(&& self.$list.is_empty())*)?
            }
        }
    };
}

computed_object!(
    /// `reconwatch.person.*`: the watch-listed people this event concerns — a mail's recipients,
    /// a web request's user (`user.name`, `user.email`) or client (`source.ip`,
    /// `network.forwarded_ip`).
    ComputedPerson {
        flags {
            /// `reconwatch.person.high_risk`: at least one of them is on a watchlist.
            high_risk,
        }
        lists {
            /// `reconwatch.person.watchlist`: the names of the lists they are on.
            watchlist,
            /// `reconwatch.person.email`: their addresses (for a CSV entry, its `email` column;
            /// so a web request found by user name or IP names the person's address).
            email,
            /// `reconwatch.person.group`: the `group` column of their CSV entries.
            group,
        }
    }
);

computed_object!(
    /// `reconwatch.url.*`: analysis of every URL the event carries (`url.original`,
    /// `email.urls`).
    ComputedUrl {
        flags {
            /// `reconwatch.url.pixel`: a URL looks like a tracking pixel (image name or
            /// extension, pixel/open/track/beacon words, `image/*` response, tiny body).
            pixel,
            /// `reconwatch.url.has_token`: a URL carries a token-like value (long, high-entropy
            /// path segment or query value).
            has_token,
            /// `reconwatch.url.shortener`: a URL is on a link shortener.
            shortener,
            /// `reconwatch.url.redirector`: a URL is an open redirector carrying another URL.
            redirector,
            /// `reconwatch.url.unknown_domain`: a URL's registered domain is on no shipped
            /// list (news outlet, email service provider, well-known site) and is not the
            /// organisation's own.
            unknown_domain,
        }
        lists {
            /// `reconwatch.url.registered_domain`: the registered domains (Public Suffix List).
            registered_domain,
            /// `reconwatch.url.tokens`: the token-like values.
            tokens,
            /// `reconwatch.url.template`: each tokened URL with its tokens replaced by
            /// placeholders (`https://x.example/p.gif?id={b62:16}`), grouping one campaign.
            template,
            /// `reconwatch.url.recipient_encoding`: how a URL encodes the address of a person
            /// the event concerns (`plain`, `url`, `base64`, `base64url`, `hex`, `md5`, `sha1`,
            /// `sha256`).
            recipient_encoding,
            /// `reconwatch.url.lookalike`: protected domains a URL's domain imitates.
            lookalike,
            /// `reconwatch.url.key`: per URL with identifiers on a site that is not known to be
            /// safe, its registered domain and identifiers (`brand.example/kw3ue9/H6jS30rk`):
            /// the same for the copy in a mail and the request that fetches it.
            key,
            /// `reconwatch.url.rare_domain`: the registered domains of the URLs that are on no
            /// list (the unknown ones).
            rare_domain,
        }
    }
);

computed_object!(
    /// `reconwatch.sender.*`: who the mail claims to be from (header `From`, else the envelope
    /// sender), against the shipped news-outlet, email-service-provider and free-mail lists.
    ComputedSender {
        flags {
            /// `reconwatch.sender.external`: the sending domain is not the organisation's own.
            external,
            /// `reconwatch.sender.esp`: it is a well-known email service provider's.
            esp,
            /// `reconwatch.sender.freemail`: it is a free-mail provider's.
            freemail,
            /// `reconwatch.sender.bulk`: sent by a bulk mailer: the envelope sender is a
            /// bounce-handling (VERP) address (`bounce-…@`, `…+bounces@`, `msprvs1=…`) or an
            /// email service provider's. A person writing in person never sends so.
            bulk,
            /// `reconwatch.sender.journalist`: the display name or local part says
            /// journalist, reporter, correspondent, editor, newsroom or press.
            journalist,
            /// `reconwatch.sender.reply_to_mismatch`: Reply-To is another registered domain.
            reply_to_mismatch,
            /// `reconwatch.sender.envelope_mismatch`: the envelope sender (Return-Path) is
            /// another registered domain than the header From.
            envelope_mismatch,
            /// `reconwatch.sender.invented_outlet`: an unknown sending domain dressed as a news
            /// outlet: news words in its name, and a persona (a person's name with a brand, a
            /// journalist's title) or a press pretext in the subject.
            invented_outlet,
        }
        texts {
            /// `reconwatch.sender.domain`: the registered domain it sends from.
            domain,
            /// `reconwatch.sender.outlet`: the news outlet whose own domain that is.
            outlet,
            /// `reconwatch.sender.claimed_outlet`: a news outlet the mail names (display name,
            /// local part, or subject start) while sent from another domain than the outlet's.
            claimed_outlet,
            /// `reconwatch.sender.claim_via`: where: `display_name`, `local_part`, `subject`.
            claim_via,
            /// `reconwatch.sender.lookalike`: the protected domain the sending domain imitates.
            lookalike,
            /// `reconwatch.sender.lookalike_method`: `punycode`, `confusable`,
            /// `edit_distance`, `added_word`, `tld_swap` or `subdomain`.
            lookalike_method,
            /// `reconwatch.sender.service`: the email service provider that carried the mail
            /// (its envelope sender or sending host is the provider's), whoever the author is.
            service,
        }
    }
);

computed_object!(
    /// `reconwatch.intel.*`: indicators of compromise that matched (the details are in ECS
    /// `threat.enrichments`).
    ComputedIntel {
        flags {
            /// `reconwatch.intel.hit`: at least one indicator matched.
            hit,
        }
        lists {
            /// `reconwatch.intel.indicator`: the matching indicators as stored.
            indicator,
            /// `reconwatch.intel.source`: their sources (`meta.source`).
            source,
        }
    }
);

/// `reconwatch.*`: the fields the enrichment stage computes (see `rules/README.md`). Empty
/// until the enrichment stage ran over the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reconwatch {
    #[serde(skip_serializing_if = "ComputedPerson::is_empty")]
    pub person: ComputedPerson,
    #[serde(skip_serializing_if = "ComputedUrl::is_empty")]
    pub url: ComputedUrl,
    #[serde(skip_serializing_if = "ComputedSender::is_empty")]
    pub sender: ComputedSender,
    #[serde(skip_serializing_if = "ComputedIntel::is_empty")]
    pub intel: ComputedIntel,
}

impl Reconwatch {
    pub fn is_empty(&self) -> bool {
        self.person.is_empty() && self.url.is_empty() && self.sender.is_empty() && self.intel.is_empty()
    }
}

/// An ECS `threat.enrichments` entry: the indicator that matched and the context of the match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrichment {
    /// `threat.enrichments.indicator.*`.
    pub indicator: EnrichmentIndicator,
    /// `threat.enrichments.matched.*`.
    pub matched: EnrichmentMatched,
}

/// `threat.enrichments.indicator.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrichmentIndicator {
    /// `.type`: `domain-name`, `url`, `email-addr`, `ipv4-addr`, `ipv6-addr`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `.provider`: the intel source (`meta.source`).
    pub provider: String,
    /// `.description` (`meta.desc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `.reference` (`meta.url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `.name`: the indicator as stored (a subnet in CIDR notation).
    pub name: String,
    /// `.ip`, for address indicators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// `.email.address`, for e-mail indicators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EcsEmail>,
    /// `.url.original` (URL indicators) or `.url.domain` (domain indicators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<EcsUrl>,
}

/// `threat.enrichments.indicator.email.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EcsEmail {
    /// `.address`.
    pub address: String,
}

/// `threat.enrichments.indicator.url.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EcsUrl {
    /// `.original`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// `.domain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `threat.enrichments.matched.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrichmentMatched {
    /// `.atomic`: the event's value that matched.
    pub atomic: String,
    /// `.field`: the event field that held it.
    pub field: String,
    /// `.type`: always `indicator_match_rule`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// ECS `threat.*`: the indicator matches the enrichment stage found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Threat {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enrichments: Vec<Enrichment>,
}

impl Threat {
    pub fn is_empty(&self) -> bool {
        self.enrichments.is_empty()
    }
}

/// One normalized record. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "@timestamp", skip_serializing_if = "is_none")]
    pub timestamp: Option<Timestamp>,
    pub event: EventMeta<'a>,
    #[serde(skip_serializing_if = "Log::is_empty")]
    pub log: Log<'a>,
    #[serde(skip_serializing_if = "Host::is_empty")]
    pub host: Host<'a>,
    #[serde(skip_serializing_if = "Process::is_empty")]
    pub process: Process<'a>,
    #[serde(skip_serializing_if = "Endpoint::is_empty")]
    pub source: Endpoint<'a>,
    #[serde(skip_serializing_if = "Endpoint::is_empty")]
    pub destination: Endpoint<'a>,
    #[serde(skip_serializing_if = "Network::is_empty")]
    pub network: Network,
    #[serde(skip_serializing_if = "User::is_empty")]
    pub user: User<'a>,
    #[serde(skip_serializing_if = "Url::is_empty")]
    pub url: Url<'a>,
    #[serde(skip_serializing_if = "Http::is_empty")]
    pub http: Http<'a>,
    #[serde(skip_serializing_if = "UserAgent::is_empty")]
    pub user_agent: UserAgent<'a>,
    #[serde(skip_serializing_if = "Email::is_empty")]
    pub email: Email<'a>,
    #[serde(skip_serializing_if = "Threat::is_empty")]
    pub threat: Threat,
    /// Computed fields (not ECS): see [`Reconwatch`].
    #[serde(skip_serializing_if = "Reconwatch::is_empty")]
    pub reconwatch: Reconwatch,
    /// The fields the line's format records, whether or not this line gave them a value (see
    /// [`FieldSet`]). Never serialized.
    #[serde(skip)]
    pub recorded: FieldSet,
    /// What kind of record this is (set by the parser with [`Event::set_dataset`], which also
    /// writes `event.dataset`). Never serialized: `event.dataset` is its name.
    #[serde(skip)]
    pub dataset: Option<Dataset>,
}

impl<'a> Event<'a> {
    /// A new, empty event of the given dataset.
    pub fn new(dataset: Dataset) -> Self {
        let mut ev = Event::default();
        ev.set_dataset(dataset);
        ev
    }

    /// Sets what kind of record this is, and `event.dataset` to its name.
    pub fn set_dataset(&mut self, dataset: Dataset) {
        self.dataset = Some(dataset);
        self.event.dataset = Some(Cow::Borrowed(dataset.name()));
    }

    /// Web request or mail; `None` for an event no parser placed (ECS input with neither).
    pub fn family(&self) -> Option<Family> {
        self.dataset.map(Dataset::family)
    }

    /// Copies every borrowed string so the event can outlive its input line.
    pub fn into_owned(self) -> Event<'static> {
        // Serialization round trips would lose types; a field-by-field copy keeps them.
        fn o(s: Option<Str<'_>>) -> Option<Str<'static>> {
            s.map(|s| Cow::Owned(s.into_owned()))
        }
        fn ov(v: Vec<Str<'_>>) -> Vec<Str<'static>> {
            v.into_iter().map(|s| Cow::Owned(s.into_owned())).collect()
        }
        fn ep(e: Endpoint<'_>) -> Endpoint<'static> {
            Endpoint {
                address: o(e.address),
                ip: e.ip,
                port: e.port,
                domain: o(e.domain),
                bytes: e.bytes,
            }
        }
        fn addr(a: EmailAddress<'_>) -> EmailAddress<'static> {
            EmailAddress {
                address: o(a.address),
                name: o(a.name),
            }
        }
        Event {
            timestamp: self.timestamp,
            event: EventMeta {
                dataset: o(self.event.dataset),
                action: o(self.event.action),
                outcome: o(self.event.outcome),
                reason: o(self.event.reason),
                duration: self.event.duration,
                original: o(self.event.original),
            },
            log: Log {
                file: LogFile {
                    path: o(self.log.file.path),
                },
                offset: self.log.offset,
            },
            host: Host {
                hostname: o(self.host.hostname),
            },
            process: Process {
                name: o(self.process.name),
                pid: self.process.pid,
            },
            source: ep(self.source),
            destination: ep(self.destination),
            network: self.network,
            user: User {
                name: o(self.user.name),
                email: o(self.user.email),
            },
            url: Url {
                original: o(self.url.original),
                scheme: o(self.url.scheme),
                domain: o(self.url.domain),
                port: self.url.port,
                path: o(self.url.path),
                query: o(self.url.query),
                fragment: o(self.url.fragment),
                extension: o(self.url.extension),
            },
            http: Http {
                request: HttpRequest {
                    method: o(self.http.request.method),
                    referrer: o(self.http.request.referrer),
                    cookie: o(self.http.request.cookie),
                    mime_type: o(self.http.request.mime_type),
                    bytes: self.http.request.bytes,
                },
                response: HttpResponse {
                    status_code: self.http.response.status_code,
                    bytes: self.http.response.bytes,
                    mime_type: o(self.http.response.mime_type),
                },
                version: o(self.http.version),
            },
            user_agent: UserAgent {
                original: o(self.user_agent.original),
            },
            email: Email {
                from: addr(self.email.from),
                sender: addr(self.email.sender),
                reply_to: addr(self.email.reply_to),
                to: EmailRecipients {
                    address: ov(self.email.to.address),
                },
                subject: o(self.email.subject),
                message_id: o(self.email.message_id),
                local_id: o(self.email.local_id),
                x_mailer: o(self.email.x_mailer),
                direction: o(self.email.direction),
                size: self.email.size,
                urls: ov(self.email.urls),
            },
            threat: self.threat,
            reconwatch: self.reconwatch,
            recorded: self.recorded,
            dataset: self.dataset,
        }
    }

    /// Reads one field by its [`Field`] id.
    pub fn get(&self, field: Field) -> Option<Value<'_>> {
        use Field as F;
        fn s<'e>(v: &'e Option<Str<'_>>) -> Option<Value<'e>> {
            v.as_deref().map(Value::Str)
        }
        fn n<T: Into<u64> + Copy>(v: &Option<T>) -> Option<Value<'static>> {
            v.map(|v| Value::Int(v.into()))
        }
        fn list<'e>(v: &'e [Str<'_>]) -> Option<Value<'e>> {
            (!v.is_empty()).then_some(Value::List(v))
        }
        fn flag(f: Flag) -> Option<Value<'static>> {
            f.map(|b| Value::Str(if b { "true" } else { "false" }))
        }
        let rw = &self.reconwatch;
        match field {
            F::Timestamp => self.timestamp.map(Value::Time),
            F::EventDataset => s(&self.event.dataset),
            F::EventAction => s(&self.event.action),
            F::EventOutcome => s(&self.event.outcome),
            F::EventReason => s(&self.event.reason),
            F::EventDuration => n(&self.event.duration),
            F::EventOriginal => s(&self.event.original),
            F::LogFilePath => s(&self.log.file.path),
            F::LogOffset => n(&self.log.offset),
            F::HostHostname => s(&self.host.hostname),
            F::ProcessName => s(&self.process.name),
            F::ProcessPid => n(&self.process.pid),
            F::SourceAddress => s(&self.source.address),
            F::SourceIp => self.source.ip.map(Value::Ip),
            F::SourcePort => n(&self.source.port),
            F::SourceDomain => s(&self.source.domain),
            F::SourceBytes => n(&self.source.bytes),
            F::DestinationAddress => s(&self.destination.address),
            F::DestinationIp => self.destination.ip.map(Value::Ip),
            F::DestinationPort => n(&self.destination.port),
            F::DestinationDomain => s(&self.destination.domain),
            F::DestinationBytes => n(&self.destination.bytes),
            F::NetworkForwardedIp => self.network.forwarded_ip.map(Value::Ip),
            F::UserName => s(&self.user.name),
            F::UserEmail => s(&self.user.email),
            F::UrlOriginal => s(&self.url.original),
            F::UrlScheme => s(&self.url.scheme),
            F::UrlDomain => s(&self.url.domain),
            F::UrlPort => n(&self.url.port),
            F::UrlPath => s(&self.url.path),
            F::UrlQuery => s(&self.url.query),
            F::UrlFragment => s(&self.url.fragment),
            F::UrlExtension => s(&self.url.extension),
            F::HttpRequestMethod => s(&self.http.request.method),
            F::HttpRequestReferrer => s(&self.http.request.referrer),
            F::HttpRequestCookie => s(&self.http.request.cookie),
            F::HttpRequestMimeType => s(&self.http.request.mime_type),
            F::HttpRequestBytes => n(&self.http.request.bytes),
            F::HttpResponseStatusCode => n(&self.http.response.status_code),
            F::HttpResponseBytes => n(&self.http.response.bytes),
            F::HttpResponseMimeType => s(&self.http.response.mime_type),
            F::HttpVersion => s(&self.http.version),
            F::UserAgentOriginal => s(&self.user_agent.original),
            F::EmailFromAddress => s(&self.email.from.address),
            F::EmailFromName => s(&self.email.from.name),
            F::EmailSenderAddress => s(&self.email.sender.address),
            F::EmailReplyToAddress => s(&self.email.reply_to.address),
            F::EmailToAddress => list(&self.email.to.address),
            F::EmailSubject => s(&self.email.subject),
            F::EmailMessageId => s(&self.email.message_id),
            F::EmailLocalId => s(&self.email.local_id),
            F::EmailXMailer => s(&self.email.x_mailer),
            F::EmailDirection => s(&self.email.direction),
            F::EmailSize => n(&self.email.size),
            F::EmailUrls => list(&self.email.urls),
            F::PersonHighRisk => flag(rw.person.high_risk),
            F::PersonWatchlist => list(&rw.person.watchlist),
            F::PersonEmail => list(&rw.person.email),
            F::PersonGroup => list(&rw.person.group),
            F::UrlPixel => flag(rw.url.pixel),
            F::UrlHasToken => flag(rw.url.has_token),
            F::UrlShortener => flag(rw.url.shortener),
            F::UrlRedirector => flag(rw.url.redirector),
            F::UrlUnknownDomain => flag(rw.url.unknown_domain),
            F::UrlRegisteredDomain => list(&rw.url.registered_domain),
            F::UrlTokens => list(&rw.url.tokens),
            F::UrlTemplate => list(&rw.url.template),
            F::UrlRecipientEncoding => list(&rw.url.recipient_encoding),
            F::UrlLookalike => list(&rw.url.lookalike),
            F::UrlKey => list(&rw.url.key),
            F::UrlRareDomain => list(&rw.url.rare_domain),
            F::SenderExternal => flag(rw.sender.external),
            F::SenderEsp => flag(rw.sender.esp),
            F::SenderFreemail => flag(rw.sender.freemail),
            F::SenderBulk => flag(rw.sender.bulk),
            F::SenderJournalist => flag(rw.sender.journalist),
            F::SenderReplyToMismatch => flag(rw.sender.reply_to_mismatch),
            F::SenderEnvelopeMismatch => flag(rw.sender.envelope_mismatch),
            F::SenderInventedOutlet => flag(rw.sender.invented_outlet),
            F::SenderService => s(&rw.sender.service),
            F::SenderDomain => s(&rw.sender.domain),
            F::SenderOutlet => s(&rw.sender.outlet),
            F::SenderClaimedOutlet => s(&rw.sender.claimed_outlet),
            F::SenderClaimVia => s(&rw.sender.claim_via),
            F::SenderLookalike => s(&rw.sender.lookalike),
            F::SenderLookalikeMethod => s(&rw.sender.lookalike_method),
            F::IntelHit => flag(rw.intel.hit),
            F::IntelIndicator => list(&rw.intel.indicator),
            F::IntelSource => list(&rw.intel.source),
        }
    }
}

/// The value of one field, borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'e> {
    Str(&'e str),
    Int(u64),
    Ip(IpAddr),
    Time(Timestamp),
    List(&'e [Str<'e>]),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(n) => write!(f, "{n}"),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::List(l) => {
                for (i, s) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(s)?;
                }
                Ok(())
            }
        }
    }
}

/// Which side of the organisation an event describes. Decided once, by the parser, through the
/// event's [`Dataset`]; rule routing and the enrichment stage read it from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Web,
    Mail,
}

macro_rules! datasets {
    ($($variant:ident = $name:literal, $family:ident;)*) => {
        /// What kind of record an event is: the parser (and for mail/web vendors, the record
        /// kind) that made it. Set once by the parser ([`Event::set_dataset`]); its name is
        /// `event.dataset`, its [`Family`] routes rules and enrichment. The dataset names live
        /// here and nowhere else.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Dataset { $($variant,)* }

        impl Dataset {
            /// Every dataset, in declaration order.
            pub const ALL: &'static [Dataset] = &[$(Dataset::$variant,)*];

            /// The `event.dataset` name, such as `squid.access`.
            pub const fn name(self) -> &'static str {
                match self { $(Dataset::$variant => $name,)* }
            }

            /// Web request or mail.
            pub const fn family(self) -> Family {
                match self { $(Dataset::$variant => Family::$family,)* }
            }

            /// The dataset with this name (ECS input naming one of reconwatch's own).
            pub fn from_name(name: &str) -> Option<Dataset> {
                match name { $($name => Some(Dataset::$variant),)* _ => None }
            }
        }
    };
}

datasets! {
    SquidAccess = "squid.access", Web;
    ZscalerWeb = "zscaler.web", Web;
    CombinedAccess = "combined.access", Web;
    W3cAccess = "w3c.access", Web;
    PostfixLog = "postfix.log", Mail;
    EximMain = "exim.main", Mail;
    SendmailLog = "sendmail.log", Mail;
    ExchangeMessageTracking = "exchange.message_tracking", Mail;
    M365MessageTrace = "m365.message_trace", Mail;
    ProofpointPodMessage = "proofpoint.pod_message", Mail;
    ProofpointPodMaillog = "proofpoint.pod_maillog", Mail;
    ProofpointTap = "proofpoint.tap", Mail;
    MimecastSiem = "mimecast.siem", Mail;
    MimecastTtpUrl = "mimecast.ttp_url", Mail;
    // ECS input whose dataset is not one of the above, placed by the fields it carries; its
    // `event.dataset` stays what the input said (`ecs` when it said nothing).
    EcsWeb = "ecs", Web;
    EcsMail = "ecs.mail", Mail;
}

macro_rules! fields {
    ($($variant:ident = $name:literal,)*) => {
        /// Every field of [`Event`], named by its dotted ECS name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $($variant,)* }

        impl Field {
            /// All fields, in declaration order.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// True for the `reconwatch.*` fields the enrichment stage computes (never read
            /// from input).
            pub fn is_computed(self) -> bool {
                self.computed_by().is_some()
            }

            /// The dotted ECS name, such as `url.original`.
            pub const fn name(self) -> &'static str {
                match self { $(Field::$variant => $name,)* }
            }

            /// The field with this dotted ECS name.
            pub fn from_name(name: &str) -> Option<Field> {
                match name { $($name => Some(Field::$variant),)* _ => None }
            }
        }
    };
}

fields! {
    Timestamp = "@timestamp",
    EventDataset = "event.dataset",
    EventAction = "event.action",
    EventOutcome = "event.outcome",
    EventReason = "event.reason",
    EventDuration = "event.duration",
    EventOriginal = "event.original",
    LogFilePath = "log.file.path",
    LogOffset = "log.offset",
    HostHostname = "host.hostname",
    ProcessName = "process.name",
    ProcessPid = "process.pid",
    SourceAddress = "source.address",
    SourceIp = "source.ip",
    SourcePort = "source.port",
    SourceDomain = "source.domain",
    SourceBytes = "source.bytes",
    DestinationAddress = "destination.address",
    DestinationIp = "destination.ip",
    DestinationPort = "destination.port",
    DestinationDomain = "destination.domain",
    DestinationBytes = "destination.bytes",
    NetworkForwardedIp = "network.forwarded_ip",
    UserName = "user.name",
    UserEmail = "user.email",
    UrlOriginal = "url.original",
    UrlScheme = "url.scheme",
    UrlDomain = "url.domain",
    UrlPort = "url.port",
    UrlPath = "url.path",
    UrlQuery = "url.query",
    UrlFragment = "url.fragment",
    UrlExtension = "url.extension",
    HttpRequestMethod = "http.request.method",
    HttpRequestReferrer = "http.request.referrer",
    HttpRequestCookie = "http.request.cookie",
    HttpRequestMimeType = "http.request.mime_type",
    HttpRequestBytes = "http.request.bytes",
    HttpResponseStatusCode = "http.response.status_code",
    HttpResponseBytes = "http.response.bytes",
    HttpResponseMimeType = "http.response.mime_type",
    HttpVersion = "http.version",
    UserAgentOriginal = "user_agent.original",
    EmailFromAddress = "email.from.address",
    EmailFromName = "email.from.name",
    EmailSenderAddress = "email.sender.address",
    EmailReplyToAddress = "email.reply_to.address",
    EmailToAddress = "email.to.address",
    EmailSubject = "email.subject",
    EmailMessageId = "email.message_id",
    EmailLocalId = "email.local_id",
    EmailXMailer = "email.x_mailer",
    EmailDirection = "email.direction",
    EmailSize = "email.size",
    EmailUrls = "email.urls",
    // Computed by the enrichment stage (`reconwatch.*`); see `rules/README.md`.
    PersonHighRisk = "reconwatch.person.high_risk",
    PersonWatchlist = "reconwatch.person.watchlist",
    PersonEmail = "reconwatch.person.email",
    PersonGroup = "reconwatch.person.group",
    UrlPixel = "reconwatch.url.pixel",
    UrlHasToken = "reconwatch.url.has_token",
    UrlShortener = "reconwatch.url.shortener",
    UrlRedirector = "reconwatch.url.redirector",
    UrlUnknownDomain = "reconwatch.url.unknown_domain",
    UrlRegisteredDomain = "reconwatch.url.registered_domain",
    UrlTokens = "reconwatch.url.tokens",
    UrlTemplate = "reconwatch.url.template",
    UrlRecipientEncoding = "reconwatch.url.recipient_encoding",
    UrlLookalike = "reconwatch.url.lookalike",
    UrlKey = "reconwatch.url.key",
    UrlRareDomain = "reconwatch.url.rare_domain",
    SenderExternal = "reconwatch.sender.external",
    SenderEsp = "reconwatch.sender.esp",
    SenderFreemail = "reconwatch.sender.freemail",
    SenderBulk = "reconwatch.sender.bulk",
    SenderJournalist = "reconwatch.sender.journalist",
    SenderReplyToMismatch = "reconwatch.sender.reply_to_mismatch",
    SenderEnvelopeMismatch = "reconwatch.sender.envelope_mismatch",
    SenderInventedOutlet = "reconwatch.sender.invented_outlet",
    SenderService = "reconwatch.sender.service",
    SenderDomain = "reconwatch.sender.domain",
    SenderOutlet = "reconwatch.sender.outlet",
    SenderClaimedOutlet = "reconwatch.sender.claimed_outlet",
    SenderClaimVia = "reconwatch.sender.claim_via",
    SenderLookalike = "reconwatch.sender.lookalike",
    SenderLookalikeMethod = "reconwatch.sender.lookalike_method",
    IntelHit = "reconwatch.intel.hit",
    IntelIndicator = "reconwatch.intel.indicator",
    IntelSource = "reconwatch.intel.source",
}

/// The enrichment stages that compute the `reconwatch.*` fields, cheapest first. A rule engine
/// asks for a computed field through [`Compute`]; the enrichment stage then runs the stage that
/// gives it (and what that stage needs), once per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EnrichStage {
    /// What a URL's host settles: `registered_domain`, `unknown_domain`, `rare_domain`,
    /// `shortener`, `lookalike`; one cached lookup per URL. First: on most traffic it settles
    /// the URL tests of every rule before any person is looked up.
    UrlSite,
    /// `reconwatch.url.pixel`, from each URL's path and query (and a web response's type and
    /// size): a few byte comparisons.
    UrlPixel,
    /// `reconwatch.person.*`: watchlist lookups of the event's people (a few hash lookups,
    /// owned strings for the people found).
    Person,
    /// `reconwatch.url.recipient_encoding`: settled empty by a few byte searches when no
    /// encoding of a person's address occurs in the URLs; else the whole [`EnrichStage::Url`]
    /// stage.
    Recipient,
    /// `reconwatch.url.key`: settled empty by [`EnrichStage::UrlSite`] when every URL is on a
    /// site known to be safe (keys are made only elsewhere); else the whole
    /// [`EnrichStage::Url`] stage.
    UrlKey,
    /// The other `reconwatch.url.*` fields: every URL split into tokens and analysed.
    Url,
    /// `reconwatch.sender.*`.
    Sender,
    /// `reconwatch.intel.*` (and ECS `threat.enrichments`).
    Intel,
}

impl EnrichStage {
    pub const ALL: [EnrichStage; 8] = [
        EnrichStage::UrlSite,
        EnrichStage::UrlPixel,
        EnrichStage::Person,
        EnrichStage::Recipient,
        EnrichStage::UrlKey,
        EnrichStage::Url,
        EnrichStage::Sender,
        EnrichStage::Intel,
    ];
}

impl Field {
    /// The enrichment stage that computes this field; `None` for a field read from the log.
    pub fn computed_by(self) -> Option<EnrichStage> {
        use Field::*;
        Some(match self {
            PersonHighRisk | PersonWatchlist | PersonEmail | PersonGroup => EnrichStage::Person,
            UrlUnknownDomain | UrlRegisteredDomain | UrlRareDomain | UrlShortener | UrlLookalike => {
                EnrichStage::UrlSite
            }
            UrlPixel => EnrichStage::UrlPixel,
            UrlRecipientEncoding => EnrichStage::Recipient,
            UrlKey => EnrichStage::UrlKey,
            UrlHasToken | UrlRedirector | UrlTokens | UrlTemplate => EnrichStage::Url,
            SenderExternal
            | SenderEsp
            | SenderFreemail
            | SenderBulk
            | SenderJournalist
            | SenderReplyToMismatch
            | SenderEnvelopeMismatch
            | SenderInventedOutlet
            | SenderService
            | SenderDomain
            | SenderOutlet
            | SenderClaimedOutlet
            | SenderClaimVia
            | SenderLookalike
            | SenderLookalikeMethod => EnrichStage::Sender,
            IntelHit | IntelIndicator | IntelSource => EnrichStage::Intel,
            _ => return None,
        })
    }
}

/// Computes an event's computed fields when something reads them: the enrichment stage's
/// answer to a rule engine that evaluates the cheap tests of a rule first and needs a computed
/// field only when they pass.
pub trait Compute {
    /// Makes the fields `stage` computes final for `event` (runs it, if it has not run for
    /// this event).
    fn compute(&mut self, event: &mut Event<'_>, stage: EnrichStage);
}

/// Every computed field already final: the event was enriched in full beforehand.
pub struct Precomputed;

impl Compute for Precomputed {
    fn compute(&mut self, _: &mut Event<'_>, _: EnrichStage) {}
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Field`]s, one bit each: what a log format records, as opposed to what one line of
/// it happened to fill.
///
/// Parsers store `-`, `""` and `<>` as a missing value, like a field the format has no column
/// for; the set tells the two apart for Sigma's `''` (empty) and `null` (absent): a field the
/// layout records but that is missing from an event was recorded empty. A parser computes its
/// set once per layout (a W3C `#Fields:` header, a Squid `logformat`, a line shape) as a
/// constant and copies it into each event, so this costs one 16-byte copy per line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(u128);

// One bit per field.
const _: () = assert!(Field::ALL.len() <= 128);

impl FieldSet {
    pub const EMPTY: FieldSet = FieldSet(0);

    /// The set of these fields.
    pub const fn of(fields: &[Field]) -> FieldSet {
        let mut bits = 0;
        let mut i = 0;
        while i < fields.len() {
            bits |= 1 << fields[i] as u32;
            i += 1;
        }
        FieldSet(bits)
    }

    pub const fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    pub const fn contains(self, field: Field) -> bool {
        self.0 & (1 << field as u32) != 0
    }

    /// The union of the sets whose flag is true: a parser's table of "this key was in the
    /// record" and the fields the key gives.
    pub fn given(table: impl IntoIterator<Item = (bool, FieldSet)>) -> FieldSet {
        table
            .into_iter()
            .filter(|(given, _)| *given)
            .fold(FieldSet::EMPTY, |set, (_, fields)| set | fields)
    }

    pub fn insert(&mut self, field: Field) {
        self.0 |= 1 << field as u32;
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The fields of the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.iter().copied().filter(move |&f| self.contains(f))
    }
}

impl std::ops::BitOr for FieldSet {
    type Output = FieldSet;
    fn bitor(self, other: FieldSet) -> FieldSet {
        self.union(other)
    }
}

impl std::ops::BitOrAssign for FieldSet {
    fn bitor_assign(&mut self, other: FieldSet) {
        self.0 |= other.0;
    }
}

/// Every part of a recorded URL: a URL the format logs without a query has an empty query.
pub const URL_PARTS: FieldSet = FieldSet::of(&[
    Field::UrlOriginal,
    Field::UrlScheme,
    Field::UrlDomain,
    Field::UrlPort,
    Field::UrlPath,
    Field::UrlQuery,
    Field::UrlFragment,
    Field::UrlExtension,
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_nested_ecs_and_omits_empty_objects() {
        let mut ev = Event::new(Dataset::SquidAccess);
        ev.url.original = Some("http://a.example/x".into());
        ev.email.to.address.push("a@b.example".into());
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["event"]["dataset"], "squid.access");
        assert_eq!(json["url"]["original"], "http://a.example/x");
        assert_eq!(json["email"]["to"]["address"][0], "a@b.example");
        assert!(json.get("source").is_none(), "empty source must be left out: {json}");
        assert!(json.get("http").is_none());
        assert!(json["url"].get("domain").is_none());
    }

    #[test]
    fn every_field_name_round_trips() {
        for &f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(f), "{f}");
        }
        assert_eq!(Field::from_name("url.nope"), None);
    }

    #[test]
    fn into_owned_keeps_every_field() {
        let line = String::from("x");
        let mut ev = Event::new(Dataset::SquidAccess);
        ev.source.ip = Some("10.0.0.1".parse().unwrap());
        ev.network.forwarded_ip = Some("2001:db8::1".parse().unwrap());
        ev.email.urls.push(Cow::Borrowed(line.as_str()));
        ev.http.response.status_code = Some(200);
        ev.recorded = FieldSet::of(&[Field::UserAgentOriginal, Field::EmailUrls]);
        let expected = serde_json::to_value(&ev).unwrap();
        let owned = ev.into_owned();
        drop(line);
        assert_eq!(serde_json::to_value(&owned).unwrap(), expected);
        assert_eq!(
            owned.recorded,
            FieldSet::of(&[Field::UserAgentOriginal, Field::EmailUrls])
        );
    }

    #[test]
    fn field_sets() {
        let mut set = FieldSet::of(&[Field::UserAgentOriginal]);
        assert!(set.contains(Field::UserAgentOriginal) && !set.contains(Field::HttpRequestCookie));
        set.insert(Field::IntelSource);
        set |= URL_PARTS;
        assert!(set.contains(Field::IntelSource) && set.contains(Field::UrlQuery));
        assert_eq!(set.iter().count(), 10);
        assert_eq!(
            FieldSet::given([(true, FieldSet::of(&[Field::Timestamp])), (false, URL_PARTS)]),
            FieldSet::of(&[Field::Timestamp])
        );
        // The set is never serialized.
        let mut ev = Event::new(Dataset::SquidAccess);
        ev.recorded = set;
        assert!(!serde_json::to_string(&ev).unwrap().contains("recorded"));
    }

    /// Every computed field is serialized at the JSON path its name says, and read back by
    /// `get` (a field added to one place but not the other fails here).
    #[test]
    fn computed_fields_serialize_under_their_names() {
        let t = Some(true);
        let x = || Some(Cow::Borrowed("x"));
        let l = || vec![Cow::Borrowed("x")];
        let mut ev = Event::new(Dataset::SquidAccess);
        ev.reconwatch = Reconwatch {
            person: ComputedPerson {
                high_risk: t,
                watchlist: l(),
                email: l(),
                group: l(),
            },
            url: ComputedUrl {
                pixel: t,
                has_token: t,
                shortener: t,
                redirector: t,
                unknown_domain: t,
                registered_domain: l(),
                tokens: l(),
                template: l(),
                recipient_encoding: l(),
                lookalike: l(),
                key: l(),
                rare_domain: l(),
            },
            sender: ComputedSender {
                external: t,
                esp: t,
                freemail: t,
                bulk: t,
                journalist: t,
                reply_to_mismatch: t,
                envelope_mismatch: t,
                invented_outlet: t,
                domain: x(),
                outlet: x(),
                claimed_outlet: x(),
                claim_via: x(),
                lookalike: x(),
                lookalike_method: x(),
                service: x(),
            },
            intel: ComputedIntel {
                hit: t,
                indicator: l(),
                source: l(),
            },
        };
        let json = serde_json::to_value(&ev).unwrap();
        let computed: Vec<Field> = Field::ALL.iter().copied().filter(|f| f.is_computed()).collect();
        assert!(computed.len() > 20);
        for f in computed {
            let at = f.name().split('.').try_fold(&json, |v, k| v.get(k));
            assert!(at.is_some(), "{f} not in {json}");
            assert!(ev.get(f).is_some(), "{f} not read by get");
        }
        assert_eq!(ev.get(Field::UrlPixel), Some(Value::Str("true")));
        ev.reconwatch.url.pixel = Some(false);
        assert_eq!(ev.get(Field::UrlPixel), Some(Value::Str("false")));
        assert!(
            serde_json::to_value(&ev).unwrap()["reconwatch"]["url"]
                .get("pixel")
                .is_none()
        );
    }

    /// Every `reconwatch.*` field has an enrichment stage (a rule reading one the table forgot
    /// would see it empty on demand), and no field of the log has one.
    #[test]
    fn every_computed_field_has_its_stage() {
        for f in Field::ALL {
            assert_eq!(f.computed_by().is_some(), f.name().starts_with("reconwatch."), "{f}");
        }
    }
}
