//! Sigma rule documents → [`Rule`]: metadata, log source and a detection tree whose values have
//! had every modifier applied.
//!
//! What comes out is final: field names resolved to Event fields, wildcards parsed, encodings
//! (base64, base64offset, utf16*, windash, expand) turned into the byte strings to look for,
//! regexes checked, the condition parsed and resolved. The compiler ([`super::matcher`]) only
//! arranges these checks for speed; it never reinterprets a rule.
//!
//! A construct the engine cannot run rejects the whole rule with the construct and the reason;
//! nothing is ignored: an unknown modifier, `null` inside a list, `all` on one value, a
//! placeholder without values, a regex feature the regex engine lacks — each is a [`Rejection`].
//! Unknown top-level keys are allowed (the specification permits custom attributes).

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;

use super::condition::{self, Cond};
use super::fields;
use super::logsource::LogSource;
use super::pattern::{self, Glob, Piece};
use super::yaml::Yaml;
use crate::event::Field;

/// The top-level key under which a shipped rule carries its test log lines.
pub const TESTS_KEY: &str = "reconwatch-tests";

/// Sigma's severity levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    pub fn from_name(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// What an alert tells about its rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMeta {
    /// The rule's `id`; rules without one get their title here (the specification makes `id`
    /// optional, alerts need a key).
    pub id: String,
    pub title: String,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub falsepositives: Vec<String>,
    /// Fields the analyst should look at first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The Sigma `name` attribute: how correlation rules may refer to this rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A loaded detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: RuleMeta,
    pub logsource: LogSource,
    /// Indexes into [`super::logsource::SOURCES`].
    pub sources: Vec<usize>,
    pub detection: Detection,
    /// The file the rule came from.
    pub file: String,
    /// The rule's own test lines (key [`TESTS_KEY`]), if it has any.
    pub tests: Option<RuleTests>,
}

/// Log excerpts a rule must and must not alert on. Each excerpt is one or more lines read as one
/// input (a mail message may need several lines to be assembled).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleTests {
    /// Forces a format (by name); otherwise each excerpt's format is detected.
    pub format: Option<String>,
    pub matching: Vec<String>,
    pub not_matching: Vec<String>,
}

/// The detection part: named selections and the condition over them.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Search identifiers, in the order the rule defines them.
    pub names: Vec<String>,
    pub selections: Vec<Selection>,
    pub condition: Cond,
}

/// One search identifier: an OR of AND-groups of tests (a map is one group, a list of maps
/// several, a keyword list one group with one test).
#[derive(Debug, Clone)]
pub struct Selection {
    pub groups: Vec<Vec<Test>>,
}

/// One `key: value(s)` of a selection.
#[derive(Debug, Clone)]
pub struct Test {
    /// The key as written (`c-uri|contains|all`; `keywords` for keyword lists).
    pub key: String,
    pub field: Field,
    /// `all`: every value must match (default: any).
    pub all: bool,
    /// `neq`: the test holds when the values do not match (a missing field is different too).
    pub negate: bool,
    pub values: Vec<ValueCheck>,
}

/// One value of a test, as written and as it is checked.
#[derive(Debug, Clone)]
pub struct ValueCheck {
    /// The value as the rule wrote it (shown in alerts).
    pub shown: String,
    pub check: Check,
}

/// How one value is compared with the field.
#[derive(Debug, Clone)]
pub enum Check {
    /// Any of the variants matches (windash, base64offset and expand make several).
    Text {
        variants: Vec<TextPattern>,
        cased: bool,
    },
    /// A regular expression, flags already inlined (`(?i)` ...).
    Regex(String),
    Cidr(Cidr),
    Number(Cmp, f64),
    Exists(bool),
    /// The field is absent (Sigma `null`).
    Null,
    /// Compare with another field of the same event.
    FieldRef {
        field: Field,
        position: Position,
        cased: bool,
    },
    /// A part of the time value, compared numerically.
    TimePart {
        part: TimePart,
        cmp: Cmp,
        value: i64,
    },
}

