//! systemd's readiness protocol (`Type=notify`): `READY=1` once every source is bound and the
//! engine runs, `RELOADING=1`/`READY=1` around a reload, `STOPPING=1` at shutdown, `STATUS=` for
//! `systemctl status`. A datagram to `$NOTIFY_SOCKET`; nothing at all when it is not set.
//! (Tested end to end in `tests/daemon.rs`, which runs the binary with a socket of its own.)

use std::os::unix::net::UnixDatagram;

use crate::log;

/// Sends `state` (`READY=1`, `STATUS=...`, newline-separated) to systemd, if it asked for it.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            // An abstract socket (Linux).
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(e) = result {
        log::warning!("could not notify systemd ({state}): {e}");
    }
}
