//! The webhook sink's receiver side: alerts POSTed as a JSON array (`application/json`) over
//! HTTP/1.1 or HTTPS, one request in flight, batches in spool order.
//!
//! The body is the alert documents as they are, joined with commas: never re-serialized. A 2xx
//! answer means delivered; anything else (or no answer within `timeout`) is a failed attempt the
//! spool's delivery task retries. Logs and errors name the URL without credentials or query
//! ([`redact_url`]); the configured headers (which may hold a token) are never logged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper::{HeaderMap, Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::ClientConfig;

use super::net::Peer;
use super::spool::{DeliveryError, Transport};
use crate::daemon::config::redact_url;

/// Of an error answer's body, this much is read for the log (and the rest is not waited for).
const ANSWER_MAX: usize = 64 * 1024;

/// A webhook URL, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub https: bool,
    /// As in the URL (IPv6 in brackets).
    pub host: String,
    pub port: u16,
    /// The request target: path and query.
    pub target: String,
    /// The `Host` header: the URL's authority.
    pub authority: String,
}

/// Parses an `http://` or `https://` URL.
pub(crate) fn parse_url(url: &str) -> Result<Url, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL ({e})"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("the URL must start with http:// or https://".into()),
    };
    let authority = uri.authority().ok_or("the URL has no host")?;
    if authority.as_str().contains('@') {
        return Err("credentials in the URL are not sent; give them in headers (Authorization: ...)".into());
    }
    Ok(Url {
        https,
        host: authority.host().to_owned(),
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        target: uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_owned(),
        authority: authority.as_str().to_owned(),
    })
}

/// The configured extra headers, checked.
pub(crate) fn parse_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let n =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("headers: {name:?} is not a header name"))?;
        // The value may be a secret: not repeated in the message.
        let v = HeaderValue::from_str(value)
            .map_err(|_| format!("headers: the value of {name} has characters a header cannot carry"))?;
        map.insert(n, v);
    }
    Ok(map)
}

/// POSTs batches of alerts to one URL.
pub(crate) struct Webhook {
    peer: Peer,
    url: Url,
    redacted: String,
    headers: HeaderMap,
    timeout: Duration,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Webhook {
    pub fn new(
        url: &str,
        headers: HeaderMap,
        timeout: Duration,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<Webhook, String> {
        let parsed = parse_url(url)?;
        let tls = if parsed.https { tls } else { None };
        Ok(Webhook {
            peer: Peer::new(&parsed.host, parsed.port, tls)?,
            url: parsed,
            redacted: redact_url(url),
            headers,
            timeout,
            conn: None,
        })
    }

    fn request(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.url.target.parse().unwrap_or_else(|_| Uri::from_static("/"));
        let h = req.headers_mut();
        if let Ok(host) = HeaderValue::from_str(&self.url.authority) {
            h.insert(HOST, host);
        }
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("reconwatch/", env!("CARGO_PKG_VERSION"))),
        );
        // Configured headers win (a receiver may want its own content type or agent).
        for (name, value) in &self.headers {
            h.insert(name, value.clone());
        }
        req
    }

    async fn post(&mut self, body: Bytes) -> Result<(), DeliveryError> {
        let req = self.request(body);
        let url = &self.redacted;
        let failed = |what: &str, e: &dyn std::fmt::Display| DeliveryError::failed(format!("{what} {url}: {e}"));
        let sender = match &mut self.conn {
            Some(s) if !s.is_closed() => s,
            _ => {
                let io = self.peer.connect(self.timeout).await.map_err(|e| failed("POST", &e))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                    .await
                    .map_err(|e| failed("HTTP handshake with", &e))?;
                tokio::spawn(async move {
                    // Ends when the connection closes; errors surface on the next request.
                    let _ = conn.await;
                });
                self.conn.insert(sender)
            }
        };
        sender.ready().await.map_err(|e| failed("POST", &e))?;
        let answer = sender.send_request(req).await.map_err(|e| failed("POST", &e))?;
        let status = answer.status();
        let text = match Limited::new(answer.into_body(), ANSWER_MAX).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                // The body was not read to its end: the connection cannot carry another request.
                self.conn = None;
                Bytes::new()
            }
        };
        if status.is_success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&text[..text.len().min(200)]).replace(['\n', '\r'], " ");
        let text = text.trim();
        Err(DeliveryError {
            reason: if text.is_empty() {
                format!("POST {url} answered {status}")
            } else {
                format!("POST {url} answered {status}: {text}")
            },
            rejected: rejects_content(status),
        })
    }
}

/// A 4xx other than 408 (timeout) and 429 (too many requests), or a redirect (not followed): the
/// receiver refuses what it was sent, and waiting alone will not change that.
fn rejects_content(status: StatusCode) -> bool {
    (status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT && status != StatusCode::TOO_MANY_REQUESTS)
        || status.is_redirection()
}

/// `[a,b,c]` from the documents as they are.
fn json_array(records: &[Vec<u8>]) -> Bytes {
    let mut body = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r);
    }
    body.push(b']');
    body.into()
}

impl Transport for Webhook {
    async fn deliver(&mut self, records: &[Vec<u8>]) -> Result<(), DeliveryError> {
        let body = json_array(records);
        let result = match tokio::time::timeout(self.timeout, self.post(body)).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::failed(format!(
                "POST {}: no answer within {:?}",
                self.redacted, self.timeout
            ))),
        };
        if result.as_ref().is_err_and(|e| !e.rejected) {
            // A connection that failed or timed out is not trusted with the next attempt.
            self.conn = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("https://soar.example/hooks/rw?x=1").unwrap();
        assert!(u.https);
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("soar.example", 443, "/hooks/rw?x=1")
        );
        let u = parse_url("http://[::1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.target.as_str()), ("[::1]", 8080, "/"));
        assert!(parse_url("ftp://x/").unwrap_err().contains("http://"));
        assert!(parse_url("https://u:p@x/").unwrap_err().contains("credentials"));
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn bodies_are_the_documents_joined() {
        assert_eq!(
            &json_array(&[b"{\"a\":1}".to_vec(), b"{}".to_vec()])[..],
            b"[{\"a\":1},{}]"
        );
    }

    #[test]
    fn which_answers_reject_the_content() {
        assert!(rejects_content(StatusCode::BAD_REQUEST));
        assert!(rejects_content(StatusCode::MOVED_PERMANENTLY));
        assert!(!rejects_content(StatusCode::TOO_MANY_REQUESTS));
        assert!(!rejects_content(StatusCode::REQUEST_TIMEOUT));
        assert!(!rejects_content(StatusCode::BAD_GATEWAY));
    }

    #[test]
    fn header_values_are_not_repeated_in_errors() {
        let bad = BTreeMap::from([("Authorization".to_owned(), "Bearer se\ncret".to_owned())]);
        let e = parse_headers(&bad).unwrap_err();
        assert!(e.contains("Authorization") && !e.contains("cret"), "{e}");
    }
}
