//! Reads alert documents (one JSON object per line, as `scan`, `run` and the file sink write
//! them) into what the report needs: the mails, web requests and joins they show.
//!
//! A line that is not an alert of this version — truncated JSON, invalid UTF-8, another
//! program's JSON, an alert without `rule.id` and `rule.level` (an older or newer shape) — is
//! skipped, counted and named (`file:line: reason`); reading goes on. This module never panics
//! on its input.

use std::io::BufRead;

use jiff::Timestamp;
use serde_json::Value;

use crate::rules::Level;

/// Where an event's line is: the evidence a reader checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Evidence {
    /// `log.file.path`.
    pub file: Option<String>,
    /// `log.offset`: the byte offset of the line in the decompressed file.
    pub offset: Option<u64>,
    /// `event.dataset` (which log: `postfix.log`, `squid.access`, ...).
    pub dataset: Option<String>,
    /// `event.original`: the line(s) as logged.
    pub original: Option<String>,
}

/// A mail message as one alert (or one correlation event) shows it.
#[derive(Debug, Clone, Default)]
pub struct MailSeen {
    pub message_id: Option<String>,
    pub local_id: Option<String>,
    pub time: Option<Timestamp>,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub envelope: Option<String>,
    pub subject: Option<String>,
    pub recipients: Vec<String>,
    /// `reconwatch.sender.domain`: the author's registered domain.
    pub sender_domain: Option<String>,
    pub freemail: bool,
    /// The sending domain is an email service provider's (the envelope of a provider, no
    /// author shown).
    pub esp: bool,
    pub urls: Vec<String>,
    pub url_keys: Vec<String>,
    pub templates: Vec<String>,
    pub rare_domains: Vec<String>,
    /// `event.action` (`sent`, `reject`, `deliver`, ...).
    pub action: Option<String>,
    /// Watch-listed people the alert names (`reconwatch.person.email`), with their group when
    /// the alert ties one to them.
    pub people: Vec<(String, Option<String>)>,
    pub evidence: Evidence,
}

/// A web request as one alert (or one correlation event) shows it.
#[derive(Debug, Clone, Default)]
pub struct WebSeen {
    pub time: Option<Timestamp>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub user: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Watch-listed people whose device or account made it.
    pub people: Vec<(String, Option<String>)>,
    pub pixel: bool,
    pub url_keys: Vec<String>,
    pub templates: Vec<String>,
    pub evidence: Evidence,
}

/// One event an alert shows.
#[derive(Debug, Clone)]
pub enum Seen {
    Mail(Box<MailSeen>),
    Web(Box<WebSeen>),
}

/// One alert, reduced.
#[derive(Debug, Clone)]
pub struct AlertSeen {
    pub rule_id: String,
    pub title: String,
    pub level: Level,
    pub time: Option<Timestamp>,
    /// A correlation's group values (empty for a rule match).
    pub group: Vec<String>,
    pub correlation: bool,
    pub events: Vec<Seen>,
}

/// One input's counts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InputCount {
    /// The file as named on the command line (`-` for standard input).
    pub name: String,
    /// Non-blank lines read.
    pub lines: u64,
    /// Lines read as alerts.
    pub alerts: u64,
    /// Lines skipped (not an alert of this version).
    pub skipped: u64,
    /// Why the input could not be read (to its end), if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A skipped line: `file:line` and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skip {
    pub at: String,
    pub reason: String,
}

/// At most this many skipped lines are named one by one; the rest are counted.
pub const SKIPS_NAMED: usize = 20;

/// What all inputs held.
#[derive(Debug, Default)]
pub struct Read {
    pub alerts: Vec<AlertSeen>,
    pub inputs: Vec<InputCount>,
    pub skipped: Vec<Skip>,
    pub skipped_total: u64,
}

impl Read {
    /// Reads every line of `reader` (named `name` in messages) to its end, or to a read error,
    /// which is recorded on the input.
    pub fn add(&mut self, name: &str, reader: impl BufRead) {
        let mut count = InputCount {
            name: name.to_owned(),
            ..InputCount::default()
        };
        let mut reader = reader;
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    count.error = Some(format!("read error after line {line_no}: {e}"));
                    break;
                }
            }
            line_no += 1;
            let bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            count.lines += 1;
            match parse_line(bytes) {
                Ok(a) => {
                    count.alerts += 1;
                    self.alerts.push(a);
                }
                Err(reason) => {
                    count.skipped += 1;
                    self.skipped_total += 1;
                    if self.skipped.len() < SKIPS_NAMED {
                        self.skipped.push(Skip {
                            at: format!("{name}:{line_no}"),
                            reason,
                        });
                    }
                }
            }
        }
        self.inputs.push(count);
    }

    /// Records an input that could not be opened.
    pub fn unreadable(&mut self, name: &str, error: String) {
        self.inputs.push(InputCount {
            name: name.to_owned(),
            error: Some(error),
            ..InputCount::default()
        });
    }
}

