//! The one table that maps Sigma field names onto Event fields.
//!
//! Sigma's proxy and webserver taxonomies use W3C extended log names (`c-uri`, `cs-host`, ...);
//! reconwatch's Event uses Elastic Common Schema names. A rule may use either: ECS names work as
//! they are for every log source, taxonomy names are translated here. A name that is neither is
//! rejected when the rule loads (a rule that tests a field no event can carry would never match,
//! silently).
//!
//! W3C semantics decide the byte counters: `sc-bytes` is server-to-client (the response),
//! `cs-bytes` client-to-server (the request); the Sigma taxonomy appendix describes the two the
//! other way round, which contradicts the W3C names it cites.

use crate::event::Field;

/// Sigma taxonomy name → Event field, for `category: proxy` and `category: webserver`.
pub const TAXONOMY: &[(&str, Field)] = &[
    ("c-uri", Field::UrlOriginal),
    ("cs-uri", Field::UrlOriginal),
    ("c-uri-extension", Field::UrlExtension),
    ("c-uri-query", Field::UrlQuery),
    ("cs-uri-query", Field::UrlQuery),
    ("c-uri-stem", Field::UrlPath),
    ("cs-uri-stem", Field::UrlPath),
    ("c-useragent", Field::UserAgentOriginal),
    ("cs-user-agent", Field::UserAgentOriginal),
    ("cs-host", Field::UrlDomain),
    ("r-dns", Field::UrlDomain),
    ("cs-method", Field::HttpRequestMethod),
    ("cs-referrer", Field::HttpRequestReferrer),
    ("cs-referer", Field::HttpRequestReferrer),
    ("cs-cookie", Field::HttpRequestCookie),
    ("cs-version", Field::HttpVersion),
    ("sc-status", Field::HttpResponseStatusCode),
    ("sc-bytes", Field::HttpResponseBytes),
    ("cs-bytes", Field::HttpRequestBytes),
    ("rs-content-type", Field::HttpResponseMimeType),
    ("sc-content-type", Field::HttpResponseMimeType),
    ("cs-content-type", Field::HttpRequestMimeType),
    ("src_ip", Field::SourceIp),
    ("c-ip", Field::SourceIp),
    ("src_port", Field::SourcePort),
    ("dst_ip", Field::DestinationIp),
    ("s-ip", Field::DestinationIp),
    ("r-ip", Field::DestinationIp),
    ("dst_port", Field::DestinationPort),
    ("s-port", Field::DestinationPort),
    ("cs-username", Field::UserName),
    ("c-username", Field::UserName),
    ("username", Field::UserName),
    ("s-computername", Field::HostHostname),
];

/// The Event field a rule's field name designates.
pub fn resolve(name: &str) -> Option<Field> {
    Field::from_name(name).or_else(|| TAXONOMY.iter().find(|(n, _)| *n == name).map(|(_, f)| *f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxonomy_and_ecs_names_resolve() {
        for (name, field) in [
            ("c-uri", Field::UrlOriginal),
            ("cs-host", Field::UrlDomain),
            ("sc-status", Field::HttpResponseStatusCode),
            ("sc-bytes", Field::HttpResponseBytes),
            ("url.original", Field::UrlOriginal),
            ("email.to.address", Field::EmailToAddress),
        ] {
            assert_eq!(resolve(name), Some(field), "{name}");
        }
        assert_eq!(resolve("Image"), None);
        assert_eq!(resolve("C-URI"), None, "field names are case-sensitive");
    }

    #[test]
    fn no_taxonomy_name_shadows_an_ecs_name() {
        for (name, _) in TAXONOMY {
            assert!(Field::from_name(name).is_none(), "{name}");
        }
    }
}
