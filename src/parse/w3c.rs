//! W3C Extended Log Format, as Microsoft IIS and Blue Coat / Symantec ProxySG (and other proxies
//! that export it: Forcepoint, McAfee Web Gateway) write it, driven by the file's `#Fields:` header.
//!
//! Directive lines (`#Software:`, `#Version:`, `#Date:`, `#Fields:`, `#Remark:`, any `#Name: ...`)
//! are absorbed. `#Fields:` (re)defines the columns for the lines after it: the header may change
//! mid-file (IIS writes a new header block when it restarts). The column → field mapping is
//! computed once per `#Fields:` line (a `Vec<Col>`), so a data line costs one tokenizing pass and
//! one `match` per column. Fields are separated by spaces (or tabs); ProxySG quotes a field that holds spaces
//! (`"Mozilla/5.0 (Windows NT 10.0)"`), doubling a quote inside it (`" ""x"" "` is ` "x" `; the
//! text columns are undoubled, the URL columns kept as logged), IIS writes `+` for those spaces instead (decoded back to
//! spaces in `user_agent.original`, as Elastic's IIS pipeline does); `-` means no value. Times are
//! UTC, as the W3C format defines them (`ctx.timezone` does not apply).
//!
//! Lines without any `#Fields:` header yet (IIS logs shipped without their header) are matched
//! against the IIS default layouts Elastic's IIS pipeline knows, chosen by token count and checked
//! by value (addresses must be IPs, the method a word, the status three digits), each optionally
//! followed by `X-Forwarded-For` and one more numeric custom column; and against the SGOS built-in
//! formats `main` and `bcreportermain_v1`, since ProxySG streaming over syslog sends no header.
//!
//! | ECS field                   | IIS (web server)                          | ProxySG / proxies                         |
//! |-----------------------------|-------------------------------------------|-------------------------------------------|
//! | `@timestamp`                | `date` + `time` (UTC; `#Date:` if no `date`) | same                                   |
//! | `source.ip/address`         | `c-ip` (`cs-ip`)                          | `c-ip`: the client                        |
//! | `source.port` / `.domain`   | `c-port` / `c-dns` (an IP address there: `source.ip/address` when `c-ip` gave none) | same |
//! | `destination.ip/address`    | `s-ip`: the web server itself             | `s-supplier-ip` / `r-ip`: the upstream server (`s-ip` is the proxy itself and is not mapped) |
//! | `destination.port`          | `s-port`                                  | `r-port` (`s-port` is the proxy's port)   |
//! | `destination.domain`        | `r-dns`                                   | `s-supplier-name` / `r-dns`; an IP address there goes to `destination.ip/address` |
//! | `host.hostname`             | `s-computername`, else `s-sitename` (`W3SVC1`) unless a syslog header names the host | `s-computername` |
//! | `user.name`                 | `cs-username` (as logged, `DOMAIN\user` kept) | `cs-username` / `cs-user`             |
//! | `http.request.method`       | `cs-method`                               | same                                      |
//! | `url.*`                     | `cs-uri-stem` `?` `cs-uri-query` (origin form); `cs-host`/`cs(Host)` → `url.domain` | `cs-uri-scheme://cs-host[:cs-uri-port]cs-uri-path cs-uri-query` (`tcp`/`ssl` and `CONNECT`: `host:port`), or `cs-uri` whole |
//! | `http.response.status_code` | `sc-status`                               | same (`0` for tunnels)                    |
//! | `http.response.bytes`       | `sc-bytes`                                | same                                      |
//! | `http.request.bytes`        | `cs-bytes`                                | same                                      |
//! | `event.duration`            | `time-taken` (ms; a decimal value is seconds, as the W3C spec has it) | same        |
//! | `user_agent.original`       | `cs(User-Agent)` (`+` → space)            | `cs(User-Agent)` (as logged)              |
//! | `http.request.referrer`     | `cs(Referer)`                             | same                                      |
//! | `http.request.cookie`       | `cs(Cookie)`                              | same                                      |
//! | `http.request.mime_type`    | `cs(Content-Type)`                        | same                                      |
//! | `http.response.mime_type`   | —                                         | `rs(Content-Type)` / `sc(Content-Type)`   |
//! | `event.action`              | —                                         | `s-action` (`TCP_MISS`, `TCP_DENIED`), else `sc-filter-result` (`OBSERVED`, `DENIED`) |
//! | `http.version`              | `cs-version` (`HTTP/1.1` → `1.1`)         | same                                      |
//! | `event.outcome`             | from the status: `success` below 400, `failure` from 400 to 599 | same                |
//!
//! A header is read as a proxy's when `#Software:` names SGOS/ProxySG, or, without that, when its
//! fields include a proxy-only one (`s-action`, `sc-filter-result`, `s-supplier-*`,
//! `cs-uri-scheme`, `x-exception-id`, `cs-categories`). `sc-substatus` and `sc-win32-status`
//! are checked but have no Event field yet; other columns are skipped. `X-Forwarded-For` gives
//! `network.forwarded_ip` (its first entry).
//! `url.query` is kept as logged (not URL-decoded), as every parser keeps it; Elastic's IIS
//! pipeline decodes it and puts the stem alone in `url.original`, so those two differ from it.
//!
//! This module must never panic on any input and never accept a line whose token count or values
//! do not fit the active layout: Exim, Squid and combined lines are rejected by the first checks.

use std::borrow::Cow;

use crate::event::{Dataset, Endpoint, Event, Field, FieldSet, URL_PARTS, Url};

use super::common::{self, Civil, dash_none, digits, parse_ip, parse_u16, parse_u64};
use super::{FormatInfo, Line, LineParser, ParseContext, ParseError, Parsed, fail};

pub static INFO: FormatInfo = FormatInfo {
    name: "w3c",
    datasets: &[DATASET],
    line_independent: false,
    description: "W3C Extended Log Format (Microsoft IIS, Blue Coat/Symantec ProxySG, other proxies), \
                  driven by #Fields:; headerless IIS default layouts recognised",
    example: "2024-03-14 09:21:07 10.20.0.15 GET /images/logo.gif uid=7f3a9c 443 - 198.51.100.23 \
              Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) https://mail.example.org/ 200 0 0 31",
};

const DATASET: Dataset = Dataset::W3cAccess;

const E_DIRECTIVE: &str = "unknown # line: expected a W3C directive such as #Fields:";
const E_EMPTY_FIELDS: &str = "empty #Fields directive";
const E_CSV_FIELDS: &str = "comma-separated #Fields (an Exchange log, not W3C extended)";
const E_COUNT: &str = "field count does not match the #Fields header";
const E_START: &str = "expected a W3C line: YYYY-MM-DD hh:mm:ss or a #Fields header first";
const E_NO_LAYOUT_COUNT: &str = "no #Fields header, and the field count matches no IIS default layout";
const E_NO_LAYOUT_VALUES: &str = "no #Fields header, and the values fit no IIS default layout";
const E_TIME: &str = "invalid date or time";
const E_NO_DATE: &str = "time without a date column or #Date directive";
const E_METHOD: &str = "invalid HTTP method";
const E_STATUS: &str = "invalid status code";
const E_NUMBER: &str = "invalid number in a numeric field";
const E_IP: &str = "invalid IP address";
// Met only while guessing a headerless layout, where they make the guess fail.
const E_VERSION: &str = "invalid HTTP version (expected HTTP/x.y)";
const E_VERDICT: &str = "invalid proxy action";

/// Most tokens a headerless line may have (the longest IIS layout plus its optional tail).
const MAX_HEADERLESS_TOKENS: usize = 27;

/// What one column means: the target of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Date,
    Time,
    TimeTaken,
    ClientIp,
    ClientPort,
    ClientDns,
    /// `s-ip`, `s-port` of a web server: the destination.
    ServerIp,
    ServerPort,
    /// A proxy's `s-ip`: its own address, checked but not mapped.
    ProxyIp,
    Computer,
    Site,
    /// `r-*`, `s-supplier-*`: the upstream server a proxy fetched from.
    RemoteIp,
    RemoteDns,
    RemotePort,
    User,
    Method,
    Uri,
    UriStem,
    UriQuery,
    UriScheme,
    UriHost,
    UriPort,
    UriPath,
    UriExtension,
    Status,
    ResponseBytes,
    RequestBytes,
    UserAgent,
    Referer,
    Cookie,
    RequestContentType,
    /// Headerless layouts only: IIS columns that are a referrer (a URL) or a `cs-host` value,
    /// told apart by the value, since logs shipped without a header leave it ambiguous.
    RefererOrHost,
    ContentType,
    Action,
    FilterResult,
    Version,
    ForwardedFor,
    /// Numeric, checked, not mapped (`sc-substatus`, `sc-win32-status`).
    Number,
    Ignore,
}