/// One line to an alert, or why it is none.
pub fn parse_line(bytes: &[u8]) -> Result<AlertSeen, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))?;
    let v: Value = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            format!("truncated JSON ({e})")
        } else {
            format!("not JSON ({e})")
        }
    })?;
    if !v.is_object() {
        return Err("not a JSON object".to_owned());
    }
    let rule = &v["rule"];
    let (Some(id), Some(level)) = (rule["id"].as_str(), rule["level"].as_str()) else {
        return Err(if v.get("rule.id").is_some() || v.get("rule.level").is_some() {
            "an alert of another reconwatch version (flat `rule.id` keys; this version nests `rule: {id, level}`)"
                .to_owned()
        } else {
            "not a reconwatch alert (no `rule.id` and `rule.level`)".to_owned()
        });
    };
    let level = Level::from_name(level).ok_or_else(|| format!("unknown rule level {level:?}"))?;
    let title = rule["title"].as_str().unwrap_or(id).to_owned();
    let time = text_at(&v, &["@timestamp"]).and_then(|t| t.parse().ok());
    let correlation = v["event"]["dataset"].as_str() == Some("reconwatch.correlation");
    let mut events = Vec::new();
    let mut group = Vec::new();
    if correlation {
        let c = &v["correlation"];
        let Some(list) = c["events"].as_array() else {
            return Err("a correlation alert without `correlation.events` (another reconwatch version?)".to_owned());
        };
        if let Some(g) = c["group"].as_object() {
            group = g.values().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        }
        events.extend(list.iter().filter_map(correlation_event));
    } else if let Some(e) = match_event(&v) {
        events.push(e);
    }
    Ok(AlertSeen {
        rule_id: id.to_owned(),
        title,
        level,
        time,
        group,
        correlation,
        events,
    })
}

/// The string at a nested path.
fn text_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut at = v;
    for k in path {
        at = at.get(k)?;
    }
    at.as_str().filter(|s| !s.is_empty())
}

fn owned(v: &Value, path: &[&str]) -> Option<String> {
    text_at(v, path).map(str::to_owned)
}

