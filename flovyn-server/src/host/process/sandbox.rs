//! The opt-in OS sandbox of a plugin process (`sandbox = true`, decision 0020): Landlock
//! (files, TCP, abstract sockets and signals), seccomp (no socket but a Unix one, no reach into
//! other processes or the kernel's state) and, when the server may make one, a network
//! namespace of its own.
//!
//! Everything that allocates or opens a path happens in the server, in [`prepare`]; between
//! `fork` and `exec` the child runs only system calls ([`confine`]). This is the one module of
//! the server with `unsafe` code: `pre_exec` and the system calls the crates offer only for the
//! calling process.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

/// What a sandboxed plugin process may reach beyond the system's libraries and programs,
/// its executable and its own directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// Paths it may read (and execute): `sandbox_read`.
    pub read: Vec<PathBuf>,
    /// Paths it may read and write: `sandbox_write`.
    pub write: Vec<PathBuf>,
}

/// Read and execute for every sandboxed process: where programs and libraries live.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
];

/// Read and write for every sandboxed process.
const SYSTEM_WRITE: &[&str] = &["/dev/null"];

#[cfg(target_os = "linux")]
pub(super) use linux::{confine, prepare};

#[cfg(not(target_os = "linux"))]
pub(super) use other::{confine, prepare};

