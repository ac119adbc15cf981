//! The handshake between a host and a plugin process it starts (go-plugin's, adapted; see
//! `docs/process-plugins.md`):
//!
//! 1. the host starts the plugin with [`MAGIC_COOKIE_KEY`]` = `[`MAGIC_COOKIE_VALUE`], the
//!    protocol versions it speaks in [`PROTOCOL_VERSIONS_KEY`] (`1`, or `1,2`), and a private
//!    directory for the socket in [`SOCKET_DIR_KEY`];
//! 2. the plugin checks the cookie (a plugin executable started by hand says so and exits),
//!    picks the highest version both speak ([`negotiate`]), serves on a Unix socket in that
//!    directory, and prints one [`HandshakeLine`] on stdout:
//!    `1|1|unix|/run/…/plugin.sock|grpc`;
//! 3. the host reads that one line ([`HandshakeLine::parse`]); anything else refuses the plugin
//!    with the reason.

use std::fmt;

/// The environment variable a host sets to tell a plugin executable it was started by a host.
pub const MAGIC_COOKIE_KEY: &str = "FLOVYN_PLUGIN_MAGIC_COOKIE";
/// Its value (fixed: it tells apart a host's start from a user's, it is no secret).
pub const MAGIC_COOKIE_VALUE: &str = "d3c9e5b2-flovyn-plugin";
/// The protocol versions the host speaks, comma-separated.
pub const PROTOCOL_VERSIONS_KEY: &str = "FLOVYN_PLUGIN_PROTOCOL_VERSIONS";
/// The private directory (the host's, mode 0700) the plugin puts its socket in.
pub const SOCKET_DIR_KEY: &str = "FLOVYN_PLUGIN_SOCKET_DIR";
/// The version of the handshake line itself.
pub const CORE_VERSION: u32 = 1;

/// A handshake that did not happen: what went wrong, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    message: String,
}

impl HandshakeError {
    fn new(message: String) -> Self {
        Self { message }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandshakeError {}

/// The highest protocol version in both `host` (as the host wrote it in
/// [`PROTOCOL_VERSIONS_KEY`]) and `plugin`.
pub fn negotiate(host: &str, plugin: &[u32]) -> Result<u32, HandshakeError> {
    let mut offered = Vec::new();
    for part in host.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        offered.push(part.parse::<u32>().map_err(|_| {
            HandshakeError::new(format!(
                "`{PROTOCOL_VERSIONS_KEY}` has `{part}`, not a version"
            ))
        })?);
    }
    offered
        .iter()
        .filter(|v| plugin.contains(v))
        .max()
        .copied()
        .ok_or_else(|| {
            HandshakeError::new(format!(
                "no common protocol version: the host speaks {offered:?}, the plugin {plugin:?}"
            ))
        })
}

/// The one line a plugin prints on stdout once it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeLine {
    /// [`CORE_VERSION`].
    pub core_version: u32,
    /// The negotiated protocol version.
    pub protocol_version: u32,
    /// `unix` (a socket path) or `tcp` (a loopback address).
    pub network: Network,
    /// The socket path, or `127.0.0.1:<port>`.
    pub address: String,
}

/// Where a plugin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A Unix socket (the default, reachable only by the host: mode 0600 in a 0700 directory).
    Unix,
    /// Loopback TCP, where Unix sockets are unavailable.
    Tcp,
}

impl Network {
    fn as_str(self) -> &'static str {
        match self {
            Network::Unix => "unix",
            Network::Tcp => "tcp",
        }
    }
}

impl fmt::Display for HandshakeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|grpc",
            self.core_version,
            self.protocol_version,
            self.network.as_str(),
            self.address
        )
    }
}

impl HandshakeLine {
    /// Reads the line a plugin printed; `host_versions` are those the host offered.
    pub fn parse(line: &str, host_versions: &[u32]) -> Result<HandshakeLine, HandshakeError> {
        let shown: String = line.chars().take(120).collect();
        let bad = |why: &str| {
            HandshakeError::new(format!(
                "the plugin's first line is not a handshake ({why}): `{}`",
                shown.trim_end()
            ))
        };
        let parts: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('|').collect();
        let [core, protocol, network, address, kind] = parts[..] else {
            return Err(bad("expected `core|protocol|network|address|grpc`"));
        };
        let core_version: u32 = core.parse().map_err(|_| bad("core version"))?;
        if core_version != CORE_VERSION {
            return Err(HandshakeError::new(format!(
                "the plugin speaks handshake version {core_version}, this host {CORE_VERSION}"
            )));
        }
        let protocol_version: u32 = protocol.parse().map_err(|_| bad("protocol version"))?;
        if !host_versions.contains(&protocol_version) {
            return Err(HandshakeError::new(format!(
                "the plugin chose protocol version {protocol_version}, which the host did not offer ({host_versions:?})"
            )));
        }
        let network = match network {
            "unix" => Network::Unix,
            "tcp" => Network::Tcp,
            _ => return Err(bad("network must be `unix` or `tcp`")),
        };
        if address.is_empty() {
            return Err(bad("empty address"));
        }
        if network == Network::Tcp
            && !address
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback())
        {
            return Err(bad("a TCP address must be on loopback"));
        }
        if kind != "grpc" {
            return Err(bad("protocol must be `grpc`"));
        }
        Ok(HandshakeLine {
            core_version,
            protocol_version,
            network,
            address: address.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_common_version_wins() {
        assert_eq!(negotiate("1,2", &[1]), Ok(1));
        assert_eq!(negotiate("1, 2, 3", &[2, 3]), Ok(3));
        let e = negotiate("2,3", &[1]).unwrap_err().to_string();
        assert_eq!(
            e,
            "no common protocol version: the host speaks [2, 3], the plugin [1]"
        );
        assert!(
            negotiate("1,x", &[1])
                .unwrap_err()
                .to_string()
                .contains("`x`")
        );
    }

    #[test]
    fn a_line_round_trips_and_garbage_is_refused_with_the_reason() {
        let line = HandshakeLine {
            core_version: 1,
            protocol_version: 1,
            network: Network::Unix,
            address: "/tmp/x/plugin.sock".into(),
        };
        assert_eq!(line.to_string(), "1|1|unix|/tmp/x/plugin.sock|grpc");
        assert_eq!(HandshakeLine::parse(&format!("{line}\n"), &[1]), Ok(line));

        let refused = |text: &str| HandshakeLine::parse(text, &[1]).unwrap_err().to_string();
        assert!(refused("Listening on port 8080").contains("not a handshake"));
        assert!(refused("2|1|unix|/s|grpc").contains("handshake version 2"));
        assert!(refused("1|3|unix|/s|grpc").contains("did not offer"));
        assert!(refused("1|1|udp|/s|grpc").contains("`unix` or `tcp`"));
        assert!(refused("1|1|tcp|10.0.0.1:80|grpc").contains("loopback"));
        assert!(refused("1|1|unix|/s|netrpc").contains("`grpc`"));
        assert_eq!(
            HandshakeLine::parse("1|1|tcp|127.0.0.1:4000|grpc", &[1])
                .unwrap()
                .network,
            Network::Tcp
        );
    }
}