/// The strings at a nested path: a list, or one string.
fn list_at(v: &Value, path: &[&str]) -> Vec<String> {
    let mut at = v;
    for k in path {
        match at.get(k) {
            Some(x) => at = x,
            None => return Vec::new(),
        }
    }
    match at {
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn flag(v: &Value, path: &[&str]) -> bool {
    let mut at = v;
    for k in path {
        match at.get(k) {
            Some(x) => at = x,
            None => return false,
        }
    }
    at.as_bool().unwrap_or(false)
}

fn evidence(v: &Value) -> Evidence {
    Evidence {
        file: owned(v, &["log", "file", "path"]),
        offset: v["log"]["offset"].as_u64(),
        dataset: owned(v, &["event", "dataset"]),
        original: owned(v, &["event", "original"]),
    }
}

/// Pairs each listed person with a group when the alert ties exactly one group to one person.
fn people(emails: Vec<String>, groups: &[String]) -> Vec<(String, Option<String>)> {
    let one = emails.len() == 1 && groups.len() == 1;
    emails
        .into_iter()
        .map(|e| (e.to_ascii_lowercase(), one.then(|| groups[0].clone())))
        .collect()
}

fn lower(v: Vec<String>) -> Vec<String> {
    v.into_iter().map(|s| s.to_ascii_lowercase()).collect()
}

/// A rule match's event (its document is the event).
fn match_event(v: &Value) -> Option<Seen> {
    let rw = &v["reconwatch"];
    let groups = list_at(rw, &["person", "group"]);
    let persons = people(list_at(rw, &["person", "email"]), &groups);
    let is_mail = v.get("email").is_some_and(Value::is_object)
        || v["event"]["dataset"].as_str().is_some_and(|d| {
            [
                "postfix",
                "exim",
                "sendmail",
                "exchange",
                "m365",
                "proofpoint",
                "mimecast",
            ]
            .iter()
            .any(|m| d.starts_with(m))
        });
    if is_mail {
        let e = &v["email"];
        return Some(Seen::Mail(Box::new(MailSeen {
            message_id: owned(e, &["message_id"]),
            local_id: owned(e, &["local_id"]),
            time: text_at(v, &["@timestamp"]).and_then(|t| t.parse().ok()),
            from: owned(e, &["from", "address"]).map(|s| s.to_ascii_lowercase()),
            from_name: owned(e, &["from", "name"]),
            envelope: owned(e, &["sender", "address"]).map(|s| s.to_ascii_lowercase()),
            subject: owned(e, &["subject"]),
            recipients: lower(list_at(e, &["to", "address"])),
            sender_domain: owned(rw, &["sender", "domain"]).map(|s| s.to_ascii_lowercase()),
            freemail: flag(rw, &["sender", "freemail"]),
            esp: flag(rw, &["sender", "esp"]),
            urls: list_at(e, &["urls"]),
            url_keys: list_at(rw, &["url", "key"]),
            templates: list_at(rw, &["url", "template"]),
            rare_domains: lower(list_at(rw, &["url", "rare_domain"])),
            action: owned(v, &["event", "action"]),
            people: persons,
            evidence: evidence(v),
        })));
    }
    if v.get("url").is_none() && v.get("source").is_none() && v.get("user").is_none() {
        return None;
    }
    Some(Seen::Web(Box::new(WebSeen {
        time: text_at(v, &["@timestamp"]).and_then(|t| t.parse().ok()),
        url: owned(v, &["url", "original"]),
        method: owned(v, &["http", "request", "method"]),
        user: owned(v, &["user", "name"]),
        ip: owned(v, &["source", "ip"]),
        user_agent: owned(v, &["user_agent", "original"]),
        people: persons,
        pixel: flag(rw, &["url", "pixel"]),
        url_keys: list_at(rw, &["url", "key"]),
        templates: list_at(rw, &["url", "template"]),
        evidence: evidence(v),
    })))
}

/// Splits a correlation event's list field, which the alert joins with commas. URLs may hold
/// commas themselves, so URLs are cut only where the next one starts with a scheme.
fn split_list(s: &str, urls: bool) -> Vec<String> {
    if !urls {
        return s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let mut out: Vec<String> = Vec::new();
    for part in s.split(',') {
        let starts_url = part.contains("://")
            && part
                .split("://")
                .next()
                .is_some_and(|s| s.bytes().all(|b| b.is_ascii_alphanumeric()));
        match out.last_mut() {
            Some(last) if !starts_url => {
                last.push(',');
                last.push_str(part);
            }
            _ => out.push(part.to_owned()),
        }
    }
    out.retain(|u| !u.is_empty());
    out
}

/// One event of a correlation alert.
fn correlation_event(v: &Value) -> Option<Seen> {
    let f = &v["fields"];
    let field = |k: &str| f.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let groups = list_at(v, &["targets", "groups"]);
    let time = text_at(v, &["@timestamp"]).and_then(|t| t.parse().ok());
    let message_id = owned(v, &["email", "message_id"]);
    let mail_fields = ["email.from.address", "email.to.address", "email.subject"];
    if message_id.is_some() || mail_fields.iter().any(|k| field(k).is_some()) {
        let recipients: Vec<String> = field("email.to.address").map_or_else(Vec::new, |s| lower(split_list(s, false)));
        let listed: Vec<String> = match field("reconwatch.person.email") {
            Some(p) => lower(split_list(p, false)),
            None if !groups.is_empty() => recipients.clone(),
            None => Vec::new(),
        };
        return Some(Seen::Mail(Box::new(MailSeen {
            message_id,
            time,
            from: field("email.from.address").map(str::to_ascii_lowercase),
            from_name: field("email.from.name").map(str::to_owned),
            subject: field("email.subject").map(str::to_owned),
            urls: field("email.urls").map_or_else(Vec::new, |s| split_list(s, true)),
            sender_domain: field("reconwatch.sender.domain").map(str::to_ascii_lowercase),
            freemail: field("reconwatch.sender.freemail") == Some("true"),
            esp: field("reconwatch.sender.esp") == Some("true"),
            people: people(listed, &groups),
            recipients,
            evidence: evidence(v),
            ..MailSeen::default()
        })));
    }
    let url = field("url.original").map(str::to_owned);
    let ip = field("source.ip").map(str::to_owned);
    if url.is_none() && ip.is_none() {
        return None;
    }
    let ev = evidence(v);
    let method = ev
        .original
        .as_deref()
        .filter(|o| o.contains(" CONNECT "))
        .map(|_| "CONNECT".to_owned());
    Some(Seen::Web(Box::new(WebSeen {
        time,
        user_agent: field("user_agent.original")
            .map(str::to_owned)
            .or_else(|| ev.original.as_deref().and_then(user_agent_in_line)),
        url,
        method,
        user: field("user.name").map(str::to_owned),
        ip,
        people: people(
            field("reconwatch.person.email").map_or_else(Vec::new, |s| lower(split_list(s, false))),
            &groups,
        ),
        pixel: flag(v, &["targets", "pixel_fetch"]),
        evidence: ev,
        ..WebSeen::default()
    })))
}

/// The user agent in a logged request line, when the event's fields do not carry it: the
/// first double-quoted value that reads like one (W3C and combined logs quote it).
pub fn user_agent_in_line(line: &str) -> Option<String> {
    let mut rest = line;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after.find('"')?;
        let quoted = &after[..end];
        const STARTS: [&str; 5] = ["Mozilla/", "Microsoft Office", "Outlook", "Thunderbird", "Opera/"];
        if STARTS.iter().any(|s| quoted.starts_with(s)) {
            return Some(quoted.to_owned());
        }
        rest = &after[end + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_skipped_with_a_reason() {
        let mut r = Read::default();
        let input = concat!(
            "{\"rule\":{\"id\":\"x\",\"level\":\"high\",\"title\":\"T\"},\"@timestamp\":\"2021-01-11T08:41:03Z\",\"email\":{\"message_id\":\"m1\",\"to\":{\"address\":[\"a@b.example\"]}}}\n",
            "\n",
            "{\"rule.id\":\"x\",\"rule.level\":\"high\"}\n",
            "[1,2]\n",
            "{\"hello\":1}\n",
            "{\"rule\":{\"id\":\"x\",\"level\":\"severe\"}}\n",
            "{\"rule\":{\"id\":\"x\",\"level\":\"high\"},\"event\":{\"dataset\":\"reconwatch.correlation\"}}\n",
            "not json\n",
        );
        let mut bytes = input.as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\xfe\n{\"rule\":{\"id\":\"x\",\"lev");
        r.add("a.jsonl", &bytes[..]);
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.skipped_total, 8);
        let reasons: Vec<String> = r.skipped.iter().map(|s| format!("{}: {}", s.at, s.reason)).collect();
        assert!(
            reasons[0].starts_with("a.jsonl:3: an alert of another reconwatch version"),
            "{reasons:#?}"
        );
        assert!(reasons[1].contains("not a JSON object"), "{reasons:#?}");
        assert!(reasons[2].contains("not a reconwatch alert"), "{reasons:#?}");
        assert!(reasons[3].contains("unknown rule level \"severe\""), "{reasons:#?}");
        assert!(reasons[4].contains("without `correlation.events`"), "{reasons:#?}");
        assert!(reasons[5].starts_with("a.jsonl:8: not JSON"), "{reasons:#?}");
        assert!(reasons[6].starts_with("a.jsonl:9: not UTF-8"), "{reasons:#?}");
        assert!(reasons[7].starts_with("a.jsonl:10: truncated JSON"), "{reasons:#?}");
        assert_eq!(r.inputs[0].lines, 9);
    }

    #[test]
    fn listed_urls_are_cut_only_before_a_scheme() {
        assert_eq!(
            split_list("https://a.example/x?a=1,2,http://b.example/y", true),
            ["https://a.example/x?a=1,2", "http://b.example/y"]
        );
        assert_eq!(
            split_list("a@x.example, b@x.example", false),
            ["a@x.example", "b@x.example"]
        );
    }

    /// A mail a correlation lists says whether a provider or free mail sent it: a provider's
    /// bounce address is no author (regression: Amazon SES copies made a campaign
    /// "amazonses.com").
    #[test]
    fn a_correlation_event_says_provider_and_free_mail() {
        let event = |esp: &str, freemail: &str| {
            serde_json::json!({
                "@timestamp": "2021-01-11T08:41:03Z",
                "email": {"message_id": "m1"},
                "fields": {
                    "email.from.address": "0102abc-000000@eu-west-1.amazonses.com",
                    "reconwatch.sender.domain": "amazonses.com",
                    "reconwatch.sender.esp": esp,
                    "reconwatch.sender.freemail": freemail,
                }
            })
        };
        let Some(Seen::Mail(m)) = correlation_event(&event("true", "false")) else {
            panic!("a mail")
        };
        assert!(m.esp && !m.freemail);
        let Some(Seen::Mail(m)) = correlation_event(&event("false", "true")) else {
            panic!("a mail")
        };
        assert!(!m.esp && m.freemail);
    }

    #[test]
    fn a_quoted_user_agent_is_found_in_a_w3c_line() {
        let line = r#"2021-01-11 13:57:23 284 10.41.6.193 ojohnston - - OBSERVED "Uncategorized" - 200 TCP_MISS GET image/gif http media.x.example 80 /i/hYl6v0.gif - gif "Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15" 10.40.0.8"#;
        assert_eq!(
            user_agent_in_line(line).as_deref(),
            Some("Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15")
        );
        assert_eq!(
            user_agent_in_line("1610354885.416 309 10.20.5.35 TCP_MISS/200 GET x"),
            None
        );
    }
}
