//! Log-source routing: which rules run on which events.
//!
//! Every event belongs to one [`Source`], decided from its `event.dataset` (ECS input with a
//! dataset reconwatch does not produce is placed by its fields). A rule's `logsource` selects
//! sources by `category` and `product`:
//!
//! | category    | sources |
//! |-------------|---------|
//! | `proxy`     | every web format: Squid, Zscaler, combined (Apache/nginx), W3C (IIS, proxies), ECS web events |
//! | `webserver` | combined and W3C (the formats web servers write), ECS web events |
//! | `email`     | every mail format (reconwatch's own category: Sigma has none for mail) |
//!
//! `product` narrows to the formats of that product (`squid`, `zscaler`, `apache`, `nginx`, `iis`,
//! `postfix`, `exim`, `sendmail`, `exchange`, `m365`, `proofpoint`, `mimecast`). A rule whose
//! log source matches none of these (Windows, Linux, cloud, `service:` logs) is skipped with its
//! reason: reconwatch does not read those logs.

use crate::event::{Dataset, Event};

/// The sources events are routed to: one per [`Dataset`], in its declaration order.
#[derive(Debug)]
pub struct Source {
    pub dataset: Dataset,
    pub categories: &'static [&'static str],
    pub products: &'static [&'static str],
}

const WEB: &[&str] = &["proxy"];
const WEB_SERVER: &[&str] = &["proxy", "webserver"];
const MAIL: &[&str] = &["email"];

const fn source(dataset: Dataset, categories: &'static [&'static str], products: &'static [&'static str]) -> Source {
    Source {
        dataset,
        categories,
        products,
    }
}

/// Every source, indexed by [`route`] (a [`Dataset`]'s position in [`Dataset::ALL`]).
pub const SOURCES: &[Source] = &[
    source(Dataset::SquidAccess, WEB, &["squid"]),
    source(Dataset::ZscalerWeb, WEB, &["zscaler"]),
    source(Dataset::CombinedAccess, WEB_SERVER, &["apache", "nginx"]),
    source(Dataset::W3cAccess, WEB_SERVER, &["iis"]),
    source(Dataset::PostfixLog, MAIL, &["postfix"]),
    source(Dataset::EximMain, MAIL, &["exim"]),
    source(Dataset::SendmailLog, MAIL, &["sendmail"]),
    source(Dataset::ExchangeMessageTracking, MAIL, &["exchange"]),
    source(Dataset::M365MessageTrace, MAIL, &["m365"]),
    source(Dataset::ProofpointPodMessage, MAIL, &["proofpoint"]),
    source(Dataset::ProofpointPodMaillog, MAIL, &["proofpoint"]),
    source(Dataset::ProofpointTap, MAIL, &["proofpoint"]),
    source(Dataset::MimecastSiem, MAIL, &["mimecast"]),
    source(Dataset::MimecastTtpUrl, MAIL, &["mimecast"]),
    // ECS input placed by its fields (the ECS parser decides which).
    source(Dataset::EcsWeb, WEB_SERVER, &[]),
    source(Dataset::EcsMail, MAIL, &[]),
];

/// The index in [`SOURCES`] of the source this event belongs to (its [`Dataset`], set by the
/// parser); `None` when it is neither web nor mail.
pub fn route(event: &Event<'_>) -> Option<usize> {
    event.dataset.map(|d| d as usize)
}

/// A rule's `logsource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl LogSource {
    /// The sources this log source selects, or why it selects none.
    pub fn sources(&self) -> Result<Vec<usize>, String> {
        if let Some(service) = &self.service {
            return Err(format!("logsource service `{service}` is not a log reconwatch reads"));
        }
        if self.category.is_none() && self.product.is_none() {
            return Err("logsource names neither a category nor a product".into());
        }
        let picked: Vec<usize> = (0..SOURCES.len())
            .filter(|&i| {
                let s = &SOURCES[i];
                self.category.as_deref().is_none_or(|c| s.categories.contains(&c))
                    && self.product.as_deref().is_none_or(|p| s.products.contains(&p))
            })
            .collect();
        if picked.is_empty() {
            let what = match (&self.category, &self.product) {
                (Some(c), Some(p)) => format!("category `{c}` with product `{p}`"),
                (Some(c), None) => format!("category `{c}`"),
                (None, Some(p)) => format!("product `{p}`"),
                (None, None) => unreachable!("checked above"),
            };
            return Err(format!(
                "logsource {what} is not a log reconwatch reads (it reads category proxy, webserver and email)"
            ));
        }
        Ok(picked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn ls(category: Option<&str>, product: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource {
            category: category.map(Into::into),
            product: product.map(Into::into),
            service: service.map(Into::into),
        }
    }

    fn names(v: Vec<usize>) -> Vec<&'static str> {
        v.into_iter().map(|i| SOURCES[i].dataset.name()).collect()
    }

    #[test]
    fn one_source_per_dataset_in_its_order() {
        let datasets: Vec<Dataset> = SOURCES.iter().map(|s| s.dataset).collect();
        assert_eq!(datasets, Dataset::ALL);
    }

    #[test]
    fn categories_and_products_select_sources() {
        let proxy = names(ls(Some("proxy"), None, None).sources().unwrap());
        assert!(proxy.contains(&"squid.access") && proxy.contains(&"zscaler.web") && proxy.contains(&"w3c.access"));
        assert!(!proxy.contains(&"postfix.log"));
        let web = names(ls(Some("webserver"), None, None).sources().unwrap());
        assert!(web.contains(&"combined.access") && !web.contains(&"squid.access"));
        let mail = names(ls(Some("email"), None, None).sources().unwrap());
        assert!(mail.contains(&"postfix.log") && mail.contains(&"exchange.message_tracking"));
        assert_eq!(
            names(ls(Some("proxy"), Some("zscaler"), None).sources().unwrap()),
            ["zscaler.web"]
        );
        assert_eq!(
            names(ls(None, Some("postfix"), None).sources().unwrap()),
            ["postfix.log"]
        );
    }

    #[test]
    fn other_log_sources_are_refused_with_a_reason() {
        for (l, words) in [
            (
                ls(Some("process_creation"), Some("windows"), None),
                "category `process_creation` with product `windows`",
            ),
            (ls(None, Some("linux"), Some("auditd")), "service `auditd`"),
            (ls(None, None, None), "neither"),
        ] {
            let e = l.sources().unwrap_err();
            assert!(e.contains(words), "{e}");
        }
    }

    #[test]
    fn events_route_by_the_dataset_their_parser_set() {
        let mut e = Event::new(Dataset::SquidAccess);
        assert_eq!(SOURCES[route(&e).unwrap()].dataset, Dataset::SquidAccess);
        e.set_dataset(Dataset::MimecastTtpUrl);
        assert_eq!(SOURCES[route(&e).unwrap()].products, ["mimecast"]);
        // The dataset string alone routes nothing: the parser decides (ECS input: by its fields).
        e.dataset = None;
        e.url.original = Some(Cow::Borrowed("http://a/"));
        assert_eq!(route(&e), None);
    }
}
