//! `sd_notify(3)`: one datagram of `KEY=value` lines to the Unix socket `$NOTIFY_SOCKET` names
//! (a path, or an abstract name written with a leading `@`) per change of state.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;

/// Tells the service manager how contid is doing. Cheap to clone. Without `NOTIFY_SOCKET` it
/// does nothing; a message that cannot be sent is dropped (logged at debug): a manager that
/// stopped listening must not stop the daemon.
#[derive(Clone, Default)]
pub struct Notifier {
    target: Option<Arc<Target>>,
}

struct Target {
    /// Unbound, non-blocking: a full receive queue drops the message rather than block a task.
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET=notify_socket`.
    pub(super) fn new(notify_socket: Option<String>) -> Notifier {
        let Some(name) = notify_socket.filter(|name| !name.is_empty()) else {
            return Notifier::default();
        };
        let address = match name.strip_prefix('@') {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name),
            None if name.starts_with('/') => SocketAddr::from_pathname(&name),
            None => {
                tracing::warn!(%name, "NOTIFY_SOCKET is neither a path nor an abstract socket: not notifying");
                return Notifier::default();
            }
        };
        let target = address.and_then(|address| {
            let socket = UnixDatagram::unbound()?;
            socket.set_nonblocking(true)?;
            Ok(Target { socket, address })
        });
        match target {
            Ok(target) => Notifier {
                target: Some(Arc::new(target)),
            },
            Err(error) => {
                tracing::warn!(%name, %error, "cannot use NOTIFY_SOCKET: not notifying");
                Notifier::default()
            }
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// `READY=1`, with the status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// The status line `systemctl status` shows.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// `STOPPING=1`: the daemon shuts down (the containers keep running).
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping; the containers keep running");
    }

    /// `WATCHDOG=1`: the daemon is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else {
            return;
        };
        if let Err(error) = target
            .socket
            .send_to_addr(message.as_bytes(), &target.address)
        {
            tracing::debug!(%error, message, "cannot notify systemd");
        }
    }
}

/// `text` without line breaks (a new line would start another `KEY=value`).
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn received(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let len = socket.recv(&mut buf).expect("a message");
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }

    #[test]
    fn messages_reach_a_path_or_an_abstract_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let by_path = UnixDatagram::bind(&path).expect("bind");
        let name = format!("conti-notify-test-{}", std::process::id());
        let by_name = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap())
            .expect("bind abstract");
        for socket in [&by_path, &by_name] {
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
        }

        let notifier = Notifier::new(Some(path.display().to_string()));
        notifier.ready("serving\non x");
        assert_eq!(received(&by_path), "READY=1\nSTATUS=serving on x");
        notifier.watchdog();
        assert_eq!(received(&by_path), "WATCHDOG=1");

        let notifier = Notifier::new(Some(format!("@{name}")));
        notifier.stopping();
        assert!(received(&by_name).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn without_a_usable_socket_nothing_is_sent() {
        for value in [None, Some(""), Some("vsock:2:1234")] {
            let notifier = Notifier::new(value.map(str::to_string));
            assert!(!notifier.is_enabled(), "{value:?}");
            notifier.status("nobody listens");
        }
        // A socket nobody is bound to: the message is dropped.
        let notifier = Notifier::new(Some("/nonexistent/notify".into()));
        assert!(notifier.is_enabled());
        notifier.ready("ready");
    }
}
