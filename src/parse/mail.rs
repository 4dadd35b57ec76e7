//! What the mail-log parsers (Postfix, Sendmail, Exim) share besides message assembly
//! ([`assemble`](super::assemble)): how far a message got ([`Disposition`]), hosts as MTAs log
//! them ([`HostSpec`]), and the owned copies an assembled message keeps.
//!
//! Nothing here panics on any input; single-line events borrow from the line (`Cow::Borrowed` as
//! the conversion), assembled messages copy ([`owned`]).

use std::borrow::Cow;

use super::common::{parse_ip, parse_u16};
use crate::event::{Endpoint, Event};

/// How far a mail message got; `event.action` holds the furthest step its lines have shown so
/// far and `event.outcome` follows it, so an event emitted at any time (timeout, end of input)
/// is consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disposition {
    /// Refused before it was accepted (every recipient rejected, or a fake reject).
    Rejected,
    Deferred,
    Bounced,
    Delivered,
}

impl Disposition {
    const ALL: [Disposition; 4] = [
        Disposition::Rejected,
        Disposition::Deferred,
        Disposition::Bounced,
        Disposition::Delivered,
    ];

    pub fn action(self) -> &'static str {
        match self {
            Disposition::Rejected => "rejected",
            Disposition::Deferred => "deferred",
            Disposition::Bounced => "bounced",
            Disposition::Delivered => "delivered",
        }
    }

    fn outcome(self) -> Option<&'static str> {
        match self {
            Disposition::Rejected | Disposition::Bounced => Some("failure"),
            Disposition::Deferred => None,
            Disposition::Delivered => Some("success"),
        }
    }
}

/// Records that a message reached `d`, unless it already got further.
pub fn advance(ev: &mut Event<'_>, d: Disposition) {
    let current = ev
        .event
        .action
        .as_deref()
        .and_then(|a| Disposition::ALL.into_iter().find(|x| x.action() == a));
    if current.is_some_and(|c| c >= d) {
        return;
    }
    ev.event.action = Some(Cow::Borrowed(d.action()));
    ev.event.outcome = d.outcome().map(Cow::Borrowed);
}

/// A host as Exim and Sendmail log it: `name (helo) [ip]:port`, every part optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostSpec<'a> {
    pub name: Option<&'a str>,
    pub helo: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub port: Option<u16>,
}

impl<'a> HostSpec<'a> {
    /// Reads a host at the start of `s`; returns it and the text after it.
    pub fn parse(s: &'a str) -> (HostSpec<'a>, &'a str) {
        let mut h = HostSpec::default();
        let mut r = s.trim_start_matches(' ');
        if !r.starts_with('[') && !r.starts_with('(') {
            let end = r.find(' ').unwrap_or(r.len());
            h.name = Some(&r[..end]).filter(|n| !n.is_empty());
            let t = r[end..].trim_start_matches(' ');
            if !(t.starts_with('(') || t.starts_with('[')) {
                return (h, &r[end..]);
            }
            r = t;
        }
        if let Some(inner) = r.strip_prefix('(') {
            let end = inner.find(')').unwrap_or(inner.len());
            h.helo = Some(&inner[..end]).filter(|n| !n.is_empty());
            let after = inner.get(end + 1..).unwrap_or("");
            let t = after.trim_start_matches(' ');
            if !t.starts_with('[') {
                return (h, after);
            }
            r = t;
        }
        if let Some(inner) = r.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            h.ip = Some(&inner[..end]).filter(|n| !n.is_empty());
            r = inner.get(end + 1..).unwrap_or("");
            if let Some(p) = r.strip_prefix(':') {
                let n = p.bytes().take_while(u8::is_ascii_digit).count();
                if n > 0 {
                    h.port = parse_u16(&p[..n]);
                    r = &p[n..];
                }
            }
        }
        (h, r)
    }
}

/// Sets an endpoint from a host: the IP as address (the name when there is none), the name (or
/// HELO) as domain. `conv` makes the strings borrowed or owned.
pub fn set_endpoint<'e, 'h>(ep: &mut Endpoint<'e>, h: &HostSpec<'h>, conv: fn(&'h str) -> Cow<'e, str>) {
    let ip = h.ip.map(|ip| {
        ip.strip_prefix("IPv6:")
            .or_else(|| ip.strip_prefix("ipv6:"))
            .unwrap_or(ip)
    });
    if let Some(ip) = ip {
        ep.ip = parse_ip(ip);
        ep.address = Some(conv(ip));
    } else if let Some(name) = h.name {
        ep.address = Some(conv(name));
    }
    ep.port = h.port.or(ep.port);
    // A HELO of an address literal (`[192.0.2.1]`) names no domain.
    if let Some(d) = h.name.or(h.helo.filter(|h| !h.starts_with('['))) {
        ep.domain = Some(conv(d));
    }
}

/// An owned copy, for the fields of an assembled message (which outlives its lines).
pub(super) fn owned(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_owned())
}

/// Sets a field of an assembled message to a copy of `s`, reusing the copy it holds: the lines of
/// a message repeat its envelope and status, so most calls copy nothing and none allocates.
pub(super) fn set_owned(slot: &mut Option<Cow<'static, str>>, s: &str) {
    match slot {
        Some(Cow::Owned(o)) => {
            if o != s {
                o.clear();
                o.push_str(s);
            }
        }
        _ => *slot = Some(owned(s)),
    }
}

