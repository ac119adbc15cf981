//! What keeps a plugin process away from the server's secrets beyond its cleared environment:
//! the server's memory (and so `/proc/<server>/environ`, with `DATABASE_URL` and the admin
//! token) is closed to processes of the same user, and a server running as root can run a
//! plugin as another user (`user = "…"`). Decision 0013.

use std::path::Path;
use std::sync::Once;

/// Makes this (the server's) process non-dumpable, once, before its first plugin process
/// starts: `/proc/<pid>/environ`, `mem` and `ptrace` are then refused to other processes of
/// its user — a plugin process among them — as they are to other users. (Root, or a holder
/// of `CAP_SYS_PTRACE`, still passes: run plugins as another user with `user` then.) Core
/// dumps of the server are off as a consequence.
pub(super) fn hide_server_memory() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(e) =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        {
            tracing::warn!(error = %e, "cannot close the server's memory to its plugin processes");
        }
    });
}

/// The system user (and its group) a plugin process runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunAs {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

impl RunAs {
    /// `user` by name or number, from `/etc/passwd`; only a server running as root may switch.
    pub(super) fn lookup(user: &str) -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Err(format!(
                "`user = \"{user}\"` needs the server to run as root (it runs as uid {})",
                rustix::process::geteuid().as_raw()
            ));
        }
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| format!("cannot read /etc/passwd to find user `{user}`: {e}"))?;
        find(&passwd, user).ok_or_else(|| format!("there is no user `{user}` in /etc/passwd"))
    }

    /// Hands `dir` (the plugin's socket and working directory) to the user.
    pub(super) fn own(&self, dir: &Path) -> std::io::Result<()> {
        std::os::unix::fs::chown(dir, Some(self.uid), Some(self.gid))
    }
}

/// The entry of `user` (a name, or a number) in the text of `/etc/passwd`.
fn find(passwd: &str, user: &str) -> Option<RunAs> {
    passwd
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            let uid: u32 = fields.next()?.parse().ok()?;
            let gid: u32 = fields.next()?.parse().ok()?;
            Some((name, RunAs { uid, gid }))
        })
        .find(|(name, entry)| *name == user || user.parse() == Ok(entry.uid))
        .map(|(_, entry)| entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        # a comment\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        broken line\n\
        app:x:1000:1001::/home/app:/bin/sh\n";

    #[test]
    fn users_are_found_by_name_or_number() {
        assert_eq!(
            find(PASSWD, "nobody"),
            Some(RunAs {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(
            find(PASSWD, "1000"),
            Some(RunAs {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(find(PASSWD, "ghost"), None);
        assert_eq!(find(PASSWD, "broken line"), None);
    }
}