impl Col {
    /// The fields a column records: a field whose column is in the header but which a line
    /// leaves `-` was logged empty (Sigma's `''`); one without a column is not logged at all
    /// (Sigma's `null`).
    fn recorded(self) -> FieldSet {
        use Field as F;
        match self {
            Col::Date | Col::Time => FieldSet::of(&[F::Timestamp]),
            Col::TimeTaken => FieldSet::of(&[F::EventDuration]),
            Col::ClientIp => FieldSet::of(&[F::SourceAddress, F::SourceIp]),
            Col::ClientPort => FieldSet::of(&[F::SourcePort]),
            Col::ClientDns => FieldSet::of(&[F::SourceDomain]),
            Col::ServerIp | Col::RemoteIp => FieldSet::of(&[F::DestinationAddress, F::DestinationIp]),
            Col::ServerPort | Col::RemotePort => FieldSet::of(&[F::DestinationPort]),
            Col::RemoteDns => FieldSet::of(&[F::DestinationDomain]),
            Col::Computer | Col::Site => FieldSet::of(&[F::HostHostname]),
            Col::User => FieldSet::of(&[F::UserName]),
            Col::Method => FieldSet::of(&[F::HttpRequestMethod]),
            Col::Uri | Col::UriStem | Col::UriPath => URL_PARTS,
            Col::UriQuery => FieldSet::of(&[F::UrlQuery]),
            Col::UriScheme => FieldSet::of(&[F::UrlScheme]),
            Col::UriHost => FieldSet::of(&[F::UrlDomain]),
            Col::UriPort => FieldSet::of(&[F::UrlPort]),
            Col::UriExtension => FieldSet::of(&[F::UrlExtension]),
            Col::Status => FieldSet::of(&[F::HttpResponseStatusCode]),
            Col::ResponseBytes => FieldSet::of(&[F::HttpResponseBytes]),
            Col::RequestBytes => FieldSet::of(&[F::HttpRequestBytes]),
            Col::UserAgent => FieldSet::of(&[F::UserAgentOriginal]),
            Col::Referer => FieldSet::of(&[F::HttpRequestReferrer]),
            Col::Cookie => FieldSet::of(&[F::HttpRequestCookie]),
            Col::RequestContentType => FieldSet::of(&[F::HttpRequestMimeType]),
            Col::RefererOrHost => FieldSet::of(&[F::HttpRequestReferrer, F::UrlDomain]),
            Col::ContentType => FieldSet::of(&[F::HttpResponseMimeType]),
            Col::Action | Col::FilterResult => FieldSet::of(&[F::EventAction]),
            Col::Version => FieldSet::of(&[F::HttpVersion]),
            Col::ForwardedFor => FieldSet::of(&[F::NetworkForwardedIp]),
            Col::ProxyIp | Col::Number | Col::Ignore => FieldSet::EMPTY,
        }
    }

    /// The fields a row of these columns records.
    fn recorded_by(cols: &[Col]) -> FieldSet {
        cols.iter().fold(FieldSet::EMPTY, |set, c| set | c.recorded())
    }
}

/// W3C identifiers (case-insensitive) and what they map to; anything else is skipped.
const FIELD_NAMES: &[(&str, Col)] = &[
    ("date", Col::Date),
    ("time", Col::Time),
    ("time-taken", Col::TimeTaken),
    ("c-ip", Col::ClientIp),
    ("cs-ip", Col::ClientIp),
    ("c-port", Col::ClientPort),
    ("c-dns", Col::ClientDns),
    ("s-ip", Col::ServerIp),
    ("s-port", Col::ServerPort),
    ("s-computername", Col::Computer),
    ("s-sitename", Col::Site),
    ("r-ip", Col::RemoteIp),
    ("s-supplier-ip", Col::RemoteIp),
    ("r-dns", Col::RemoteDns),
    ("s-supplier-name", Col::RemoteDns),
    ("r-port", Col::RemotePort),
    ("cs-username", Col::User),
    ("cs-user", Col::User),
    ("cs-method", Col::Method),
    ("cs-uri", Col::Uri),
    ("cs-uri-stem", Col::UriStem),
    ("cs-uri-query", Col::UriQuery),
    ("cs-uri-scheme", Col::UriScheme),
    ("cs-host", Col::UriHost),
    ("cs(host)", Col::UriHost),
    ("cs-uri-port", Col::UriPort),
    ("cs-uri-path", Col::UriPath),
    ("cs-uri-extension", Col::UriExtension),
    ("sc-status", Col::Status),
    ("sc-substatus", Col::Number),
    ("sc-win32-status", Col::Number),
    ("sc-bytes", Col::ResponseBytes),
    ("cs-bytes", Col::RequestBytes),
    ("cs(user-agent)", Col::UserAgent),
    ("cs(referer)", Col::Referer),
    ("cs(referrer)", Col::Referer),
    ("cs(cookie)", Col::Cookie),
    ("cs(content-type)", Col::RequestContentType),
    ("rs(content-type)", Col::ContentType),
    ("sc(content-type)", Col::ContentType),
    ("s-action", Col::Action),
    ("sc-filter-result", Col::FilterResult),
    ("cs-version", Col::Version),
    ("x-forwarded-for", Col::ForwardedFor),
    ("cs(x-forwarded-for)", Col::ForwardedFor),
];

/// Fields only a proxy writes: their presence makes `s-ip`/`s-port` the proxy's own.
const PROXY_FIELDS: &[&str] = &[
    "s-action",
    "sc-filter-result",
    "s-supplier-ip",
    "s-supplier-name",
    "cs-uri-scheme",
    "x-exception-id",
    "cs-categories",
];

/// The layouts a line without `#Fields:` may have: the IIS ones Elastic's IIS pipeline knows, each
/// optionally followed by custom columns, and the two SGOS built-in formats (ProxySG streaming its
/// log over syslog sends no header). Written as tables, not as rustfmt would break them.
#[rustfmt::skip]
mod builtin {
    use super::Col as C;

    /// IIS 8.5+ default: `date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip
    /// cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken`.
    const DEFAULT: &[C] = &[
        C::Date, C::Time, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User, C::ClientIp,
        C::UserAgent, C::RefererOrHost, C::Status, C::Number, C::Number, C::TimeTaken,
    ];
    /// IIS 7/7.5 default (no referrer).
    const NO_REFERER: &[C] = &[
        C::Date, C::Time, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User, C::ClientIp,
        C::UserAgent, C::Status, C::Number, C::Number, C::TimeTaken,
    ];
    const COOKIE: &[C] = &[
        C::Date, C::Time, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User, C::ClientIp,
        C::UserAgent, C::Ignore, C::RefererOrHost, C::Status, C::Number, C::Number, C::TimeTaken,
    ];
    const COMPUTER: &[C] = &[
        C::Date, C::Time, C::Computer, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User,
        C::ClientIp, C::UserAgent, C::RefererOrHost, C::Status, C::Number, C::Number, C::TimeTaken,
    ];
    const REFERER_BYTES: &[C] = &[
        C::Date, C::Time, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User, C::ClientIp,
        C::UserAgent, C::RefererOrHost, C::Status, C::Number, C::Number, C::ResponseBytes, C::RequestBytes,
        C::TimeTaken,
    ];
    const COOKIE_BYTES: &[C] = &[
        C::Date, C::Time, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User, C::ClientIp,
        C::UserAgent, C::Ignore, C::RefererOrHost, C::Status, C::Number, C::Number, C::ResponseBytes,
        C::RequestBytes, C::TimeTaken,
    ];
    const SITE_COMPUTER_HOST: &[C] = &[
        C::Date, C::Time, C::Site, C::Computer, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort,
        C::User, C::ClientIp, C::UserAgent, C::RefererOrHost, C::RefererOrHost, C::Status, C::Number, C::Number,
        C::TimeTaken,
    ];
    const SITE_HOST: &[C] = &[
        C::Date, C::Time, C::Site, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User, C::ClientIp,
        C::UserAgent, C::Ignore, C::RefererOrHost, C::RefererOrHost, C::Status, C::Number, C::Number,
        C::ResponseBytes, C::RequestBytes, C::TimeTaken,
    ];
    const SITE_VERSION: &[C] = &[
        C::Date, C::Time, C::Site, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort, C::User,
        C::ClientIp, C::Version, C::UserAgent, C::Ignore, C::RefererOrHost, C::Status, C::Number, C::Number,
        C::ResponseBytes, C::RequestBytes, C::TimeTaken,
    ];
    /// Every standard IIS field.
    const FULL: &[C] = &[
        C::Date, C::Time, C::Site, C::Computer, C::ServerIp, C::Method, C::UriStem, C::UriQuery, C::ServerPort,
        C::User, C::ClientIp, C::Version, C::UserAgent, C::Ignore, C::RefererOrHost, C::RefererOrHost, C::Status,
        C::Number, C::Number, C::ResponseBytes, C::RequestBytes, C::TimeTaken,
    ];

    /// SGOS `main`: `date time time-taken c-ip sc-status s-action sc-bytes cs-bytes cs-method
    /// cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query cs-username cs-auth-group
    /// s-supplier-name rs(Content-Type) cs(Referer) cs(User-Agent) sc-filter-result cs-categories
    /// x-virus-id s-ip`.
    const SG_MAIN: &[C] = &[
        C::Date, C::Time, C::TimeTaken, C::ClientIp, C::Status, C::Action, C::ResponseBytes, C::RequestBytes,
        C::Method, C::UriScheme, C::UriHost, C::UriPort, C::UriPath, C::UriQuery, C::User, C::Ignore,
        C::RemoteDns, C::ContentType, C::Referer, C::UserAgent, C::FilterResult, C::Ignore, C::Ignore, C::ProxyIp,
    ];
    /// SGOS `bcreportermain_v1`: `date time time-taken c-ip cs-username cs-auth-group x-exception-id
    /// sc-filter-result cs-categories cs(Referer) sc-status s-action cs-method rs(Content-Type)
    /// cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query cs-uri-extension cs(User-Agent) s-ip
    /// sc-bytes cs-bytes x-virus-id`, then optionally `x-bluecoat-application-name
    /// x-bluecoat-application-operation`.
    const SG_REPORTER: &[C] = &[
        C::Date, C::Time, C::TimeTaken, C::ClientIp, C::User, C::Ignore, C::Ignore, C::FilterResult, C::Ignore,
        C::Referer, C::Status, C::Action, C::Method, C::ContentType, C::UriScheme, C::UriHost, C::UriPort,
        C::UriPath, C::UriQuery, C::UriExtension, C::UserAgent, C::ProxyIp, C::ResponseBytes, C::RequestBytes,
        C::Ignore,
    ];