/// A byte string to find in a field's text, or a wildcard pattern over it.
#[derive(Debug, Clone, PartialEq)]
pub enum TextPattern {
    Exact(Vec<u8>),
    Contains(Vec<u8>),
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    Glob(Glob),
}

impl TextPattern {
    /// Whether `text` matches.
    pub fn matches(&self, text: &[u8], cased: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| if cased { a == b } else { a.eq_ignore_ascii_case(b) };
        match self {
            TextPattern::Exact(n) => eq(text, n),
            TextPattern::Prefix(n) => text.len() >= n.len() && eq(&text[..n.len()], n),
            TextPattern::Suffix(n) => text.len() >= n.len() && eq(&text[text.len() - n.len()..], n),
            TextPattern::Contains(n) => n.is_empty() || text.windows(n.len()).any(|w| eq(w, n)),
            TextPattern::Glob(g) => g.matches(text, !cased),
        }
    }

    fn from_glob(glob: Glob) -> TextPattern {
        match glob.pieces.as_slice() {
            [Piece::Lit(l)] => TextPattern::Exact(l.clone()),
            [] => TextPattern::Exact(Vec::new()),
            [Piece::AnyMany, Piece::Lit(l), Piece::AnyMany] => TextPattern::Contains(l.clone()),
            [Piece::Lit(l), Piece::AnyMany] => TextPattern::Prefix(l.clone()),
            [Piece::AnyMany, Piece::Lit(l)] => TextPattern::Suffix(l.clone()),
            _ => TextPattern::Glob(glob),
        }
    }

    fn from_bytes(bytes: Vec<u8>, position: Position) -> TextPattern {
        match position {
            Position::Exact => TextPattern::Exact(bytes),
            Position::Contains => TextPattern::Contains(bytes),
            Position::Prefix => TextPattern::Prefix(bytes),
            Position::Suffix => TextPattern::Suffix(bytes),
        }
    }
}

