//! What the network sinks (webhook, syslog over TCP/TLS) share: a receiver's host and port, and
//! one connection to it, plain or TLS (rustls, SNI = the configured host). Never logs or labels
//! anything but the configured host.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;

/// A byte stream to a receiver, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A receiver: where to connect and, for TLS, how.
#[derive(Clone)]
pub(crate) struct Peer {
    /// Without IPv6 brackets.
    pub host: String,
    pub port: u16,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Peer {
    /// `host` as written in a URL (`[::1]` for IPv6); `tls` the client settings when TLS.
    pub fn new(host: &str, port: u16, tls: Option<Arc<ClientConfig>>) -> Result<Peer, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err("no host".into());
        }
        let tls = match tls {
            Some(config) => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
                Some((TlsConnector::from(config), name))
            }
            None => None,
        };
        Ok(Peer { host, port, tls })
    }

    /// A new connection, TLS handshake included, within `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<Box<dyn Io>, String> {
        let connecting = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("connecting to {}:{}: {e}", self.host, self.port))?;
            // Alerts are small and sent as soon as they are ready.
            let _ = tcp.set_nodelay(true);
            Ok::<Box<dyn Io>, String>(match &self.tls {
                None => Box::new(tcp),
                Some((connector, name)) => Box::new(
                    connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| format!("TLS with {}:{}: {e}", self.host, self.port))?,
                ),
            })
        };
        tokio::time::timeout(timeout, connecting).await.map_err(|_| {
            format!(
                "connecting to {}:{}: no answer within {timeout:?}",
                self.host, self.port
            )
        })?
    }
}

/// The TLS client settings of a sink (`ca`, `cert`, `key`), or why they cannot be used.
pub(crate) fn tls_client(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<ClientConfig>, String> {
    crate::tls::client_config(ca, cert, key).map_err(|e| e.to_string())
}

/// `host:port` (IPv6 in brackets), as after `scheme://`.
pub(crate) fn host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty() && (!h.contains(':') || h.ends_with(']')))
        .ok_or_else(|| format!("{authority:?} is not HOST:PORT"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{port:?} is not a port number"))?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(host_port("siem.example:6514"), Ok(("siem.example".into(), 6514)));
        assert_eq!(host_port("[::1]:514"), Ok(("[::1]".into(), 514)));
        assert!(host_port("siem.example").unwrap_err().contains("not HOST:PORT"));
        assert!(host_port("::1:514").is_err());
        assert!(host_port("h:0").unwrap_err().contains("not a port"));
        assert_eq!(Peer::new("[::1]", 1, None).unwrap().host, "::1");
    }
}
