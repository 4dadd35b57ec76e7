//! YAML documents as the loader sees them: a small value tree that keeps the order of map keys
//! (a rule's search identifiers are reported in the order the author wrote them) and keeps
//! `null`, numbers, booleans and strings apart (Sigma gives each a meaning).
//!
//! Parsing is serde-saphyr's (pure Rust, panic-free); this module only defines the tree it
//! deserializes into. Duplicate keys are an error of the YAML layer, never silently merged.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    /// Keys in document order; non-string keys are kept as their text.
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    /// The value under `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of node this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Yaml::Null => "null",
            Yaml::Bool(_) => "a boolean",
            Yaml::Int(_) | Yaml::Float(_) => "a number",
            Yaml::Str(_) => "a string",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a map",
        }
    }

    /// A scalar as the text Sigma compares (numbers and booleans match their written form).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Yaml::Str(s) => Some(s.clone()),
            Yaml::Int(n) => Some(n.to_string()),
            Yaml::Float(f) => Some(f.to_string()),
            Yaml::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Every document of a YAML stream (`---` separated); empty documents are skipped.
///
/// serde-saphyr's default budget bounds what one file may cost to parse (250,000 nodes, a million
/// events, 64 MiB of text); a file over it is refused with that reason.
pub fn parse_documents(text: &str) -> Result<Vec<Yaml>, String> {
    serde_saphyr::from_multiple::<Yaml>(text).map_err(|e| {
        let mut inner = &e;
        while let serde_saphyr::Error::WithSnippet { error, .. } = inner {
            inner = error;
        }
        match inner {
            serde_saphyr::Error::Budget { breach, location } => format!(
                "line {}: over the YAML parser's limits for one file ({breach:?}; at most 250,000 \
                 nodes: values, keys and lists); split the rules into several files",
                location.line()
            ),
            _ => one_line(&e.to_string()),
        }
    })
}

/// serde-saphyr renders errors with a source snippet over several lines; reports want one line.
fn one_line(message: &str) -> String {
    let mut out = String::new();
    for part in message.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(" | ");
        }
        out.push_str(part);
        if out.len() > 300 {
            break;
        }
    }
    out
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }
    fn visit_none<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
        d.deserialize_any(YamlVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Yaml, E> {
        Ok(Yaml::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Yaml, E> {
        Ok(Yaml::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Yaml, E> {
        Ok(Yaml::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Yaml, E> {
        Ok(Yaml::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Yaml, E> {
        i128::try_from(v)
            .map(Yaml::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Yaml, E> {
        Ok(Yaml::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Yaml, E> {
        Ok(Yaml::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Yaml, E> {
        Ok(Yaml::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Yaml::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        let mut entries: Vec<(String, Yaml)> = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key::<Yaml>()? {
            let key = match key {
                Yaml::Null => String::new(),
                other => other
                    .scalar_text()
                    .ok_or_else(|| de::Error::custom(format!("a map key must be a scalar, not {}", other.kind())))?,
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Yaml::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_types_order_and_documents() {
        let docs =
            parse_documents("b: 1\na: [x, 2, true, null, '', 1.5]\nc: ~\n'|all': [p]\n---\n---\ntitle: second\n")
                .unwrap();
        assert_eq!(docs.len(), 2);
        let Yaml::Map(m) = &docs[0] else {
            panic!("{:?}", docs[0])
        };
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c", "|all"]);
        assert_eq!(docs[0].get("b"), Some(&Yaml::Int(1)));
        assert_eq!(docs[0].get("c"), Some(&Yaml::Null));
        assert_eq!(
            docs[0].get("a"),
            Some(&Yaml::Seq(vec![
                Yaml::Str("x".into()),
                Yaml::Int(2),
                Yaml::Bool(true),
                Yaml::Null,
                Yaml::Str(String::new()),
                Yaml::Float(1.5),
            ]))
        );
        assert_eq!(docs[1].get("title").and_then(Yaml::as_str), Some("second"));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let docs = parse_documents("a: '200'\nb: 'null'\nc: \"true\"\n").unwrap();
        assert_eq!(docs[0].get("a"), Some(&Yaml::Str("200".into())));
        assert_eq!(docs[0].get("b"), Some(&Yaml::Str("null".into())));
        assert_eq!(docs[0].get("c"), Some(&Yaml::Str("true".into())));
    }

    #[test]
    fn a_file_over_the_parser_budget_says_so() {
        let huge = format!("a: [{}]\n", "1,".repeat(250_001));
        let e = parse_documents(&huge).unwrap_err();
        assert!(
            e.contains("over the YAML parser's limits") && e.contains("split"),
            "{e}"
        );
    }

    #[test]
    fn errors_are_one_line() {
        for bad in ["a: [1, 2\n", "a: 1\na: 2\n", "a: b: c\n"] {
            let e = parse_documents(bad).unwrap_err();
            assert!(!e.contains('\n') && !e.is_empty(), "{bad:?}: {e}");
        }
    }
}