/// Where a value must sit in the field (`contains`, `startswith`, `endswith`, or the whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Exact,
    Contains,
    Prefix,
    Suffix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Lte => a <= b,
            Cmp::Gt => a > b,
            Cmp::Gte => a >= b,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a single address.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.trim().parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 { 0 } else { bits >> (width - prefix) }
        }
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32) == masked(u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => masked(n.into(), self.prefix, 128) == masked(a.into(), self.prefix, 128),
            // An IPv4-mapped IPv6 address is the IPv4 address.
            (IpAddr::V4(_), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| self.contains(IpAddr::V4(a))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// Values for `expand` placeholders (`%name%`), by name.
pub type Placeholders = HashMap<String, Vec<String>>;

/// Why a rule cannot run: the construct (a key, a modifier, the condition) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub construct: String,
    pub reason: String,
    /// A log source reconwatch does not read: the rule is valid but has nothing to run on.
    pub unsupported_logsource: bool,
}

impl Rejection {
    /// A rejection of a rule that reconwatch could read (not one for an unsupported log source).
    pub(crate) fn new(construct: impl Into<String>, reason: impl Into<String>) -> Rejection {
        Rejection {
            construct: construct.into(),
            reason: reason.into(),
            unsupported_logsource: false,
        }
    }
}

type Result<T> = std::result::Result<T, Rejection>;

/// Reads one YAML document as a detection rule. `file` is kept for reports.
pub fn parse_rule(doc: &Yaml, file: &str, placeholders: &Placeholders) -> Result<Rule> {
    let Yaml::Map(_) = doc else {
        return Err(Rejection::new(
            "document",
            format!("a rule is a map, this document is {}", doc.kind()),
        ));
    };
    for (key, what) in [
        ("correlation", "a correlation rule"),
        ("filter", "Sigma filters (meta rules) are not supported yet"),
        (
            "action",
            "Sigma 1 rule collections (`action: global/reset/repeat`) are not supported",
        ),
    ] {
        if doc.get(key).is_some() {
            return Err(Rejection::new(key, what));
        }
    }
    let meta = parse_meta(doc)?;
    let logsource = match doc.get("logsource") {
        Some(ls @ Yaml::Map(entries)) => {
            let known = ["category", "product", "service", "definition"];
            if let Some((k, _)) = entries.iter().find(|(k, _)| !known.contains(&k.as_str())) {
                return Err(Rejection::new(
                    format!("logsource.{k}"),
                    "unknown key (expected category, product, service, definition)",
                ));
            }
            LogSource {
                category: text(ls, "category")?,
                product: text(ls, "product")?,
                service: text(ls, "service")?,
            }
        }
        Some(other) => {
            return Err(Rejection::new(
                "logsource",
                format!("must be a map, is {}", other.kind()),
            ));
        }
        None => return Err(Rejection::new("logsource", "a rule needs a logsource")),
    };
    // The log source first: a rule for logs reconwatch does not read is skipped for that
    // reason, whatever fields (Windows, Linux ...) its detection names.
    let sources = logsource.sources().map_err(|reason| Rejection {
        construct: "logsource".into(),
        reason,
        unsupported_logsource: true,
    })?;
    let detection = match doc.get("detection") {
        Some(d) => parse_detection(d, placeholders)?,
        None => return Err(Rejection::new("detection", "a rule needs a detection")),
    };
    let tests = doc.get(TESTS_KEY).map(parse_tests).transpose()?;
    Ok(Rule {
        meta,
        logsource,
        sources,
        detection,
        file: file.to_owned(),
        tests,
    })
}

/// The metadata every rule document carries, detection and correlation alike.
pub(crate) fn parse_meta(doc: &Yaml) -> Result<RuleMeta> {
    let title = text(doc, "title")?.ok_or_else(|| Rejection::new("title", "a rule needs a title"))?;
    let level = match text(doc, "level")? {
        Some(l) => Level::from_name(&l).ok_or_else(|| {
            Rejection::new(
                "level",
                format!("`{l}` is not a Sigma level (informational, low, medium, high, critical)"),
            )
        })?,
        None => Level::Informational,
    };
    Ok(RuleMeta {
        id: text(doc, "id")?.unwrap_or_else(|| title.clone()),
        title,
        level,
        status: text(doc, "status")?,
        description: text(doc, "description")?,
        tags: texts(doc, "tags")?,
        references: texts(doc, "references")?,
        author: text(doc, "author")?,
        falsepositives: texts(doc, "falsepositives")?,
        fields: texts(doc, "fields")?,
        name: text(doc, "name")?,
    })
}

pub(crate) fn text(map: &Yaml, key: &str) -> Result<Option<String>> {
    match map.get(key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(v) => v
            .scalar_text()
            .map(Some)
            .ok_or_else(|| Rejection::new(key, format!("must be text, is {}", v.kind()))),
    }
}

pub(crate) fn texts(map: &Yaml, key: &str) -> Result<Vec<String>> {
    match map.get(key) {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Seq(items)) => items
            .iter()
            .map(|i| {
                i.scalar_text()
                    .ok_or_else(|| Rejection::new(key, format!("must be a list of text, has {}", i.kind())))
            })
            .collect(),
        Some(v) => v
            .scalar_text()
            .map(|t| vec![t])
            .ok_or_else(|| Rejection::new(key, format!("must be a list of text, is {}", v.kind()))),
    }
}

fn parse_tests(y: &Yaml) -> Result<RuleTests> {
    let Yaml::Map(entries) = y else {
        return Err(Rejection::new(
            TESTS_KEY,
            "must be a map with `match` and `no-match` lists",
        ));
    };
    let mut t = RuleTests::default();
    for (k, _) in entries {
        match k.as_str() {
            "format" => t.format = text(y, "format")?,
            "match" => t.matching = texts(y, "match")?,
            "no-match" => t.not_matching = texts(y, "no-match")?,
            other => {
                return Err(Rejection::new(
                    format!("{TESTS_KEY}.{other}"),
                    "unknown key (expected format, match, no-match)",
                ));
            }
        }
    }
    Ok(t)
}

