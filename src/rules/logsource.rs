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

use crate::event::Event;

/// The sources events are routed to.
#[derive(Debug)]
pub struct Source {
    /// The `event.dataset` reconwatch's parser sets (`None` for ECS input placed by its fields).
    pub dataset: Option<&'static str>,
    pub categories: &'static [&'static str],
    pub products: &'static [&'static str],
}

const WEB: &[&str] = &["proxy"];
const WEB_SERVER: &[&str] = &["proxy", "webserver"];
const MAIL: &[&str] = &["email"];

/// Every source, indexed by [`route`].
pub const SOURCES: &[Source] = &[
    Source {
        dataset: Some("squid.access"),
        categories: WEB,
        products: &["squid"],
    },
    Source {
        dataset: Some("zscaler.web"),
        categories: WEB,
        products: &["zscaler"],
    },
    Source {
        dataset: Some("combined.access"),
        categories: WEB_SERVER,
        products: &["apache", "nginx"],
    },
    Source {
        dataset: Some("w3c.access"),
        categories: WEB_SERVER,
        products: &["iis"],
    },
    Source {
        dataset: Some("postfix.log"),
        categories: MAIL,
        products: &["postfix"],
    },
    Source {
        dataset: Some("exim.main"),
        categories: MAIL,
        products: &["exim"],
    },
    Source {
        dataset: Some("sendmail.log"),
        categories: MAIL,
        products: &["sendmail"],
    },
    Source {
        dataset: Some("exchange.message_tracking"),
        categories: MAIL,
        products: &["exchange"],
    },
    Source {
        dataset: Some("m365.message_trace"),
        categories: MAIL,
        products: &["m365"],
    },
    Source {
        dataset: Some("proofpoint.pod_message"),
        categories: MAIL,
        products: &["proofpoint"],
    },
    Source {
        dataset: Some("proofpoint.pod_maillog"),
        categories: MAIL,
        products: &["proofpoint"],
    },
    Source {
        dataset: Some("proofpoint.tap"),
        categories: MAIL,
        products: &["proofpoint"],
    },
    Source {
        dataset: Some("mimecast.siem"),
        categories: MAIL,
        products: &["mimecast"],
    },
    Source {
        dataset: Some("mimecast.ttp_url"),
        categories: MAIL,
        products: &["mimecast"],
    },
    // ECS input (or any dataset not listed above), placed by the fields it carries.
    Source {
        dataset: None,
        categories: WEB_SERVER,
        products: &[],
    },
    Source {
        dataset: None,
        categories: MAIL,
        products: &[],
    },
];

const ECS_WEB: usize = SOURCES.len() - 2;
const ECS_MAIL: usize = SOURCES.len() - 1;

/// The index in [`SOURCES`] of the source this event belongs to; `None` when it is neither web
/// nor mail.
pub fn route(event: &Event<'_>) -> Option<usize> {
    let dataset = event.event.dataset.as_deref().unwrap_or("");
    if let Some(i) = SOURCES.iter().position(|s| s.dataset == Some(dataset)) {
        return Some(i);
    }
    if event.email.message_id.is_some()
        || event.email.local_id.is_some()
        || !event.email.to.address.is_empty()
        || event.email.from.address.is_some()
        || event.email.sender.address.is_some()
    {
        Some(ECS_MAIL)
    } else if event.url.original.is_some() || event.url.domain.is_some() || event.http.request.method.is_some() {
        Some(ECS_WEB)
    } else {
        None
    }
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
        v.into_iter().map(|i| SOURCES[i].dataset.unwrap_or("ecs")).collect()
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
    fn events_route_by_dataset_then_by_fields() {
        let mut e = Event::new("squid.access");
        assert_eq!(SOURCES[route(&e).unwrap()].dataset, Some("squid.access"));
        e.event.dataset = Some(Cow::Borrowed("mimecast.ttp_url"));
        assert_eq!(SOURCES[route(&e).unwrap()].products, ["mimecast"]);
        e.event.dataset = Some(Cow::Borrowed("custom.gateway"));
        assert_eq!(route(&e), None);
        e.url.original = Some(Cow::Borrowed("http://a/"));
        assert_eq!(route(&e), Some(ECS_WEB));
        e.email.to.address.push(Cow::Borrowed("a@b"));
        assert_eq!(route(&e), Some(ECS_MAIL));
    }
}