/// `program` as the child's `execve` finds it: a bare name through `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The paths of `sandbox` that do not exist: named in the refusal (a typo would otherwise
/// show as a plugin failing later, far from its cause).
fn missing(sandbox: &Sandbox) -> Option<String> {
    sandbox
        .read
        .iter()
        .map(|p| ("sandbox_read", p))
        .chain(sandbox.write.iter().map(|p| ("sandbox_write", p)))
        .find(|(_, path)| !path.exists())
        .map(|(key, path)| format!("`{key}` names `{}`, which does not exist", path.display()))
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;
    use std::os::fd::{AsRawFd as _, OwnedFd};
    use std::path::Path;

    use landlock::{
        ABI, Access as _, AccessFs, AccessNet, CompatLevel, Compatible as _, Ruleset,
        RulesetAttr as _, RulesetCreatedAttr as _, RulesetError, Scope, path_beneath_rules,
    };
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };

    use super::{SYSTEM_READ, SYSTEM_WRITE, Sandbox};

    /// A sandbox ready to enter: the Landlock ruleset (a descriptor, closed on `exec`), the
    /// compiled seccomp filters, and whether to unshare the network.
    pub(in super::super) struct Prepared {
        ruleset: OwnedFd,
        filters: Vec<BpfProgram>,
        network_namespace: bool,
        abi: i32,
    }

    impl std::fmt::Debug for Prepared {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.summary())
        }
    }

    impl Prepared {
        /// What the process gets, for the log: `Landlock ABI 7 (…), seccomp, …`.
        pub(in super::super) fn summary(&self) -> String {
            let mut landlock = vec!["files"];
            if self.abi >= 4 {
                landlock.push("TCP");
            }
            if self.abi >= 6 {
                landlock.push("abstract sockets and signals");
            }
            format!(
                "Landlock ABI {} ({}), seccomp, {}",
                self.abi,
                landlock.join(", "),
                if self.network_namespace {
                    "a network namespace of its own"
                } else {
                    "no network namespace (the server cannot make one)"
                }
            )
        }

        /// In the child, between `fork` and `exec`: system calls only, nothing allocated.
        fn enter(&self) -> std::io::Result<()> {
            use std::io::Error;
            // SAFETY (all three): plain system calls on integers and a descriptor this process
            // owns; none touches memory of the process.
            if self.network_namespace && unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(Error::last_os_error());
            }
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(Error::last_os_error());
            }
            if unsafe {
                libc::syscall(
                    libc::SYS_landlock_restrict_self,
                    self.ruleset.as_raw_fd(),
                    0u32,
                )
            } != 0
            {
                return Err(Error::last_os_error());
            }
            for filter in &self.filters {
                match seccompiler::apply_filter(filter) {
                    Ok(()) => {}
                    Err(seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e)) => {
                        return Err(e);
                    }
                    Err(_) => return Err(Error::from_raw_os_error(libc::EINVAL)),
                }
            }
            Ok(())
        }
    }

    /// Makes `command`'s child enter `prepared` before it runs the plugin.
    pub(in super::super) fn confine(command: &mut tokio::process::Command, prepared: Prepared) {
        // SAFETY: the closure runs between fork and exec; `enter` makes system calls only (it
        // neither allocates nor takes a lock), and `prepared` was fully built before the fork.
        unsafe {
            command.pre_exec(move || prepared.enter());
        }
    }

    /// The sandbox of a plugin process running `program` in `dir` (its own directory): the
    /// Landlock ruleset built, the filters compiled. `network_namespace`: whether the child can
    /// unshare its network (the server is root and the plugin runs as the server's user).
    pub(in super::super) fn prepare(
        sandbox: &Sandbox,
        program: &Path,
        dir: &Path,
        network_namespace: bool,
    ) -> Result<Prepared, String> {
        let abi = kernel_abi();
        if abi < 1 {
            return Err(
                "`sandbox = true` needs Landlock, which this kernel does not offer \
                        (not built in, or not enabled at boot): the plugin is not started \
                        unconfined"
                    .to_owned(),
            );
        }
        if let Some(missing) = super::missing(sandbox) {
            return Err(missing);
        }
        let program = super::resolve(program);
        let ruleset = ruleset(ABI::from(abi), program.as_deref(), dir, sandbox)
            .map_err(|e| format!("cannot build its Landlock ruleset: {e}"))?
            .ok_or_else(|| "Landlock gave no ruleset to enforce".to_owned())?;
        let filters = filters().map_err(|e| format!("cannot build its seccomp filters: {e}"))?;
        Ok(Prepared {
            ruleset,
            filters,
            network_namespace,
            abi,
        })
    }

    /// The Landlock ABI of the running kernel; 0 or less without Landlock.
    fn kernel_abi() -> i32 {
        const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
        // SAFETY: with this flag the call reads no memory and returns a number.
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        i32::try_from(abi).unwrap_or(0)
    }

    /// Every access right the kernel knows is handled (so denied unless a rule grants it).
    fn ruleset(
        abi: ABI,
        program: Option<&Path>,
        dir: &Path,
        sandbox: &Sandbox,
    ) -> Result<Option<OwnedFd>, RulesetError> {
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))?;
        if abi >= ABI::V4 {
            ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
        }
        if abi >= ABI::V6 {
            ruleset = ruleset.scope(Scope::from_all(abi))?;
        }
        let read = SYSTEM_READ
            .iter()
            .map(Path::new)
            .chain(program)
            .chain(sandbox.read.iter().map(|p| p.as_path()));
        let write = SYSTEM_WRITE
            .iter()
            .map(Path::new)
            .chain(std::iter::once(dir))
            .chain(sandbox.write.iter().map(|p| p.as_path()));
        let created = ruleset
            .create()?
            // Paths that cannot be opened (a system directory this machine does not have) are
            // left out; the operator's own were checked to exist.
            .add_rules(path_beneath_rules(read, AccessFs::from_read(abi)))?
            .add_rules(path_beneath_rules(write, AccessFs::from_all(abi)))?;
        // No TCP rule: with the network rights handled, no port may be bound or connected.
        Ok(created.into())
    }

    /// The system calls a plugin process is refused (with `EPERM`): into other processes, the
    /// kernel's state, mounts and namespaces, and `io_uring` (which would bypass the socket
    /// filter).
    fn denied() -> Vec<i64> {
        let mut calls = vec![
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_kcmp,
            libc::SYS_pidfd_getfd,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_chroot,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_fsopen,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fspick,
            libc::SYS_mount_setattr,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
            libc::SYS_kexec_load,
            libc::SYS_kexec_file_load,
            libc::SYS_reboot,
            libc::SYS_swapon,
            libc::SYS_swapoff,
            libc::SYS_acct,
            libc::SYS_quotactl,
            libc::SYS_syslog,
            libc::SYS_userfaultfd,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
            libc::SYS_settimeofday,
            libc::SYS_clock_settime,
            libc::SYS_clock_adjtime,
            libc::SYS_adjtimex,
            libc::SYS_sethostname,
            libc::SYS_setdomainname,
            libc::SYS_open_by_handle_at,
            libc::SYS_name_to_handle_at,
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
            libc::SYS_vhangup,
        ];
        #[cfg(target_arch = "x86_64")]
        calls.extend([libc::SYS_iopl, libc::SYS_ioperm]);
        calls
    }

    /// Two filters: `socket` of any family but `AF_UNIX` fails with `EAFNOSUPPORT` (what a
    /// kernel without networking answers, which programs handle), the [`denied`] calls with
    /// `EPERM`.
    fn filters() -> Result<Vec<BpfProgram>, seccompiler::BackendError> {
        let arch = TargetArch::try_from(std::env::consts::ARCH)?;
        let not_unix = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )?;
        let sockets = SeccompFilter::new(
            BTreeMap::from([(libc::SYS_socket, vec![SeccompRule::new(vec![not_unix])?])]),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EAFNOSUPPORT as u32),
            arch,
        )?;
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied()
            .into_iter()
            .map(|call| (call, Vec::new()))
            .collect();
        // New namespaces through `clone` too (not only `unshare`): any `CLONE_NEW*` flag.
        let mut clone_rules = Vec::new();
        for flag in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWCGROUP,
        ] {
            let flag = flag as u64;
            clone_rules.push(SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?])?);
        }
        rules.insert(libc::SYS_clone, clone_rules);
        let denied = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )?;
        // `clone3` passes its flags in memory a filter cannot read: "not implemented", after
        // which the C library falls back to `clone`, which the filter above sees.
        let clone3 = SeccompFilter::new(
            BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )?;
        #[allow(unused_mut)]
        let mut all = vec![sockets.try_into()?, denied.try_into()?, clone3.try_into()?];
        #[cfg(target_arch = "x86_64")]
        all.push(no_x32());
        Ok(all)
    }

    /// On x86_64, every x32 system call (number with bit 30 set) fails with `EPERM`: the
    /// filters above compare numbers exactly, and x32 numbers would pass them by.
    #[cfg(target_arch = "x86_64")]
    fn no_x32() -> BpfProgram {
        use seccompiler::sock_filter;
        const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
        const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
        const RET_K: u16 = 0x06; // BPF_RET | BPF_K
        const RET_ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO
        const RET_ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
        const X32_SYSCALL_BIT: u32 = 0x4000_0000;
        let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
        vec![
            // seccomp_data.nr, at offset 0.
            op(LD_W_ABS, 0, 0, 0),
            op(JGE_K, 0, 1, X32_SYSCALL_BIT),
            op(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32),
            op(RET_K, 0, 0, RET_ALLOW),
        ]
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_filters_compile_for_this_machine() {
            let all = filters().unwrap();
            let (sockets, denied) = (&all[0], &all[1]);
            assert!(!sockets.is_empty());
            // One comparison (or more) per refused call, beyond the architecture check.
            assert!(denied.len() > super::denied().len(), "{}", denied.len());
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod other {
    use std::path::Path;

    use super::Sandbox;

    /// No sandbox can be prepared here.
    #[derive(Debug)]
    pub(in super::super) enum Prepared {}

    impl Prepared {
        pub(in super::super) fn summary(&self) -> String {
            match *self {}
        }
    }

    pub(in super::super) fn confine(_: &mut tokio::process::Command, prepared: Prepared) {
        match prepared {}
    }

    pub(in super::super) fn prepare(
        _: &Sandbox,
        _: &Path,
        _: &Path,
        _: bool,
    ) -> Result<Prepared, String> {
        Err("`sandbox = true` needs Linux (Landlock and seccomp)".to_owned())
    }
}