fn parse_detection(d: &Yaml, placeholders: &Placeholders) -> Result<Detection> {
    let Yaml::Map(entries) = d else {
        return Err(Rejection::new("detection", format!("must be a map, is {}", d.kind())));
    };
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut conditions: Option<Vec<String>> = None;
    for (name, value) in entries {
        match name.as_str() {
            "condition" => {
                conditions = Some(match value {
                    Yaml::Str(s) => vec![s.clone()],
                    Yaml::Seq(items) => items
                        .iter()
                        .map(|i| {
                            i.as_str().map(str::to_owned).ok_or_else(|| {
                                Rejection::new("condition", format!("a condition list holds text, not {}", i.kind()))
                            })
                        })
                        .collect::<Result<_>>()?,
                    other => {
                        return Err(Rejection::new(
                            "condition",
                            format!("must be text, is {}", other.kind()),
                        ));
                    }
                })
            }
            "timeframe" => {
                return Err(Rejection::new(
                    "timeframe",
                    "Sigma 1 aggregations are not supported; express them as a correlation rule",
                ));
            }
            _ => {
                let sel = parse_selection(value, placeholders).map_err(|mut r| {
                    r.construct = format!("detection.{name}: {}", r.construct);
                    r
                })?;
                names.push(name.clone());
                selections.push(sel);
            }
        }
    }
    let conditions = conditions.ok_or_else(|| Rejection::new("condition", "the detection has no condition"))?;
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut parsed = Vec::with_capacity(conditions.len());
    for c in &conditions {
        if c.contains('|') {
            return Err(Rejection::new(
                format!("condition `{c}`"),
                "Sigma 1 aggregations (`| count() ...`) are not supported; express them as a correlation rule",
            ));
        }
        let expr = condition::parse(c).map_err(|e| Rejection::new(format!("condition `{c}`"), e.to_string()))?;
        parsed.push(
            expr.resolve(&ids)
                .map_err(|e| Rejection::new(format!("condition `{c}`"), e.to_string()))?,
        );
    }
    let condition = if parsed.len() == 1 {
        parsed.remove(0)
    } else {
        Cond::Or(parsed)
    };
    Ok(Detection {
        names,
        selections,
        condition,
    })
}

fn parse_selection(value: &Yaml, placeholders: &Placeholders) -> Result<Selection> {
    match value {
        Yaml::Map(entries) => Ok(Selection {
            groups: vec![parse_group(entries, placeholders)?],
        }),
        Yaml::Seq(items) if items.iter().all(|i| matches!(i, Yaml::Map(_))) && !items.is_empty() => {
            let groups = items
                .iter()
                .map(|i| match i {
                    Yaml::Map(entries) => parse_group(entries, placeholders),
                    _ => unreachable!("checked above"),
                })
                .collect::<Result<_>>()?;
            Ok(Selection { groups })
        }
        Yaml::Seq(items) if items.iter().any(|i| matches!(i, Yaml::Map(_))) => Err(Rejection::new(
            "list",
            "a list mixes maps and keywords; make them separate search identifiers",
        )),
        Yaml::Seq(_) | Yaml::Str(_) | Yaml::Int(_) | Yaml::Float(_) => Ok(Selection {
            groups: vec![vec![parse_test("", value, placeholders)?]],
        }),
        other => Err(Rejection::new(
            "value",
            format!(
                "a search identifier is a map, a list of maps or a list of keywords, not {}",
                other.kind()
            ),
        )),
    }
}

fn parse_group(entries: &[(String, Yaml)], placeholders: &Placeholders) -> Result<Vec<Test>> {
    if entries.is_empty() {
        return Err(Rejection::new("map", "an empty map selects nothing"));
    }
    entries.iter().map(|(k, v)| parse_test(k, v, placeholders)).collect()
}

