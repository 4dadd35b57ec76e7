//! TLS settings from PEM files, for the syslog listener (server side) and the webhook and
//! syslog sinks (client side). rustls with the ring provider only (no C build, no aws-lc).
//!
//! Errors name the file and what is wrong with it, so `config check` can say which key to fix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Where the system's trusted CAs are on Debian and its derivatives.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A TLS file that could not be used, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct TlsError {
    pub path: PathBuf,
    pub reason: String,
}

/// ring, not aws-lc: aws-lc is a long C/CMake build and ring is pure Rust plus a little C/asm
/// that the `cc` crate builds. rustls 0.23.48 deprecates ring's provider only because it has
/// no post-quantum key exchange; syslog and webhooks inside an organisation accept that.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn err(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The certificates of a PEM file (a chain, leaf first; or a CA bundle).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(path, pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(path, pem_reason(e)))?;
    if certs.is_empty() {
        return Err(err(path, "no PEM certificate (-----BEGIN CERTIFICATE-----) in it"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pki_types::pem::Error::NoItemsFound => err(path, "no PEM private key in it"),
        e => err(path, pem_reason(e)),
    })
}

fn pem_reason(e: pki_types::pem::Error) -> String {
    match e {
        pki_types::pem::Error::Io(e) => e.to_string(),
        e => format!("not a valid PEM file ({e:?})"),
    }
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certificates(path)?);
    if added == 0 {
        return Err(err(path, "none of its certificates is a usable CA certificate"));
    }
    Ok(store)
}

/// A listener's configuration: its certificate chain and key, and, with `client_ca`, client
/// certificates required and checked against that CA.
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert)?;
    let key_der = private_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(cert, e))?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                .build()
                .map_err(|e| err(ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| err(key, format!("does not go with the certificate {}: {e}", cert.display())))?;
    Ok(Arc::new(config))
}

/// A client's configuration: trusting `ca` (or the system's bundle), presenting `cert`/`key`
/// when both are given.
pub fn client_config(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let ca = ca.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(ca, e))?
        .with_root_certificates(roots(ca)?);
    let config = match (cert, key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| err(key, format!("does not go with the certificate {}: {e}", cert.display())))?,
        (None, None) => builder.with_no_client_auth(),
        (Some(p), None) | (None, Some(p)) => {
            return Err(err(p, "a client certificate needs both cert and key"));
        }
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let e = certificates(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.pem") && e.contains("no PEM certificate"), "{e}");
        let e = private_key(&empty).unwrap_err().to_string();
        assert!(e.contains("no PEM private key"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = server_config(&missing, &missing, None).unwrap_err().to_string();
        assert!(e.contains("missing.pem") && e.contains("No such file"), "{e}");
    }
}