    /// Custom columns IIS setups append: `X-Forwarded-For`, then one numeric field (Exchange
    /// front ends log the client port there).
    const IIS_TAIL: &[C] = &[C::ForwardedFor, C::Number];
    const SG_REPORTER_TAIL: &[C] = &[C::Ignore, C::Ignore];

    /// A layout, the columns that may follow it, and whether a proxy writes it.
    pub(super) struct Builtin {
        pub cols: &'static [C],
        pub tail: &'static [C],
        pub proxy: bool,
    }

    const fn iis(cols: &'static [C]) -> Builtin {
        Builtin { cols, tail: IIS_TAIL, proxy: false }
    }

    pub(super) const LAYOUTS: &[Builtin] = &[
        iis(DEFAULT),
        iis(NO_REFERER),
        iis(COOKIE),
        iis(COMPUTER),
        iis(REFERER_BYTES),
        iis(COOKIE_BYTES),
        iis(SITE_COMPUTER_HOST),
        iis(SITE_HOST),
        iis(SITE_VERSION),
        iis(FULL),
        Builtin { cols: SG_MAIN, tail: &[], proxy: true },
        Builtin { cols: SG_REPORTER, tail: SG_REPORTER_TAIL, proxy: true },
    ];
}

/// Which kind of product wrote the header, from `#Software:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Software {
    Unknown,
    WebServer,
    Proxy,
}

/// The columns declared by one `#Fields:` line.
#[derive(Debug, Clone)]
struct Layout {
    cols: Vec<Col>,
    proxy: bool,
    /// What the columns record, summed once per header.
    recorded: FieldSet,
}

impl Layout {
    fn from_fields(list: &str, software: Software) -> Option<Layout> {
        let names = || list.split_ascii_whitespace();
        names().next()?;
        let proxy = match software {
            Software::Proxy => true,
            Software::WebServer => false,
            Software::Unknown => names().any(|n| PROXY_FIELDS.iter().any(|p| n.eq_ignore_ascii_case(p))),
        };
        let has_computer = names().any(|n| n.eq_ignore_ascii_case("s-computername"));
        let cols = names()
            .map(|n| {
                let col = FIELD_NAMES
                    .iter()
                    .find(|(name, _)| n.eq_ignore_ascii_case(name))
                    .map_or(Col::Ignore, |&(_, c)| c);
                match col {
                    Col::ServerIp if proxy => Col::ProxyIp,
                    Col::ServerPort if proxy => Col::Ignore,
                    // A proxy's `s-sitename` is its service (`SG-HTTP-Service`), not a host.
                    Col::Site if has_computer || proxy => Col::Ignore,
                    c => c,
                }
            })
            .collect::<Vec<Col>>();
        Some(Layout {
            recorded: Col::recorded_by(&cols),
            cols,
            proxy,
        })
    }
}

/// One token of a data line: a byte range of the body, and whether it was `"quoted"`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    quoted: bool,
}

pub struct W3cParser {
    /// The active `#Fields:` layout; `None` until the first one (headerless IIS lines).
    layout: Option<Layout>,
    software: Software,
    /// `(year, month, day)` of the last `#Date:` directive, for layouts without a `date` column.
    date: Option<(i16, u8, u8)>,
    /// Token spans of the current line, reused so that no line allocates for them.
    spans: Vec<Span>,
    /// Index in [`builtin::LAYOUTS`] of the last headerless layout that fit, tried first.
    last_builtin: usize,
}

impl W3cParser {
    pub fn new(_ctx: &ParseContext) -> Self {
        W3cParser {
            layout: None,
            software: Software::Unknown,
            date: None,
            spans: Vec::with_capacity(32),
            last_builtin: 0,
        }
    }

    fn directive(&mut self, body: &str) -> Result<Parsed, ParseError> {
        let rest = &body[1..];
        let Some(colon) = rest.find(':') else {
            return fail(E_DIRECTIVE);
        };
        let name = &rest[..colon];
        // A directive name is one short word; `# some comment` (another tool's comment line) is not.
        if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return fail(E_DIRECTIVE);
        }
        let value = rest[colon + 1..].trim();
        if name.eq_ignore_ascii_case("Fields") {
            if value.contains(',') {
                // Exchange tracking and SMTP logs: W3C directives over comma-separated data.
                self.layout = None;
                return fail(E_CSV_FIELDS);
            }
            match Layout::from_fields(value, self.software) {
                Some(layout) => self.layout = Some(layout),
                None => return fail(E_EMPTY_FIELDS),
            }
        } else if name.eq_ignore_ascii_case("Software") {
            self.software = if value.contains("SGOS") || value.contains("ProxySG") || value.contains("Blue Coat") {
                Software::Proxy
            } else if value.contains("Internet Information Services") {
                Software::WebServer
            } else {
                Software::Unknown
            };
        } else if name.eq_ignore_ascii_case("Date") {
            self.date = parse_date(value.get(..10).unwrap_or(value));
        }
        Ok(Parsed::Absorbed)
    }

    fn headerless<'a>(&mut self, line: &Line<'a>, body: &'a str, event: &mut Event<'a>) -> Result<(), ParseError> {
        let n = self.spans.len();
        let layouts = builtin::LAYOUTS;
        let fits = |b: &builtin::Builtin| n >= b.cols.len() && n <= b.cols.len() + b.tail.len();
        let mut any = false;
        let last = self.last_builtin;
        let order = std::iter::once(last).chain((0..layouts.len()).filter(|&i| i != last));
        for i in order {
            let Some(base) = layouts.get(i) else { continue };
            if !fits(base) {
                continue;
            }
            any = true;
            let mut cols = [Col::Ignore; MAX_HEADERLESS_TOKENS];
            for (k, c) in base.cols.iter().chain(base.tail).take(n).enumerate() {
                cols[k] = *c;
            }
            let row = Row {
                body,
                spans: &self.spans,
                strict: true,
                proxy: base.proxy,
                date_hint: self.date,
            };
            if row.fill(&cols[..n], line, event).is_ok() {
                self.last_builtin = i;
                event.recorded = Col::recorded_by(&cols[..n]);
                return Ok(());
            }
            *event = Event::default();
        }
        fail(if any { E_NO_LAYOUT_VALUES } else { E_NO_LAYOUT_COUNT })
    }
}

impl LineParser for W3cParser {
    fn parse<'a>(&mut self, line: &Line<'a>, event: &mut Event<'a>) -> Result<Parsed, ParseError> {
        let body = line.body.strip_prefix('\u{feff}').unwrap_or(line.body);
        let body = body.trim_end_matches(['\r', '\n', ' ']);
        if body.starts_with('#') {
            return self.directive(body);
        }
        match &self.layout {
            Some(layout) => {
                tokenize(body, &mut self.spans, layout.cols.len() + 1);
                if self.spans.len() != layout.cols.len() {
                    return fail(E_COUNT);
                }
                let row = Row {
                    body,
                    spans: &self.spans,
                    strict: false,
                    proxy: layout.proxy,
                    date_hint: self.date,
                };
                row.fill(&layout.cols, line, event)?;
                event.recorded = layout.recorded;
            }
            None => {
                if !starts_with_date_time(body) {
                    return fail(E_START);
                }
                tokenize(body, &mut self.spans, MAX_HEADERLESS_TOKENS + 1);
                if self.spans.len() > MAX_HEADERLESS_TOKENS {
                    return fail(E_NO_LAYOUT_COUNT);
                }
                self.headerless(line, body, event)?;
            }
        }
        Ok(Parsed::Event)
    }
}

/// `YYYY-MM-DD hh:mm:ss` at the start: the cheap first test of a headerless line.
fn starts_with_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// Splits `body` into space-separated tokens; a token that starts with `"` runs to the next `"`
/// followed by a space or the end (ProxySG quoting). Stops after `max` tokens.
fn tokenize(body: &str, spans: &mut Vec<Span>, max: usize) {
    spans.clear();
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() && spans.len() < max {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        if b[i] == b'"'
            && let Some(end) = closing_quote(b, i + 1)
        {
            spans.push(Span {
                start: i + 1,
                end,
                quoted: true,
            });
            i = end + 1;
            continue;
        }
        let end = memchr::memchr2(b' ', b'\t', &b[i..]).map_or(b.len(), |n| i + n);
        spans.push(Span {
            start: i,
            end,
            quoted: false,
        });
        i = end;
    }
}

/// The quote that closes a quoted token opened before `from`: one followed by a space, a tab or
/// the end. A doubled quote (`""`) inside the value is a quote of the value, never the end.
fn closing_quote(b: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    while let Some(n) = memchr::memchr(b'"', b.get(pos..)?) {
        let q = pos + n;
        match b.get(q + 1) {
            None | Some(b' ' | b'\t') => return Some(q),
            Some(b'"') => pos = q + 2,
            Some(_) => pos = q + 1,
        }
    }
    None
}