/// Adds a recipient to an assembled message unless it is already there.
pub fn push_recipient(ev: &mut Event<'static>, address: &str) {
    if !address.is_empty() && !ev.email.to.address.iter().any(|a| a == address) {
        ev.email.to.address.push(owned(address));
    }
}

/// The display name of a mailbox header value: `"Jane Roe" <a@b>` → `Jane Roe`,
/// `Jane Roe <a@b>` → `Jane Roe`, `a@b (Jane Roe)` → `Jane Roe`; `None` when there is none.
/// Surrounding quotes are removed and `\"` unescaped; encoded words are left to the caller.
pub fn mailbox_name(v: &str) -> Option<Cow<'_, str>> {
    let v = v.trim();
    let raw = if let Some(lt) = v.rfind('<') {
        v[..lt].trim()
    } else if let (Some(open), true) = (v.find('('), v.ends_with(')')) {
        v[open + 1..v.len() - 1].trim()
    } else {
        return None;
    };
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw)
        .trim();
    if inner.is_empty() {
        None
    } else if inner.contains('\\') {
        Some(Cow::Owned(inner.replace("\\\"", "\"").replace("\\\\", "\\")))
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// The address of a mailbox header value: `"Name" <a@b>` → `a@b`, `a@b (Name)` → `a@b`. The last
/// angle address wins, as it is the one mail is sent to (a display name may quote another).
pub fn mailbox_address(v: &str) -> Option<&str> {
    let a = if let Some(lt) = v.rfind('<') {
        let inner = &v[lt + 1..];
        inner[..inner.find('>').unwrap_or(inner.len())].trim()
    } else {
        v.split_whitespace().find(|t| t.contains('@')).unwrap_or(v.trim())
    };
    (!a.is_empty()).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "\"Sophie Lang | BBC News\" <sophie.lang@bbc-worldnews.example>",
                Some("Sophie Lang | BBC News"),
            ),
            ("Jane Roe <jane@x.example>", Some("Jane Roe")),
            ("jane@x.example (Jane Roe)", Some("Jane Roe")),
            ("\"Say \\\"hi\\\"\" <a@b>", Some("Say \"hi\"")),
            ("<jane@x.example>", None),
            ("\"\" <jane@x.example>", None),
            ("jane@x.example", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(mailbox_name(v).as_deref(), *want, "{v}");
        }
    }

    #[test]
    fn host_specs() {
        let cases: &[(&str, HostSpec<'_>, &str)] = &[
            (
                "mx.example.net (helo.example.net) [198.51.100.23]:52814 F=<a@b>",
                HostSpec {
                    name: Some("mx.example.net"),
                    helo: Some("helo.example.net"),
                    ip: Some("198.51.100.23"),
                    port: Some(52814),
                },
                " F=<a@b>",
            ),
            (
                "([192.0.2.1]) [IPv6:2001:db8::5]",
                HostSpec {
                    helo: Some("[192.0.2.1]"),
                    ip: Some("IPv6:2001:db8::5"),
                    ..HostSpec::default()
                },
                "",
            ),
            (
                "local.example rest",
                HostSpec {
                    name: Some("local.example"),
                    ..HostSpec::default()
                },
                " rest",
            ),
            (
                "( [",
                HostSpec {
                    helo: Some(" ["),
                    ..HostSpec::default()
                },
                "",
            ),
        ];
        for (input, want, rest) in cases {
            assert_eq!(HostSpec::parse(input), (*want, *rest), "{input}");
        }
    }

    #[test]
    fn endpoints_from_hosts() {
        let mut ep = Endpoint::default();
        let (h, _) = HostSpec::parse("([192.0.2.1]) [IPv6:2001:db8::5]:25");
        set_endpoint(&mut ep, &h, Cow::Borrowed);
        assert_eq!(ep.address.as_deref(), Some("2001:db8::5"));
        assert_eq!(ep.ip, Some("2001:db8::5".parse().unwrap()));
        assert_eq!((ep.domain, ep.port), (None, Some(25)));
        let mut ep = Endpoint::default();
        let (h, _) = HostSpec::parse("relay.example (helo.example)");
        set_endpoint(&mut ep, &h, owned);
        assert_eq!(ep.address.as_deref(), Some("relay.example"));
        assert_eq!(ep.domain.as_deref(), Some("relay.example"));
        assert_eq!(ep.ip, None);
    }

    #[test]
    fn dispositions_only_advance() {
        let mut ev = Event::default();
        for (d, action, outcome) in [
            (Disposition::Deferred, "deferred", None),
            (Disposition::Rejected, "deferred", None),
            (Disposition::Delivered, "delivered", Some("success")),
            (Disposition::Bounced, "delivered", Some("success")),
        ] {
            advance(&mut ev, d);
            assert_eq!(ev.event.action.as_deref(), Some(action), "{d:?}");
            assert_eq!(ev.event.outcome.as_deref(), outcome, "{d:?}");
        }
        push_recipient(&mut ev, "a@b.example");
        push_recipient(&mut ev, "a@b.example");
        push_recipient(&mut ev, "");
        assert_eq!(ev.email.to.address, ["a@b.example"]);
    }
}