/// The modifiers of one key, sorted by role.
#[derive(Default)]
struct Modifiers<'k> {
    position: Option<(Position, &'k str)>,
    all: bool,
    cased: bool,
    neq: bool,
    exists: bool,
    cidr: bool,
    fieldref: bool,
    expand: bool,
    windash: bool,
    regex: Option<String>,
    cmp: Option<Cmp>,
    time: Option<TimePart>,
    /// base64, base64offset, utf16le, utf16be, utf16, wide, in the order written.
    encodings: Vec<&'k str>,
}

/// Sets a flag modifier, refusing it a second time.
fn set_once(flag: &mut bool, name: &str) -> Result<()> {
    if std::mem::replace(flag, true) {
        return Err(Rejection::new(format!("|{name}"), "modifier given twice"));
    }
    Ok(())
}

fn parse_modifiers<'k>(mods: &[&'k str]) -> Result<Modifiers<'k>> {
    let mut m = Modifiers::default();
    let mut i = 0;
    while i < mods.len() {
        let name = mods[i];
        let dup = || Rejection::new(format!("|{name}"), "modifier given twice");
        match name {
            "contains" | "startswith" | "endswith" => {
                let p = match name {
                    "contains" => Position::Contains,
                    "startswith" => Position::Prefix,
                    _ => Position::Suffix,
                };
                if let Some((_, other)) = m.position {
                    return Err(Rejection::new(
                        format!("|{name}"),
                        format!("cannot be combined with |{other}"),
                    ));
                }
                m.position = Some((p, name));
            }
            "all" => set_once(&mut m.all, name)?,
            "cased" => set_once(&mut m.cased, name)?,
            "neq" => set_once(&mut m.neq, name)?,
            "exists" => set_once(&mut m.exists, name)?,
            "cidr" => set_once(&mut m.cidr, name)?,
            "fieldref" => set_once(&mut m.fieldref, name)?,
            "expand" => set_once(&mut m.expand, name)?,
            "windash" => set_once(&mut m.windash, name)?,
            "re" => {
                // Sub-modifiers i, m, s follow `re`.
                let mut flags = String::new();
                while let Some(&f @ ("i" | "m" | "s")) = mods.get(i + 1) {
                    if !flags.contains(f) {
                        flags.push_str(f);
                    }
                    i += 1;
                }
                if m.regex.is_some() {
                    return Err(dup());
                }
                m.regex = Some(flags);
            }
            "i" | "m" | "s" => {
                return Err(Rejection::new(
                    format!("|{name}"),
                    "is a sub-modifier of |re and must follow it",
                ));
            }
            "gt" | "gte" | "lt" | "lte" => {
                if m.cmp.is_some() {
                    return Err(Rejection::new(
                        format!("|{name}"),
                        "only one of gt, gte, lt, lte per key",
                    ));
                }
                m.cmp = Some(match name {
                    "gt" => Cmp::Gt,
                    "gte" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    _ => Cmp::Lte,
                });
            }
            "minute" | "hour" | "day" | "week" | "month" | "year" => {
                if m.time.is_some() {
                    return Err(dup());
                }
                m.time = Some(match name {
                    "minute" => TimePart::Minute,
                    "hour" => TimePart::Hour,
                    "day" => TimePart::Day,
                    "week" => TimePart::Week,
                    "month" => TimePart::Month,
                    _ => TimePart::Year,
                });
            }
            "base64" | "base64offset" | "utf16le" | "utf16be" | "utf16" | "wide" => m.encodings.push(name),
            "" => return Err(Rejection::new("|", "empty modifier (two `|` in a row?)")),
            other => {
                return Err(Rejection::new(
                    format!("|{other}"),
                    "unknown modifier (see the Sigma modifiers appendix)",
                ));
            }
        }
        i += 1;
    }
    Ok(m)
}