/// A quoted value with its doubled quotes (`""`) made single; borrowed when it has none.
fn undouble(v: &str, quoted: bool) -> Cow<'_, str> {
    if quoted && v.contains("\"\"") {
        Cow::Owned(v.replace("\"\"", "\""))
    } else {
        Cow::Borrowed(v)
    }
}

/// One data line's tokens and how to read them.
struct Row<'s, 'a> {
    body: &'a str,
    spans: &'s [Span],
    /// Headerless: every typed column must hold a plausible value, since the layout is a guess.
    strict: bool,
    /// The header is a proxy's (user agents are quoted, not `+`-encoded).
    proxy: bool,
    date_hint: Option<(i16, u8, u8)>,
}

/// The URL columns of one line, combined after all columns are read.
#[derive(Default)]
struct UrlParts<'a> {
    uri: Option<&'a str>,
    stem: Option<&'a str>,
    query: Option<&'a str>,
    scheme: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<&'a str>,
    extension: Option<&'a str>,
}

impl<'a> Row<'_, 'a> {
    fn fill(&self, cols: &[Col], line: &Line<'a>, event: &mut Event<'a>) -> Result<(), ParseError> {
        let mut date = None;
        let mut time = None;
        let mut site = None;
        let mut filter = None;
        let mut method = None;
        let mut url = UrlParts::default();
        for (&col, sp) in cols.iter().zip(self.spans) {
            let raw = &self.body[sp.start..sp.end];
            let Some(v) = dash_none(raw) else {
                if matches!(col, Col::Date | Col::Time) {
                    return fail(E_TIME);
                }
                continue;
            };
            let b = Cow::Borrowed;
            let text = |v| undouble(v, sp.quoted);
            match col {
                Col::Date => date = Some(parse_date(v).ok_or(ParseError::new(E_TIME))?),
                Col::Time => time = Some(parse_time(v).ok_or(ParseError::new(E_TIME))?),
                Col::TimeTaken => event.event.duration = Some(duration_ns(v).ok_or(ParseError::new(E_NUMBER))?),
                Col::ClientIp => self.address(&mut event.source, v)?,
                Col::ClientPort => event.source.port = Some(number(v)?),
                Col::ClientDns => common::set_name_or_ip(&mut event.source, v),
                Col::ServerIp | Col::RemoteIp => self.address(&mut event.destination, v)?,
                Col::ProxyIp => {
                    if self.strict && parse_ip(v).is_none() {
                        return fail(E_IP);
                    }
                }
                Col::ServerPort | Col::RemotePort => event.destination.port = Some(number(v)?),
                Col::RemoteDns => common::set_name_or_ip(&mut event.destination, v),
                Col::Computer => event.host.hostname = Some(text(v)),
                Col::Site => site = Some(v),
                Col::User => event.user.name = Some(text(v)),
                Col::Method => {
                    if !is_method(v) {
                        return fail(E_METHOD);
                    }
                    method = Some(v);
                    event.http.request.method = Some(b(v));
                }
                Col::Uri => url.uri = Some(v),
                Col::UriStem | Col::UriPath => url.stem = Some(v),
                Col::UriQuery => url.query = Some(v),
                Col::UriScheme => url.scheme = Some(v),
                Col::UriHost => url.host = Some(v),
                Col::UriPort => {
                    number::<u16>(v)?;
                    url.port = Some(v);
                }
                Col::UriExtension => url.extension = Some(v),
                Col::Status => {
                    let status = parse_status(v, self.strict).ok_or(ParseError::new(E_STATUS))?;
                    event.http.response.status_code = Some(status);
                    event.event.outcome = match status {
                        100..=399 => Some(b("success")),
                        400..=599 => Some(b("failure")),
                        _ => None,
                    };
                }
                Col::ResponseBytes => event.http.response.bytes = Some(number(v)?),
                Col::RequestBytes => event.http.request.bytes = Some(number(v)?),
                Col::UserAgent => {
                    // IIS writes `+` for spaces; a quoted value (ProxySG) is as the client sent it.
                    event.user_agent.original = Some(if !self.proxy && !sp.quoted && v.contains('+') {
                        Cow::Owned(v.replace('+', " "))
                    } else {
                        text(v)
                    });
                }
                Col::Referer => event.http.request.referrer = Some(text(v)),
                Col::Cookie => event.http.request.cookie = Some(text(v)),
                Col::RequestContentType => event.http.request.mime_type = Some(text(v)),
                Col::RefererOrHost => {
                    if v.contains("://") {
                        event.http.request.referrer = Some(b(v));
                    } else if is_host(v) {
                        url.host = Some(v);
                    }
                }
                Col::ContentType => event.http.response.mime_type = Some(text(v)),
                Col::Action | Col::FilterResult => {
                    if self.strict && !is_verdict(v) {
                        return fail(E_VERDICT);
                    }
                    match col {
                        Col::Action => event.event.action = Some(text(v)),
                        _ => filter = Some(v),
                    }
                }
                Col::Version => {
                    if self.strict && !v.starts_with("HTTP/") {
                        return fail(E_VERSION);
                    }
                    event.http.version = Some(b(v.strip_prefix("HTTP/").unwrap_or(v)));
                }
                Col::ForwardedFor => {
                    if self.strict && !v.split(',').all(|ip| parse_ip(ip.trim()).is_some()) {
                        return fail(E_IP);
                    }
                    // The first entry is the original client; later ones are proxies.
                    event.network.forwarded_ip = v.split(',').next().and_then(|ip| parse_ip(ip.trim()));
                }
                Col::Number => {
                    number::<u64>(v)?;
                }
                Col::Ignore => {}
            }
        }
        match (date.or(self.date_hint), time) {
            (Some((year, month, day)), Some((hour, minute, second, nanos))) => {
                let civil = Civil {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    nanos,
                };
                event.timestamp = Some(civil.at_offset(0).ok_or(ParseError::new(E_TIME))?);
            }
            (None, Some(_)) => return fail(E_NO_DATE),
            _ => {}
        }
        if event.event.action.is_none() {
            event.event.action = filter.map(Cow::Borrowed);
        }
        if event.host.hostname.is_none() && line.syslog.and_then(|h| h.hostname).is_none() {
            event.host.hostname = site.map(Cow::Borrowed);
        }
        event.url = url.build(method);
        event.set_dataset(DATASET);
        Ok(())
    }

    /// Sets an endpoint's address and IP. Headerless, the value must be an IP: the column is a
    /// guess, and a host name there means the guess is wrong.
    fn address(&self, ep: &mut Endpoint<'a>, v: &'a str) -> Result<(), ParseError> {
        let v = unmangle(v);
        let ip = parse_ip(v);
        if self.strict && ip.is_none() {
            return fail(E_IP);
        }
        ep.ip = ip;
        ep.address = Some(Cow::Borrowed(v));
        Ok(())
    }
}

impl<'a> UrlParts<'a> {
    /// Combines the URL columns: `cs-uri` whole; else the stem or path with the query, made
    /// absolute when scheme and host are logged (proxies), or `host:port` for tunnels.
    fn build(&self, method: Option<&str>) -> Url<'a> {
        let query = self
            .query
            .map(|q| q.strip_prefix('?').unwrap_or(q))
            .filter(|q| !q.is_empty());
        let mut url = if let Some(uri) = self.uri {
            common::split_url(uri)
        } else if let (Some(host), true) = (self.host, self.is_tunnel(method)) {
            let original = match self.port {
                Some(port) => Cow::Owned(join(&[host, ":", port])),
                None => Cow::Borrowed(host),
            };
            Url {
                original: Some(original),
                domain: Some(Cow::Borrowed(host)),
                ..Url::default()
            }
        } else if let Some(stem) = self.stem {
            let absolute = stem.contains("://");
            // An origin-form stem is a path as the server received it: `?` and `#` in it are
            // literal (IIS logs the query apart; clients never send a fragment).
            let mut url = if absolute {
                common::split_url(stem)
            } else {
                Url {
                    original: Some(Cow::Borrowed(stem)),
                    path: Some(Cow::Borrowed(stem)),
                    extension: common::extension(stem).map(Cow::Borrowed),
                    ..Url::default()
                }
            };
            if let Some(q) = query {
                url.query = Some(Cow::Borrowed(q));
            }
            match (absolute, self.scheme, self.host) {
                (false, Some(scheme), Some(host)) => {
                    let port = self.port.filter(|p| Some(*p) != default_port(scheme));
                    let mut s = String::with_capacity(
                        scheme.len() + host.len() + stem.len() + query.map_or(0, |q| q.len() + 1) + 9,
                    );
                    for part in [scheme, "://", host] {
                        s.push_str(part);
                    }
                    if let Some(port) = port {
                        s.push(':');
                        s.push_str(port);
                    }
                    s.push_str(stem);
                    if let Some(q) = query {
                        s.push('?');
                        s.push_str(q);
                    }
                    url.original = Some(Cow::Owned(s));
                }
                _ => {
                    if let Some(q) = query {
                        url.original = Some(Cow::Owned(join(&[stem, "?", q])));
                    }
                }
            }
            url
        } else {
            Url::default()
        };
        if url.domain.is_none() {
            url.domain = self.host.map(Cow::Borrowed);
        }
        if url.scheme.is_none() {
            url.scheme = self.scheme.map(Cow::Borrowed);
        }
        if url.port.is_none() {
            url.port = self.port.and_then(parse_u16);
        }
        if let Some(ext) = self.extension {
            url.extension = Some(Cow::Borrowed(ext));
        }
        url
    }

    /// A CONNECT or a ProxySG tunnel (`tcp`, `ssl` scheme): the URL is `host:port`.
    fn is_tunnel(&self, method: Option<&str>) -> bool {
        self.uri.is_none()
            && (method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"))
                || self
                    .scheme
                    .is_some_and(|s| s.eq_ignore_ascii_case("tcp") || s.eq_ignore_ascii_case("ssl")))
    }
}

fn join(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

fn default_port(scheme: &str) -> Option<&'static str> {
    if scheme.eq_ignore_ascii_case("http") {
        Some("80")
    } else if scheme.eq_ignore_ascii_case("https") {
        Some("443")
    } else if scheme.eq_ignore_ascii_case("ftp") {
        Some("21")
    } else {
        None
    }
}

/// `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<(i16, u8, u8)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Some((
        digits(b, 4)? as i16,
        digits(&b[5..], 2)? as u8,
        digits(&b[8..], 2)? as u8,
    ))
}

/// `hh:mm:ss[.fff...]` → hour, minute, second, nanoseconds.
fn parse_time(s: &str) -> Option<(u8, u8, u8, u32)> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let nanos = match &b[8..] {
        [] => 0,
        [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 9 => {
            digits(frac, frac.len())? * 10u32.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    Some((
        digits(b, 2)? as u8,
        digits(&b[3..], 2)? as u8,
        digits(&b[6..], 2)? as u8,
        nanos,
    ))
}

/// `time-taken` in nanoseconds: IIS and ProxySG write whole milliseconds; a decimal value is
/// seconds, as the W3C draft defines the field.
fn duration_ns(s: &str) -> Option<u64> {
    match s.split_once('.') {
        None => parse_u64(s)?.checked_mul(1_000_000),
        Some((secs, frac)) => {
            if frac.len() > 9 {
                return None;
            }
            let f = if frac.is_empty() { 0 } else { parse_u64(frac)? };
            let frac_ns = f * 10u64.pow(9 - frac.len() as u32);
            parse_u64(secs)?.checked_mul(1_000_000_000)?.checked_add(frac_ns)
        }
    }
}

fn number<T: TryFrom<u64>>(s: &str) -> Result<T, ParseError> {
    parse_u64(s)
        .and_then(|n| T::try_from(n).ok())
        .ok_or(ParseError::new(E_NUMBER))
}

/// Header-driven: any status up to 999. Headerless: three digits, 100–599, or the `0` ProxySG
/// logs for tunnels, since the value also confirms the layout guess.
fn parse_status(s: &str, strict: bool) -> Option<u16> {
    let n = parse_u16(s)?;
    if strict {
        (s == "0" || s.len() == 3 && (100..=599).contains(&n)).then_some(n)
    } else {
        (s.len() <= 3).then_some(n)
    }
}

/// A ProxySG action or filter result: `TCP_NC_MISS`, `TUNNELED`, `OBSERVED`.
fn is_verdict(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An HTTP method is one word (`GET`, `PROPFIND`, `VERSION-CONTROL`; ProxySG writes `unknown`).
fn is_method(s: &str) -> bool {
    s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
}

/// A plausible `cs-host` value: a name or address, with an optional port.
fn is_host(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']'))
}

/// `[10.1.2.3](http://10.1.2.3)`: an address as a Markdown renderer rewrote it (seen in logs
/// pasted through chat and ticket tools) → `10.1.2.3`.
fn unmangle(s: &str) -> &str {
    match s.strip_prefix('[') {
        Some(inner) if s.ends_with(')') => inner.find("](").map_or(s, |i| &inner[..i]),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Field;
    use crate::parse::{Format, SyslogHeader, detect};

    const IIS_HEADER: &[&str] = &[
        "#Software: Microsoft Internet Information Services 10.0",
        "#Version: 1.0",
        "#Date: 2024-04-01 00:00:00",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) \
         cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
    ];

    const SG_HEADER: &[&str] = &[
        "#Software: SGOS 7.3.12.1",
        "#Version: 1.0",
        "#Start-Date: 2025-02-03 08:00:00",
        "#Date: 2025-02-03 08:00:00",
        "#Fields: date time time-taken c-ip cs-username cs-auth-group x-exception-id sc-filter-result \
         cs-categories cs(Referer) sc-status s-action cs-method rs(Content-Type) cs-uri-scheme cs-host cs-uri-port \
         cs-uri-path cs-uri-query cs-uri-extension cs(User-Agent) s-ip sc-bytes cs-bytes x-virus-id",
        "#Remark: 4711000123 \"proxy-fra-01\" \"10.8.0.2\" \"main\"",
    ];

    /// What the case is about, the lines before it, the line, and the fields expected (all of them).
    type EventCase<'c> = (&'c str, &'c [&'c str], &'c str, &'c [(&'c str, &'c str)]);

    /// Feeds `prelude` (each must be absorbed or parsed) and then `line` to a fresh parser.
    fn run<'a>(prelude: &[&str], line: Line<'a>) -> (Result<Parsed, ParseError>, Event<'a>) {
        let mut p = W3cParser::new(&ParseContext::default());
        for l in prelude {
            let mut ev = Event::default();
            assert!(p.parse(&Line::plain(l), &mut ev).is_ok(), "prelude line rejected: {l}");
        }
        let mut ev = Event::default();
        let got = p.parse(&line, &mut ev);
        (got, ev)
    }

    /// The event's set fields, by ECS name, as text.
    fn fields(ev: &Event<'_>) -> Vec<(&'static str, String)> {
        Field::ALL
            .iter()
            .filter_map(|f| ev.get(*f).map(|v| (f.name(), v.to_string())))
            .collect()
    }

    /// Runs each case and compares the fields it gave with `common` and the case's own, in any
    /// order.
    fn check_events(common: &[(&str, &str)], cases: &[EventCase<'_>]) {
        for (what, prelude, line, want) in cases {
            let (got, ev) = run(prelude, Line::plain(line));
            assert_eq!(got, Ok(Parsed::Event), "{what}");
            let mut want: Vec<(&str, String)> = common.iter().chain(*want).map(|(k, v)| (*k, v.to_string())).collect();
            let mut got = fields(&ev);
            want.sort();
            got.sort();
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn events() {
        let proxy_main = "#Fields: date time time-taken c-ip sc-status s-action sc-bytes cs-bytes cs-method \
            cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query cs-username cs-auth-group s-supplier-name \
            s-supplier-ip rs(Content-Type) cs(Referer) cs(User-Agent) sc-filter-result cs-categories x-virus-id s-ip";
        let cases: &[EventCase<'_>] = &[
            (
                "headerless IIS 8.5+ default layout, + in the user agent",
                &[],
                "2024-03-14 09:21:07 10.20.0.15 GET /images/logo.gif uid=7f3a9c 443 - 198.51.100.23 \
                 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) https://mail.example.org/ 200 0 0 31",
                &[
                    ("@timestamp", "2024-03-14T09:21:07Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "success"),
                    ("event.duration", "31000000"),
                    ("source.address", "198.51.100.23"),
                    ("source.ip", "198.51.100.23"),
                    ("destination.address", "10.20.0.15"),
                    ("destination.ip", "10.20.0.15"),
                    ("destination.port", "443"),
                    ("url.original", "/images/logo.gif?uid=7f3a9c"),
                    ("url.path", "/images/logo.gif"),
                    ("url.query", "uid=7f3a9c"),
                    ("url.extension", "gif"),
                    ("http.request.method", "GET"),
                    ("http.request.referrer", "https://mail.example.org/"),
                    ("http.response.status_code", "200"),
                    ("user_agent.original", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
                ],
            ),
            (
                "headerless IIS 7.5 layout, IPv6 with zone ids, domain user, X-Forwarded-For list",
                &[],
                "2023-11-02 23:59:59 fe80::1c2b:3a4d:5e6f:7a8b%12 POST /owa/auth.owa - 443 CONTOSO\\akhan \
                 fe80::9d1:2e3f:4a5b:6c7d%12 Microsoft+Office/16.0 302 0 0 15 203.0.113.77,10.1.1.4",
                &[
                    ("@timestamp", "2023-11-02T23:59:59Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "success"),
                    ("event.duration", "15000000"),
                    ("source.address", "fe80::9d1:2e3f:4a5b:6c7d%12"),
                    ("source.ip", "fe80::9d1:2e3f:4a5b:6c7d"),
                    ("destination.address", "fe80::1c2b:3a4d:5e6f:7a8b%12"),
                    ("destination.ip", "fe80::1c2b:3a4d:5e6f:7a8b"),
                    ("destination.port", "443"),
                    ("network.forwarded_ip", "203.0.113.77"),
                    ("user.name", "CONTOSO\\akhan"),
                    ("url.original", "/owa/auth.owa"),
                    ("url.path", "/owa/auth.owa"),
                    ("url.extension", "owa"),
                    ("http.request.method", "POST"),
                    ("http.response.status_code", "302"),
                    ("user_agent.original", "Microsoft Office/16.0"),
                ],
            ),
            (
                "headerless IIS with every standard field, non-ASCII path, cookie skipped",
                &[],
                "2024-06-30 12:00:01 W3SVC3 WEB-FRA-02 192.0.2.10 GET /Fotos/Größe/bild.JPG - 80 - 198.51.100.7 \
                 HTTP/2.0 Mozilla/5.0+(iPhone;+CPU+iPhone+OS+17_5+like+Mac+OS+X) sid=42;+theme=dark \
                 https://www.example.de/galerie www.example.de 304 0 0 211 1043 0",
                &[
                    ("@timestamp", "2024-06-30T12:00:01Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "success"),
                    ("event.duration", "0"),
                    ("host.hostname", "WEB-FRA-02"),
                    ("source.address", "198.51.100.7"),
                    ("source.ip", "198.51.100.7"),
                    ("destination.address", "192.0.2.10"),
                    ("destination.ip", "192.0.2.10"),
                    ("destination.port", "80"),
                    ("url.original", "/Fotos/Größe/bild.JPG"),
                    ("url.domain", "www.example.de"),
                    ("url.path", "/Fotos/Größe/bild.JPG"),
                    ("url.extension", "JPG"),
                    ("http.request.method", "GET"),
                    ("http.request.referrer", "https://www.example.de/galerie"),
                    ("http.request.bytes", "1043"),
                    ("http.response.status_code", "304"),
                    ("http.response.bytes", "211"),
                    ("http.version", "2.0"),
                    (
                        "user_agent.original",
                        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
                    ),
                ],
            ),
            (
                "headerless Exchange front end: s-computername, X-Forwarded-For and a trailing port",
                &[],
                "2024-01-09 07:30:12 MBX01 10.0.5.21 POST /Microsoft-Server-ActiveSync/default.eas \
                 Cmd=Sync&User=bwayne&DeviceId=ABC123 443 CORP\\bwayne 10.0.9.9 Apple-iPhone13C2/2006.24 - \
                 200 0 0 934 198.51.100.40 51544",
                &[
                    ("@timestamp", "2024-01-09T07:30:12Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "success"),
                    ("event.duration", "934000000"),
                    ("host.hostname", "MBX01"),
                    ("source.address", "10.0.9.9"),
                    ("source.ip", "10.0.9.9"),
                    ("destination.address", "10.0.5.21"),
                    ("destination.ip", "10.0.5.21"),
                    ("destination.port", "443"),
                    ("network.forwarded_ip", "198.51.100.40"),
                    ("user.name", "CORP\\bwayne"),
                    (
                        "url.original",
                        "/Microsoft-Server-ActiveSync/default.eas?Cmd=Sync&User=bwayne&DeviceId=ABC123",
                    ),
                    ("url.path", "/Microsoft-Server-ActiveSync/default.eas"),
                    ("url.query", "Cmd=Sync&User=bwayne&DeviceId=ABC123"),
                    ("url.extension", "eas"),
                    ("http.request.method", "POST"),
                    ("http.response.status_code", "200"),
                    ("user_agent.original", "Apple-iPhone13C2/2006.24"),
                ],
            ),
            (
                "headerless, s-sitename and cs-host (no s-ip), server error, literal # in the stem",
                &[],
                "2024-05-05 05:05:05 W3SVC1 GET /api/v1/#items id=5 8080 - 192.0.2.200 python-requests/2.31.0 - - \
                 api.example.com 500 0 0 98 412 1203",
                &[
                    ("@timestamp", "2024-05-05T05:05:05Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "failure"),
                    ("event.duration", "1203000000"),
                    ("host.hostname", "W3SVC1"),
                    ("source.address", "192.0.2.200"),
                    ("source.ip", "192.0.2.200"),
                    ("destination.port", "8080"),
                    ("url.original", "/api/v1/#items?id=5"),
                    ("url.domain", "api.example.com"),
                    ("url.path", "/api/v1/#items"),
                    ("url.query", "id=5"),
                    ("http.request.method", "GET"),
                    ("http.request.bytes", "412"),
                    ("http.response.status_code", "500"),
                    ("http.response.bytes", "98"),
                    ("user_agent.original", "python-requests/2.31.0"),
                ],
            ),
            (
                "headerless, addresses rewritten as Markdown links by a chat tool",
                &[],
                "2024-02-01 10:00:00 [192.0.2.44](http://192.0.2.44) GET /status - 80 - \
                 [198.51.100.9](http://198.51.100.9) curl/8.4.0 200 0 0 2",
                &[
                    ("@timestamp", "2024-02-01T10:00:00Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "success"),
                    ("event.duration", "2000000"),
                    ("source.address", "198.51.100.9"),
                    ("source.ip", "198.51.100.9"),
                    ("destination.address", "192.0.2.44"),
                    ("destination.ip", "192.0.2.44"),
                    ("destination.port", "80"),
                    ("url.original", "/status"),
                    ("url.path", "/status"),
                    ("http.request.method", "GET"),
                    ("http.response.status_code", "200"),
                    ("user_agent.original", "curl/8.4.0"),
                ],
            ),
            (
                "headerless SGOS main format (ProxySG over syslog sends no header)",
                &[],
                "2025-02-03 09:01:44 212 10.8.20.11 200 TCP_MISS 43 911 GET https cdn.mailtrack.example 443 /t/o.png \
                 ?id=77f1&c=3 - - cdn.mailtrack.example image/png - \"Mozilla/5.0 (X11; Linux x86_64)\" OBSERVED \
                 \"Web Ads/Analytics\" - 10.8.0.2",
                &[
                    ("@timestamp", "2025-02-03T09:01:44Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.action", "TCP_MISS"),
                    ("event.outcome", "success"),
                    ("event.duration", "212000000"),
                    ("source.address", "10.8.20.11"),
                    ("source.ip", "10.8.20.11"),
                    ("destination.domain", "cdn.mailtrack.example"),
                    ("url.original", "https://cdn.mailtrack.example/t/o.png?id=77f1&c=3"),
                    ("url.scheme", "https"),
                    ("url.domain", "cdn.mailtrack.example"),
                    ("url.port", "443"),
                    ("url.path", "/t/o.png"),
                    ("url.query", "id=77f1&c=3"),
                    ("url.extension", "png"),
                    ("http.request.method", "GET"),
                    ("http.request.bytes", "911"),
                    ("http.response.status_code", "200"),
                    ("http.response.bytes", "43"),
                    ("http.response.mime_type", "image/png"),
                    ("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                ],
            ),
            (
                "headerless SGOS bcreportermain_v1 with application columns: a tunnel with status 0",
                &[],
                "2025-02-03 08:14:31 0 10.8.14.77 - - - OBSERVED \"Technology/Internet\" - 0 TUNNELED unknown - ssl \
                 chat.example.com 443 / - - - 10.8.0.2 4897 5784 - \"Slack\" \"none\"",
                &[
                    ("@timestamp", "2025-02-03T08:14:31Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.action", "TUNNELED"),
                    ("event.duration", "0"),
                    ("source.address", "10.8.14.77"),
                    ("source.ip", "10.8.14.77"),
                    ("url.original", "chat.example.com:443"),
                    ("url.scheme", "ssl"),
                    ("url.domain", "chat.example.com"),
                    ("url.port", "443"),
                    ("http.request.method", "unknown"),
                    ("http.request.bytes", "5784"),
                    ("http.response.status_code", "0"),
                    ("http.response.bytes", "4897"),
                ],
            ),
            (
                "IIS with its header; - for empty fields",
                IIS_HEADER,
                "2024-04-01 00:00:03 192.0.2.5 GET /robots.txt - 443 - 203.0.113.9 - - 404 0 2 1",
                &[
                    ("@timestamp", "2024-04-01T00:00:03Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "failure"),
                    ("event.duration", "1000000"),
                    ("source.address", "203.0.113.9"),
                    ("source.ip", "203.0.113.9"),
                    ("destination.address", "192.0.2.5"),
                    ("destination.ip", "192.0.2.5"),
                    ("destination.port", "443"),
                    ("url.original", "/robots.txt"),
                    ("url.path", "/robots.txt"),
                    ("url.extension", "txt"),
                    ("http.request.method", "GET"),
                    ("http.response.status_code", "404"),
                ],
            ),
            (
                "ProxySG bcreportermain_v1: quoted fields, URL assembled, s-ip (the proxy) not mapped",
                SG_HEADER,
                "2025-02-03 08:14:22 87 10.8.14.53 jmiller \"CORP\\Web Users\" - OBSERVED \"Web Ads/Analytics\" \
                 https://news.example.com/article/42 200 TCP_NC_MISS GET image/gif http px.tracker.example 80 \
                 /open/p.gif ?u=a7f3c9&m=8812 gif \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/121.0 Safari/537.36\" 10.8.0.2 512 731 -",
                &[
                    ("@timestamp", "2025-02-03T08:14:22Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.action", "TCP_NC_MISS"),
                    ("event.outcome", "success"),
                    ("event.duration", "87000000"),
                    ("source.address", "10.8.14.53"),
                    ("source.ip", "10.8.14.53"),
                    ("user.name", "jmiller"),
                    ("url.original", "http://px.tracker.example/open/p.gif?u=a7f3c9&m=8812"),
                    ("url.scheme", "http"),
                    ("url.domain", "px.tracker.example"),
                    ("url.port", "80"),
                    ("url.path", "/open/p.gif"),
                    ("url.query", "u=a7f3c9&m=8812"),
                    ("url.extension", "gif"),
                    ("http.request.method", "GET"),
                    ("http.request.referrer", "https://news.example.com/article/42"),
                    ("http.request.bytes", "731"),
                    ("http.response.status_code", "200"),
                    ("http.response.bytes", "512"),
                    ("http.response.mime_type", "image/gif"),
                    (
                        "user_agent.original",
                        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                         Chrome/121.0 Safari/537.36",
                    ),
                ],
            ),
            (
                "ProxySG denied request to a non-default port",
                SG_HEADER,
                "2025-02-03 08:14:25 3 10.8.14.53 jmiller \"CORP\\Web Users\" policy_denied DENIED \"Suspicious\" - \
                 403 TCP_DENIED GET text/html https evil.example.net 8443 /c2/beacon - - Wget/1.21 10.8.0.2 1410 220 -",
                &[
                    ("@timestamp", "2025-02-03T08:14:25Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.action", "TCP_DENIED"),
                    ("event.outcome", "failure"),
                    ("event.duration", "3000000"),
                    ("source.address", "10.8.14.53"),
                    ("source.ip", "10.8.14.53"),
                    ("user.name", "jmiller"),
                    ("url.original", "https://evil.example.net:8443/c2/beacon"),
                    ("url.scheme", "https"),
                    ("url.domain", "evil.example.net"),
                    ("url.port", "8443"),
                    ("url.path", "/c2/beacon"),
                    ("http.request.method", "GET"),
                    ("http.request.bytes", "220"),
                    ("http.response.status_code", "403"),
                    ("http.response.bytes", "1410"),
                    ("http.response.mime_type", "text/html"),
                    ("user_agent.original", "Wget/1.21"),
                ],
            ),
            (
                "ProxySG CONNECT tunnel: host:port",
                SG_HEADER,
                "2025-02-03 08:14:31 1502 10.8.14.77 - - - OBSERVED \"Technology/Internet\" - 200 TCP_TUNNELED \
                 CONNECT - tcp mail.example.org 443 / - - - 10.8.0.2 5120 1893 -",
                &[
                    ("@timestamp", "2025-02-03T08:14:31Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.action", "TCP_TUNNELED"),
                    ("event.outcome", "success"),
                    ("event.duration", "1502000000"),
                    ("source.address", "10.8.14.77"),
                    ("source.ip", "10.8.14.77"),
                    ("url.original", "mail.example.org:443"),
                    ("url.scheme", "tcp"),
                    ("url.domain", "mail.example.org"),
                    ("url.port", "443"),
                    ("http.request.method", "CONNECT"),
                    ("http.request.bytes", "1893"),
                    ("http.response.status_code", "200"),
                    ("http.response.bytes", "5120"),
                ],
            ),
            (
                "ProxySG main format without #Software: proxy by its fields; upstream server; quoted + kept",
                &[proxy_main],
                "2025-02-03 09:01:44 212 10.8.20.11 200 TCP_MISS 43 911 GET https cdn.mailtrack.example 443 /t/o.png \
                 ?id=77f1&c=3 - - cdn.mailtrack.example 198.51.100.61 image/png - \"Mozilla/5.0 (X11; Linux x86_64; \
                 rv:122.0) Gecko/20100101 Firefox/122.0+test\" OBSERVED \"Web Ads/Analytics\" - 10.8.0.2",
                &[
                    ("@timestamp", "2025-02-03T09:01:44Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.action", "TCP_MISS"),
                    ("event.outcome", "success"),
                    ("event.duration", "212000000"),
                    ("source.address", "10.8.20.11"),
                    ("source.ip", "10.8.20.11"),
                    ("destination.address", "198.51.100.61"),
                    ("destination.ip", "198.51.100.61"),
                    ("destination.domain", "cdn.mailtrack.example"),
                    ("url.original", "https://cdn.mailtrack.example/t/o.png?id=77f1&c=3"),
                    ("url.scheme", "https"),
                    ("url.domain", "cdn.mailtrack.example"),
                    ("url.port", "443"),
                    ("url.path", "/t/o.png"),
                    ("url.query", "id=77f1&c=3"),
                    ("url.extension", "png"),
                    ("http.request.method", "GET"),
                    ("http.request.bytes", "911"),
                    ("http.response.status_code", "200"),
                    ("http.response.bytes", "43"),
                    ("http.response.mime_type", "image/png"),
                    (
                        "user_agent.original",
                        "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0+test",
                    ),
                ],
            ),
            (
                "proxy export with cs-uri, no date column (#Date gives it), fraction of a second, decimal time-taken",
                &[
                    "#Version: 1.0",
                    "#Date: 2024-12-24 00:00:00",
                    "#Fields: time c-ip cs-method cs-uri sc-status sc-bytes time-taken sc-filter-result",
                ],
                "18:30:00.250 192.0.2.77 GET http://downloads.example.com/tools/setup.exe?ver=3 200 1048576 1.5 PROXIED",
                &[
                    ("@timestamp", "2024-12-24T18:30:00.25Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.action", "PROXIED"),
                    ("event.outcome", "success"),
                    ("event.duration", "1500000000"),
                    ("source.address", "192.0.2.77"),
                    ("source.ip", "192.0.2.77"),
                    ("url.original", "http://downloads.example.com/tools/setup.exe?ver=3"),
                    ("url.scheme", "http"),
                    ("url.domain", "downloads.example.com"),
                    ("url.path", "/tools/setup.exe"),
                    ("url.query", "ver=3"),
                    ("url.extension", "exe"),
                    ("http.request.method", "GET"),
                    ("http.response.status_code", "200"),
                    ("http.response.bytes", "1048576"),
                ],
            ),
            (
                "a new #Fields line applies to the lines after it; CRLF line end; unknown fields skipped",
                &[
                    IIS_HEADER[0],
                    IIS_HEADER[3],
                    "#Fields: date time c-ip cs-method cs-uri-stem sc-status s-computername x-custom-thing",
                ],
                "2024-04-01 01:00:00 203.0.113.9 HEAD /health 200 WEB01 whatever\r",
                &[
                    ("@timestamp", "2024-04-01T01:00:00Z"),
                    ("event.dataset", "w3c.access"),
                    ("event.outcome", "success"),
                    ("host.hostname", "WEB01"),
                    ("source.address", "203.0.113.9"),
                    ("source.ip", "203.0.113.9"),
                    ("url.original", "/health"),
                    ("url.path", "/health"),
                    ("http.request.method", "HEAD"),
                    ("http.response.status_code", "200"),
                ],
            ),
        ];
        check_events(&[], cases);
    }

    /// Third-party line shapes that were misread, each case naming its gap.
    #[test]
    fn gaps_on_third_party_lines() {
        const SG: &[&str] = &[
            "#Software: SGOS 7.3.1.1",
            "#Fields: date time c-ip cs-method cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query sc-status \
             cs(User-Agent) cs(Referer) s-supplier-name",
        ];
        const IIS_DNS: &[&str] = &["#Fields: date time c-ip c-dns cs-method cs-uri-stem sc-status r-dns"];
        let common = [
            ("@timestamp", "2024-03-14T12:00:00Z"),
            ("event.dataset", "w3c.access"),
            ("source.address", "10.20.3.14"),
            ("source.ip", "10.20.3.14"),
            ("http.request.method", "GET"),
        ];
        let cases: &[EventCase<'_>] = &[
            (
                "gap: a quoted value with doubled quotes was cut at the first `\"\" ` (one field, undoubled)",
                SG,
                r#"2024-03-14 12:00:00 10.20.3.14 GET http a.example 80 /x - 200 " ""garbage"" w/ spaces " "http://r.example/" 203.0.113.9"#,
                &[
                    ("event.outcome", "success"),
                    ("url.original", "http://a.example/x"),
                    ("url.scheme", "http"),
                    ("url.domain", "a.example"),
                    ("url.port", "80"),
                    ("url.path", "/x"),
                    ("http.response.status_code", "200"),
                    ("user_agent.original", r#" "garbage" w/ spaces "#),
                    ("http.request.referrer", "http://r.example/"),
                    ("destination.address", "203.0.113.9"),
                    ("destination.ip", "203.0.113.9"),
                ],
            ),
            (
                "gap: only doubled quotes, and an empty quoted value",
                SG,
                r#"2024-03-14 12:00:00 10.20.3.14 GET http a.example 80 /x - 200 """""" "" a.example"#,
                &[
                    ("event.outcome", "success"),
                    ("url.original", "http://a.example/x"),
                    ("url.scheme", "http"),
                    ("url.domain", "a.example"),
                    ("url.port", "80"),
                    ("url.path", "/x"),
                    ("http.response.status_code", "200"),
                    ("user_agent.original", r#""""#),
                    ("destination.domain", "a.example"),
                ],
            ),
            (
                "gap: s-supplier-name holding an IP address went to destination.domain",
                SG,
                r#"2024-03-14 12:00:00 10.20.3.14 GET http 203.0.113.9 80 /x - 200 curl/8.5.0 - 203.0.113.9"#,
                &[
                    ("event.outcome", "success"),
                    ("url.original", "http://203.0.113.9/x"),
                    ("url.scheme", "http"),
                    ("url.domain", "203.0.113.9"),
                    ("url.port", "80"),
                    ("url.path", "/x"),
                    ("http.response.status_code", "200"),
                    ("user_agent.original", "curl/8.5.0"),
                    ("destination.address", "203.0.113.9"),
                    ("destination.ip", "203.0.113.9"),
                ],
            ),
            (
                "gap: c-dns and r-dns holding addresses (no reverse DNS) went to .domain",
                IIS_DNS,
                "2024-03-14 12:00:00 10.20.3.14 10.20.3.14 GET /x 200 2001:db8::7",
                &[
                    ("event.outcome", "success"),
                    ("url.original", "/x"),
                    ("url.path", "/x"),
                    ("http.response.status_code", "200"),
                    ("destination.address", "2001:db8::7"),
                    ("destination.ip", "2001:db8::7"),
                ],
            ),
        ];
        check_events(&common, cases);
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, &[&str], &str, &str)] = &[
            (
                "Exim line (starts with a date, wrong field count)",
                &[],
                "2022-06-29 16:04:19 H=mx.example.com [192.0.2.1] F=<a@example.com> rejected RCPT <b@example.net>: \
                 relay not permitted",
                E_NO_LAYOUT_COUNT,
            ),
            (
                "Exim line with as many fields as the IIS default layout",
                &[],
                "2022-06-29 16:04:19 1oBcDe-0001aB-2x <= alice@example.com H=mx.example.com [192.0.2.1] P=esmtps \
                 X=TLSv1.3 CV=no S=2345 id=abc@example.com T=Hi from bob@example.net",
                E_NO_LAYOUT_VALUES,
            ),
            (
                "IIS-shaped line with a non-numeric status",
                &[],
                "2024-03-14 09:21:07 10.20.0.15 GET /a - 443 - 198.51.100.23 curl/8 - OK 0 0 31",
                E_NO_LAYOUT_VALUES,
            ),
            (
                "ProxySG-shaped headerless line with a lower-case action",
                &[],
                "2025-02-03 09:01:44 212 10.8.20.11 200 tcp_miss 43 911 GET https cdn.example 443 /t - - - \
                 cdn.example image/png - - OBSERVED - - 10.8.0.2",
                E_NO_LAYOUT_VALUES,
            ),
            (
                "combined log line",
                &[],
                "192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 2326 \"-\" \"curl/8.0\"",
                E_START,
            ),
            (
                "Squid native line",
                &[],
                "1157689312.049   5006 192.0.2.8 TCP_MISS/200 19763 CONNECT login.example.com:443 - \
                 HIER_DIRECT/198.51.100.2 -",
                E_START,
            ),
            (
                "another tool's comment",
                &[],
                "# failJSON: { \"match\": false }",
                E_DIRECTIVE,
            ),
            ("a bare #", &[], "#", E_DIRECTIVE),
            ("empty #Fields", &[], "#Fields:   ", E_EMPTY_FIELDS),
            (
                "Exchange message tracking header",
                &[
                    "#Software: Microsoft Exchange Server",
                    "#Log-type: Message Tracking Log",
                ],
                "#Fields: date-time,client-ip,client-hostname,server-ip,server-hostname,source-context",
                E_CSV_FIELDS,
            ),
            (
                "field count differs from #Fields (the old layout after a new header)",
                &[IIS_HEADER[3], "#Fields: date time c-ip cs-method cs-uri-stem sc-status"],
                "2024-04-01 00:00:03 192.0.2.5 GET /robots.txt - 443 - 203.0.113.9 - - 404 0 2 1",
                E_COUNT,
            ),
            (
                "month 13",
                IIS_HEADER,
                "2024-13-01 00:00:03 192.0.2.5 GET / - 443 - 203.0.113.9 - - 404 0 2 1",
                E_TIME,
            ),
            (
                "hour 25",
                IIS_HEADER,
                "2024-04-01 25:00:03 192.0.2.5 GET / - 443 - 203.0.113.9 - - 404 0 2 1",
                E_TIME,
            ),
            (
                "no date",
                IIS_HEADER,
                "- 00:00:03 192.0.2.5 GET / - 443 - 203.0.113.9 - - 404 0 2 1",
                E_TIME,
            ),
            (
                "bad method",
                IIS_HEADER,
                "2024-04-01 00:00:03 192.0.2.5 G3T / - 443 - 203.0.113.9 - - 404 0 2 1",
                E_METHOD,
            ),
            (
                "four-digit status",
                IIS_HEADER,
                "2024-04-01 00:00:03 192.0.2.5 GET / - 443 - 203.0.113.9 - - 4040 0 2 1",
                E_STATUS,
            ),
            (
                "non-numeric time-taken",
                IIS_HEADER,
                "2024-04-01 00:00:03 192.0.2.5 GET / - 443 - 203.0.113.9 - - 404 0 2 1ms",
                E_NUMBER,
            ),
            (
                "time without date column or #Date",
                &["#Fields: time c-ip cs-method cs-uri-stem sc-status"],
                "10:00:00 192.0.2.1 GET / 200",
                E_NO_DATE,
            ),
        ];
        for (what, prelude, line, reason) in cases {
            let (got, _) = run(prelude, Line::plain(line));
            assert_eq!(got, Err(ParseError::new(reason)), "{what}");
        }
    }

    #[test]
    fn directives_are_absorbed() {
        for line in IIS_HEADER
            .iter()
            .chain(SG_HEADER)
            .chain(&["#End-Date: 2025-02-03 23:59:59", "\u{feff}#Version: 1.0"])
        {
            let (got, _) = run(&[], Line::plain(line));
            assert_eq!(got, Ok(Parsed::Absorbed), "{line}");
        }
    }

    #[test]
    fn site_name_yields_to_the_syslog_host() {
        let body = "2024-05-05 05:05:05 W3SVC1 GET / - 80 - 192.0.2.200 curl/8 - - www.example.com 200 0 0 98 412 3";
        let raw = "<134>May  5 05:05:05 iis-fra-01 iislog: 2024-05-05 05:05:05 ...";
        let line = Line {
            raw,
            body,
            syslog: Some(SyslogHeader {
                priority: Some(134),
                timestamp: None,
                hostname: Some("iis-fra-01"),
                app: Some("iislog"),
                pid: None,
            }),
            offset: 0,
            number: 1,
        };
        let (got, ev) = run(&[], line);
        assert_eq!(got, Ok(Parsed::Event));
        assert_eq!(ev.host.hostname, None);
        let (_, ev) = run(&[], Line::plain(body));
        assert_eq!(ev.host.hostname.as_deref(), Some("W3SVC1"));
    }

    #[test]
    fn detected_as_w3c() {
        let ctx = ParseContext::default();
        let sg: Vec<&str> = SG_HEADER
            .iter()
            .copied()
            .chain([
                "2025-02-03 08:14:25 3 10.8.14.53 jmiller \"CORP\\Web Users\" policy_denied DENIED \"Suspicious\" - \
                 403 TCP_DENIED GET text/html https evil.example.net 8443 /c2/beacon - - Wget/1.21 10.8.0.2 1410 220 -",
            ])
            .collect();
        let iis = [
            INFO.example,
            "2024-04-01 00:00:03 192.0.2.5 GET /robots.txt - 443 - 203.0.113.9 - - 404 0 2 1",
        ];
        for sample in [&sg[..], &iis[..]] {
            let d = detect::detect(sample, &ctx, &Format::ALL).expect("detected");
            assert_eq!((d.format, d.accepted), (Format::W3c, sample.len()));
        }
    }

    #[test]
    fn never_panics() {
        let samples: Vec<&str> = IIS_HEADER
            .iter()
            .chain(SG_HEADER)
            .copied()
            .chain([
                INFO.example,
                "2024-06-30 12:00:01 W3SVC3 WEB-FRA-02 192.0.2.10 GET /Fotos/Größe/bild.JPG - 80 - 198.51.100.7 \
                 HTTP/2.0 Mozilla/5.0+(iPhone) sid=42 https://www.example.de/ www.example.de 304 0 0 211 1043 0",
                "2025-02-03 08:14:22 87 10.8.14.53 jmiller \"CORP\\Web Users\" - OBSERVED \"Web Ads\" - 200 \
                 TCP_NC_MISS GET image/gif http px.example 80 /p.gif ?u=1 gif \"Mozilla/5.0 (X11)\" 10.8.0.2 512 731 -",
                "2024-02-01 10:00:00 [192.0.2.44](http://192.0.2.44) GET /é - 80 - [::1 \"\" \"x 200 0 0 2",
            ])
            .collect();
        // Every prefix and a byte-flipped copy of every sample, in every parser state.
        let states: [&[&str]; 3] = [&[], IIS_HEADER, SG_HEADER];
        let mut seed: u32 = 0x2545_f491;
        for prelude in states {
            for s in &samples {
                let cuts = s.char_indices().map(|(i, _)| i).chain([s.len()]);
                for cut in cuts {
                    let _ = run(prelude, Line::plain(&s[..cut]));
                }
                for _ in 0..200 {
                    let mut bytes = s.as_bytes().to_vec();
                    for _ in 0..3 {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        let i = seed as usize % bytes.len();
                        bytes[i] = b" \"-#:.+[]()%0a9"[(seed >> 8) as usize % 15];
                    }
                    let text = String::from_utf8_lossy(&bytes);
                    let _ = run(prelude, Line::plain(&text));
                }
            }
        }
    }
}