fn parse_test(key: &str, value: &Yaml, placeholders: &Placeholders) -> Result<Test> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or("");
    let mods: Vec<&str> = parts.collect();
    let shown_key = if key.is_empty() {
        "keywords".to_owned()
    } else {
        key.to_owned()
    };
    let wrap = |r: Rejection| Rejection {
        construct: if r.construct.is_empty() {
            shown_key.clone()
        } else if r.construct.starts_with('|') {
            format!("{shown_key} ({})", r.construct)
        } else {
            format!("{shown_key}: {}", r.construct)
        },
        ..r
    };
    let m = parse_modifiers(&mods).map_err(wrap)?;
    let keywords = name.is_empty();
    let field = if keywords {
        Field::EventOriginal
    } else {
        fields::resolve(name).ok_or_else(|| {
            wrap(Rejection::new(
                "",
                format!("unknown field `{name}`: not an ECS field of reconwatch's Event nor a Sigma proxy/webserver taxonomy name"),
            ))
        })?
    };
    let items: Vec<&Yaml> = match value {
        Yaml::Seq(items) => items.iter().collect(),
        v => vec![v],
    };
    if items.is_empty() {
        return Err(wrap(Rejection::new("", "an empty list of values matches nothing")));
    }
    if items.len() > 1 && items.iter().any(|v| matches!(v, Yaml::Null)) {
        return Err(wrap(Rejection::new(
            "",
            "null cannot be part of a list of values (Sigma spec); make it its own selection",
        )));
    }
    if m.all && items.len() == 1 {
        return Err(wrap(Rejection::new("|all", "needs more than one value (Sigma spec)")));
    }
    let values = items
        .iter()
        .map(|v| value_check(v, &m, field, keywords, placeholders))
        .collect::<Result<Vec<_>>>()
        .map_err(wrap)?;
    Ok(Test {
        key: shown_key.clone(),
        field,
        all: m.all,
        negate: m.neq,
        values,
    })
}

fn value_check(
    v: &Yaml,
    m: &Modifiers<'_>,
    field: Field,
    keywords: bool,
    placeholders: &Placeholders,
) -> Result<ValueCheck> {
    let shown = v.scalar_text().unwrap_or_else(|| v.kind().to_owned());
    let only = |what: &str, allowed_with_neq: bool| -> Result<()> {
        let extra = m.position.is_some()
            || m.all
            || m.cased
            || (m.neq && !allowed_with_neq)
            || m.expand
            || m.windash
            || m.regex.is_some()
            || !m.encodings.is_empty()
            || m.cidr
            || m.fieldref;
        if extra {
            return Err(Rejection::new(
                format!("|{what}"),
                "cannot be combined with the other modifiers of this key",
            ));
        }
        Ok(())
    };
    let check = match v {
        Yaml::Seq(_) | Yaml::Map(_) => {
            return Err(Rejection::new(
                "",
                format!("a value must be a scalar, not {}", v.kind()),
            ));
        }
        Yaml::Null => {
            if m.exists || m.cmp.is_some() || m.time.is_some() {
                return Err(Rejection::new("", "null cannot be compared with these modifiers"));
            }
            only("null", true)?;
            Check::Null
        }
        _ if m.exists => {
            only("exists", false)?;
            if m.cmp.is_some() || m.time.is_some() {
                return Err(Rejection::new(
                    "|exists",
                    "cannot be combined with the other modifiers of this key",
                ));
            }
            match v {
                Yaml::Bool(b) => Check::Exists(*b),
                Yaml::Str(s) if s == "true" || s == "false" => Check::Exists(s == "true"),
                _ => return Err(Rejection::new("|exists", "takes true or false")),
            }
        }
        _ if m.time.is_some() => {
            only("time", true)?;
            if field != Field::Timestamp {
                return Err(Rejection::new("", "time modifiers apply to @timestamp only"));
            }
            let value = number(v).filter(|n| n.fract() == 0.0).ok_or_else(|| {
                Rejection::new(
                    "",
                    format!("a time part is compared with a whole number, not `{shown}`"),
                )
            })?;
            Check::TimePart {
                part: m.time.unwrap_or(TimePart::Year),
                cmp: m.cmp.unwrap_or(Cmp::Eq),
                value: value as i64,
            }
        }
        _ if m.cmp.is_some() => {
            only("gt/gte/lt/lte", false)?;
            let n = number(v)
                .ok_or_else(|| Rejection::new("", format!("numeric modifiers need a number, not `{shown}`")))?;
            Check::Number(m.cmp.unwrap_or(Cmp::Eq), n)
        }
        _ if m.cidr => {
            if m.position.is_some() || m.regex.is_some() || !m.encodings.is_empty() || m.windash || m.expand {
                return Err(Rejection::new(
                    "|cidr",
                    "cannot be combined with the other modifiers of this key",
                ));
            }
            let cidr = Cidr::parse(&shown)
                .ok_or_else(|| Rejection::new("|cidr", format!("`{shown}` is not an IPv4 or IPv6 network")))?;
            Check::Cidr(cidr)
        }
        _ if m.fieldref => {
            if m.regex.is_some() || !m.encodings.is_empty() || m.windash || m.expand {
                return Err(Rejection::new(
                    "|fieldref",
                    "cannot be combined with the other modifiers of this key",
                ));
            }
            let other = fields::resolve(&shown)
                .ok_or_else(|| Rejection::new("|fieldref", format!("unknown field `{shown}`")))?;
            Check::FieldRef {
                field: other,
                position: m.position.map_or(Position::Exact, |(p, _)| p),
                cased: m.cased,
            }
        }
        _ if m.regex.is_some() => {
            if m.position.is_some() || !m.encodings.is_empty() || m.windash || m.expand || m.cased {
                return Err(Rejection::new(
                    "|re",
                    "cannot be combined with the other modifiers of this key",
                ));
            }
            let flags = m.regex.as_deref().unwrap_or("");
            let pattern = if flags.is_empty() {
                shown.clone()
            } else {
                format!("(?{flags}){shown}")
            };
            if let Err(e) = regex::bytes::RegexBuilder::new(&pattern).size_limit(1 << 22).build() {
                let first = e.to_string().lines().last().unwrap_or("invalid").trim().to_owned();
                return Err(Rejection::new(
                    "|re",
                    format!("regex `{shown}` is not supported: {first}"),
                ));
            }
            Check::Regex(pattern)
        }
        _ => text_check(&shown, m, keywords, placeholders)?,
    };
    Ok(ValueCheck { shown, check })
}

fn number(v: &Yaml) -> Option<f64> {
    match v {
        Yaml::Int(n) => Some(*n as f64),
        Yaml::Float(f) => Some(*f),
        Yaml::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Strings (and numbers or booleans compared as their text): expand, windash, encodings,
/// wildcards and position, in the order the specification defines.
fn text_check(value: &str, m: &Modifiers<'_>, keywords: bool, placeholders: &Placeholders) -> Result<Check> {
    // 1. Placeholders: each `%name%` takes every value of its list.
    let mut variants: Vec<String> = if m.expand {
        let mut out = vec![String::new()];
        for part in pattern::placeholders(value) {
            match part {
                pattern::Part::Lit(l) => out.iter_mut().for_each(|o| o.push_str(&l)),
                pattern::Part::Placeholder(name) => {
                    let values = placeholders.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                        Rejection::new(
                            "|expand",
                            format!(
                                "placeholder %{name}% has no values (define it, e.g. with --placeholder {name}=FILE)"
                            ),
                        )
                    })?;
                    out = out
                        .iter()
                        .flat_map(|o| {
                            values
                                .iter()
                                .flat_map(move |v| placeholder_value(v).map(move |v| format!("{o}{v}")))
                        })
                        .collect();
                    if out.len() > MAX_VARIANTS {
                        return Err(Rejection::new(
                            "|expand",
                            format!("expands to more than {MAX_VARIANTS} values"),
                        ));
                    }
                }
            }
        }
        out
    } else {
        vec![value.to_owned()]
    };
    // 2. Windows dashes.
    if m.windash {
        let mut out = Vec::new();
        for v in &variants {
            out.extend(pattern::windash(v).map_err(|e| Rejection::new("|windash", e.to_string()))?);
            if out.len() > MAX_VARIANTS {
                return Err(Rejection::new(
                    "|windash",
                    format!("expands to more than {MAX_VARIANTS} values"),
                ));
            }
        }
        variants = out;
    }
    let position = m
        .position
        .map(|(p, _)| p)
        .unwrap_or(if keywords { Position::Contains } else { Position::Exact });
    // 3. Encodings. UTF-16 alone keeps wildcards (only the literal parts are encoded, as
    // pySigma does); base64 turns the value into other characters, so wildcards cannot survive it.
    if !m.encodings.is_empty() {
        let base64 = m.encodings.iter().any(|e| e.starts_with("base64"));
        if m.encodings.contains(&"base64offset") && position != Position::Contains {
            return Err(Rejection::new(
                "|base64offset",
                "must be followed by |contains (Sigma spec)",
            ));
        }
        let encode = |enc: &str, b: &[u8]| -> Vec<Vec<u8>> {
            match enc {
                "base64" => vec![pattern::base64(b)],
                "base64offset" => pattern::base64_offsets(b).into_iter().collect(),
                "utf16le" | "wide" => vec![pattern::utf16le(b)],
                "utf16be" => vec![pattern::utf16be(b)],
                _ => vec![pattern::utf16_bom(b)],
            }
        };
        let (start, end) = surround_for(position);
        let mut out = Vec::new();
        for v in &variants {
            let glob = pattern::parse_glob(v);
            if !base64 {
                let enc = m.encodings.clone();
                let glob = glob.map_literals(|lit| enc.iter().fold(lit.to_vec(), |b, e| encode(e, &b).swap_remove(0)));
                out.push(TextPattern::from_glob(glob.surround(start, end)));
                continue;
            }
            let Some(lit) = glob.as_literal() else {
                return Err(Rejection::new(
                    format!("|{}", m.encodings[0]),
                    "a value with wildcards cannot be base64-encoded; escape them (\\* \\?) or drop the wildcard",
                ));
            };
            let mut bytes: Vec<Vec<u8>> = vec![lit.to_vec()];
            for enc in &m.encodings {
                bytes = bytes.iter().flat_map(|b| encode(enc, b)).collect();
            }
            // base64offset of a value under three bytes can leave an empty variant, which would
            // match everything.
            out.extend(
                bytes
                    .into_iter()
                    .filter(|b| !b.is_empty())
                    .map(|b| TextPattern::from_bytes(b, position)),
            );
        }
        if out.is_empty() {
            return Err(Rejection::new(
                format!("|{}", m.encodings[0]),
                "the value is too short to encode into anything searchable",
            ));
        }
        // base64 is case-sensitive: folding its case would match other inputs.
        return Ok(Check::Text {
            variants: out,
            cased: base64 || m.cased,
        });
    }
    // 4. Wildcards and position.
    let (start, end) = surround_for(position);
    let variants = variants
        .iter()
        .map(|v| TextPattern::from_glob(pattern::parse_glob(v).surround(start, end)))
        .collect();
    Ok(Check::Text {
        variants,
        cased: m.cased,
    })
}

/// The implicit wildcards a position adds at the (start, end) of a value.
fn surround_for(position: Position) -> (bool, bool) {
    match position {
        Position::Exact => (false, false),
        Position::Contains => (true, true),
        Position::Prefix => (false, true),
        Position::Suffix => (true, false),
    }
}

/// Most values one key may expand to (windash permutations times placeholder values).
pub(crate) const MAX_VARIANTS: usize = 4096;

/// One placeholder value as Sigma text: literal (wildcards escaped), except a watchlist's
/// `@domain` entry, which stands for every address of the domain and of its subdomains.
fn placeholder_value(v: &str) -> impl Iterator<Item = String> {
    let (a, b) = match v.strip_prefix('@').filter(|d| !d.is_empty()) {
        Some(domain) => {
            let d = escape_wildcards(domain);
            (format!("*@{d}"), Some(format!("*@*.{d}")))
        }
        None => (escape_wildcards(v), None),
    };
    std::iter::once(a).chain(b)
}

fn escape_wildcards(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
