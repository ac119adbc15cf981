//! Plugins in their own process: the host starts the executable, shakes hands, asks what it
//! is and checks the answer — and refuses, with the reason, whatever is not a plugin.

use std::path::PathBuf;
use std::time::Duration;

use flovyn_server::host::process::ProcessSpec;

/// `hello-plugin`, the `hello` example built as a plugin process (a `[[bin]]` of the `hello`
/// package).
fn hello_plugin() -> PathBuf {
    crate::support::process::plugin_executable("hello-plugin")
}

fn spec(name: &str, command: PathBuf, args: &[&str]) -> ProcessSpec {
    let mut spec = ProcessSpec::new(name, command);
    spec.args = args.iter().map(|s| (*s).to_owned()).collect();
    spec
}

fn sh(script: &str) -> ProcessSpec {
    spec("hello", "/bin/sh".into(), &["-c", script])
}

/// Whether a process with this id still exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z'))
    })
}

async fn wait_gone(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `script` run by `sh` after it wrote its pid into a file; then that pid, once the test is
/// done with the process, must be gone.
struct Scripted {
    spec: ProcessSpec,
    pid_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Scripted {
    fn new(script: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let spec = sh(&format!("echo $$ > {}; {script}", pid_file.display()));
        Self {
            spec,
            pid_file,
            _dir: dir,
        }
    }

    async fn assert_gone(&self) {
        let pid: u32 = std::fs::read_to_string(&self.pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_gone(pid).await;
    }
}

#[tokio::test]
async fn a_plugin_process_describes_itself_as_the_linked_plugin_does() {
    let process = spec("hello", hello_plugin(), &[]).start().await.unwrap();
    let linked = flovyn_sdk::host::registry::find("hello")
        .unwrap()
        .descriptor();
    assert_eq!(
        &process.descriptor, linked,
        "the same plugin source, either way"
    );
    assert_eq!(process.protocol_version, 1);
    let pid = process.id().unwrap();
    assert!(alive(pid));
    process.stop(Duration::from_secs(5)).await;
    wait_gone(pid).await;
}

#[tokio::test]
async fn a_process_describing_another_plugin_is_refused() {
    let err = spec("bookmarks", hello_plugin(), &[])
        .start()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("was refused: it describes plugin `hello`, not `bookmarks`"),
        "{err}"
    );
}

/// One line of `/proc/<pid>/limits`, e.g. `Max open files  64  64  files`: (soft, hard).
fn limit_of(pid: u32, name: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no `{name}` in {limits}"));
    let values: Vec<&str> = line[name.len()..].split_whitespace().collect();
    (values[0].to_owned(), values[1].to_owned())
}

#[tokio::test]
async fn the_configured_resource_limits_hold_in_the_plugin_process() {
    let mut limited = spec("hello", hello_plugin(), &[]);
    limited.limits.open_files = Some(64);
    limited.limits.memory_bytes = Some(512 * 1024 * 1024);
    let process = limited.start().await.unwrap();
    let pid = process.id().unwrap();
    assert_eq!(limit_of(pid, "Max open files"), ("64".into(), "64".into()));
    let bytes = (512_u64 * 1024 * 1024).to_string();
    assert_eq!(limit_of(pid, "Max address space"), (bytes.clone(), bytes));
    // It still serves: the limits leave room for a plugin.
    assert_eq!(process.descriptor.name, "hello");
    process.stop(Duration::from_secs(5)).await;
    wait_gone(pid).await;
}

#[test]
fn resource_limits_are_configured_per_plugin_and_checked() {
    use crate::support::process::run;
    let dir = tempfile::tempdir().unwrap();
    process_config(dir.path(), &hello_plugin(), "max_open_files = 0\n");
    let output = run(dir.path(), &["serve"], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("key `plugins.hello.max_open_files`: expected a positive number, found `0`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_descriptor_breaking_a_naming_rule_is_refused_with_the_rule() {
    let err = spec(
        "remote-probe",
        crate::support::process::plugin_executable("misnamed-plugin"),
        &[],
    )
    .start()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("plugin `remote-probe`")
            && err.contains("its descriptor breaks the naming rules")
            && err.contains("table `tokens` must be named `p_remote_probe__tokens`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_handshake_with_no_common_protocol_version_is_refused() {
    let future = Scripted::new("echo '1|9|unix|/nowhere.sock|grpc'; exec sleep 30");
    let err = future.spec.start().await.unwrap_err().to_string();
    assert!(err.contains("was refused:"), "{err}");
    assert!(err.contains('9') && err.contains("version"), "{err}");
    future.assert_gone().await;
}

#[tokio::test]
async fn garbage_on_stdout_is_refused_and_the_process_killed() {
    let chatty = Scripted::new("echo 'Listening on port 8080'; exec sleep 30");
    let err = chatty.spec.start().await.unwrap_err().to_string();
    assert!(
        err.contains("was refused: the plugin's first line is not a handshake"),
        "{err}"
    );
    assert!(err.contains("`Listening on port 8080`"), "{err}");
    chatty.assert_gone().await;
}

#[tokio::test]
async fn no_handshake_in_time_is_refused_and_the_process_killed() {
    let mut slow = Scripted::new("exec sleep 30");
    slow.spec.start_timeout = Duration::from_millis(500);
    let err = slow.spec.start().await.unwrap_err().to_string();
    assert!(
        err.contains("no handshake and description within 500ms"),
        "{err}"
    );
    slow.assert_gone().await;
}

#[tokio::test]
async fn a_process_that_exits_first_is_refused_with_its_status() {
    let err = sh("exit 3").start().await.unwrap_err().to_string();
    assert!(
        err.contains("it exited before the handshake (exit status: 3)"),
        "{err}"
    );
    let err = spec("hello", "/nonexistent/plugin".into(), &[])
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot start it"), "{err}");
}

#[tokio::test]
async fn the_process_gets_only_the_handshakes_environment() {
    // The "address" it prints is the list of its environment's variable names, each with a
    // space on both sides.
    let err = sh(r#"echo "1|1|unix| $(env | cut -d= -f1 | sort | tr '\n' ' ')|grpc""#)
        .start()
        .await
        .unwrap_err()
        .to_string();
    for expected in [
        "FLOVYN_PLUGIN_MAGIC_COOKIE",
        "FLOVYN_PLUGIN_PROTOCOL_VERSIONS",
        "FLOVYN_PLUGIN_SOCKET_DIR",
    ] {
        assert!(err.contains(&format!(" {expected} ")), "{err}");
    }
    // The test process has these; the plugin must not.
    assert!(std::env::var_os("PATH").is_some());
    for secret in [
        "PATH",
        "HOME",
        "DATABASE_URL",
        "FLOVYN_ADMIN_TOKEN",
        "CARGO",
    ] {
        assert!(
            !err.contains(&format!(" {secret} ")),
            "{secret} leaked: {err}"
        );
    }
}

/// Whether this test runs as root (as CI does).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// Beyond its own environment, a plugin process cannot read the server's:
/// `/proc/<server>/environ` (`DATABASE_URL`, the admin token) is closed to it — the server's
/// memory is closed to processes of its own user, and a server running as root runs the plugin
/// as another user (`user`). Its working directory is its own, not the server's.
#[tokio::test]
async fn the_process_cannot_read_the_servers_environment() {
    let mut spec = sh(
        r#"echo "1|1|unix| uid=$(id -u) cwd=$(pwd) environ=$(cat /proc/$PPID/environ 2>&1 | tr '\0' ' ' | head -c 300)|grpc""#,
    );
    if running_as_root() {
        spec.user = Some("nobody".to_owned());
    }
    let err = spec.start().await.unwrap_err().to_string();
    assert!(std::env::var_os("PATH").is_some());
    assert!(
        !err.contains("PATH="),
        "the server's environment leaked: {err}"
    );
    assert!(err.contains("environ=cat: /proc/"), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    let temp = std::env::temp_dir().join("flovyn-plugin-");
    assert!(
        err.contains(&format!(" cwd={}", temp.display())),
        "its own working directory: {err}"
    );
    if running_as_root() {
        assert!(err.contains(" uid=65534 "), "run as nobody: {err}");
    }

    let mut ghost = sh("exit 0");
    ghost.user = Some("no-such-user-here".to_owned());
    let err = ghost.start().await.unwrap_err().to_string();
    let expected = if running_as_root() {
        "there is no user `no-such-user-here`"
    } else {
        "needs the server to run as root"
    };
    assert!(err.contains(expected), "{err}");
}

#[tokio::test]
async fn started_by_hand_a_plugin_executable_says_what_it_is() {
    let output = std::process::Command::new(hello_plugin()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("this is the Flovyn plugin `hello`: the Flovyn server starts it"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no handshake without the cookie");
}

#[tokio::test]
async fn a_plugin_process_serves_its_routes_behind_the_host() {
    use crate::http::{ADMIN, get, get_as, send};
    use flovyn_server::host::Backend;
    use flovyn_server::host::process::ProcessBackend;

    let dir = tempfile::tempdir().unwrap();
    let mut config = flovyn_server::config::Config::default();
    config.database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("flovyn.db").display()
    );
    config.admin_token = Some(ADMIN.to_owned());
    let backend = ProcessBackend::start(&spec("hello", hello_plugin(), &[]))
        .await
        .unwrap();
    assert_eq!(
        backend.origin(),
        format!("process `{}`", hello_plugin().display())
    );
    let backends: Vec<std::sync::Arc<dyn Backend>> = vec![std::sync::Arc::new(backend)];
    let state = flovyn_server::startup::start_backends(config, backends)
        .await
        .expect("the server starts with a plugin process");
    let app = flovyn_server::router::build_router(state.clone());

    // Served by the process, through the host's whole request path.
    let reply = send(&app, get("/api/v1/p/hello/greeting?name=Ada")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), serde_json::json!({"message": "Hello, Ada!"}));
    // The host authenticates and authorises before forwarding: 401 never reaches the plugin.
    let reply = send(&app, get("/api/v1/p/hello/me")).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    // The caller's identity travels with the request.
    let reply = send(&app, get_as("/api/v1/p/hello/me", ADMIN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({"message": "Hello, admin!"})
    );
    // The host applied the plugin's migration from the descriptor the process sent.
    let applied = flovyn_server::store::migrate::applied(state.db())
        .await
        .unwrap();
    assert!(
        applied
            .iter()
            .any(|m| m.plugin == "hello" && m.name == "create_greetings"),
        "{applied:?}"
    );
    let health = send(&app, get("/_/health")).await.json();
    assert_eq!(health["plugins"][0]["name"], "hello");
}

/// `flovyn.toml` putting the `remote-probe` test plugin out of process, with `extra` keys.
fn remote_probe_config(dir: &std::path::Path, extra: &str) {
    std::fs::write(
        dir.join("flovyn.toml"),
        format!(
            "[plugins.remote-probe]\nmode = \"process\"\ncommand = \"{}\"\n{extra}",
            crate::support::process::plugin_executable("remote-probe-plugin").display()
        ),
    )
    .unwrap();
}

/// `flovyn.toml` putting `hello` out of process.
fn process_config(dir: &std::path::Path, command: &std::path::Path, extra: &str) {
    std::fs::write(
        dir.join("flovyn.toml"),
        format!(
            "[plugins.hello]\nmode = \"process\"\ncommand = \"{}\"\n{extra}",
            command.display()
        ),
    )
    .unwrap();
}

#[test]
fn a_plugin_process_logs_into_the_server_log_with_its_name_and_level() {
    use crate::support::process::Server;
    let dir = tempfile::tempdir().unwrap();
    remote_probe_config(dir.path(), "");
    let output = Server::start(dir.path(), &[("FLOVYN_LOG", "info")]).terminate();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The plugin's `tracing::info!` in its constructor, as the server logs it.
    let line = log
        .lines()
        .find(|l| l.contains("remote-probe is ready"))
        .unwrap_or_else(|| panic!("no line of the plugin's event in:\n{log}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(!line.contains("WARN"), "{line}");
    assert!(line.contains("plugin=remote-probe"), "{line}");
    assert!(line.contains("answers=\"stream, big, wait\""), "{line}");
}

/// The pid of the child process of `parent` whose command is `name` (spawned from any of
/// its threads).
pub(crate) fn child_named(parent: u32, name: &str) -> u32 {
    let tasks = std::fs::read_dir(format!("/proc/{parent}/task")).unwrap();
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
        .unwrap_or_else(|| panic!("no `{name}` child process of {parent}"))
}

/// `handle` in the plugin's section: as frames by default (the Rust SDK offers them), through
/// gRPC `Handle` with `"grpc"` — the same answers either way.
#[test]
fn the_configuration_chooses_how_requests_reach_the_process() {
    use crate::support::process::{Server, get};
    const ADMIN: &str = "process-admin-token-0123456789abcdef";
    let auth = format!("Bearer {ADMIN}");
    for (extra, expected) in [
        ("", "frames"),
        ("handle = \"frames\"\n", "frames"),
        ("handle = \"grpc\"\n", "grpc"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        process_config(dir.path(), &hello_plugin(), extra);
        let server = Server::start(dir.path(), &[("FLOVYN_ADMIN_TOKEN", ADMIN)]);
        let reply = get(server.addr, "/api/v1/p/hello/greeting?name=Ada", &[]).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json(), serde_json::json!({"message": "Hello, Ada!"}));
        let listed = get(
            server.addr,
            "/_/plugins",
            &[("Authorization", auth.as_str())],
        )
        .unwrap()
        .json();
        let hello = listed
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "hello"))
            .unwrap_or_else(|| panic!("hello is not listed: {listed}"));
        assert_eq!(hello["process"]["handle"], expected, "{extra}: {hello}");
    }
}

#[test]
fn a_plugin_process_does_not_outlive_a_killed_server() {
    use crate::support::process::{Server, get};
    let dir = tempfile::tempdir().unwrap();
    process_config(dir.path(), &hello_plugin(), "");
    let mut server = Server::start(dir.path(), &[]);
    let reply = get(server.addr, "/api/v1/p/hello/greeting", &[]).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let child = child_named(server.child.id(), "hello-plugin");
    // Its working directory is the private one holding the two sockets.
    let sockets = std::fs::read_link(format!("/proc/{child}/cwd")).unwrap();
    assert!(sockets.join("hello.sock").exists(), "{}", sockets.display());
    // No shutdown at all: the plugin notices its stdin closing with the server.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(child) {
        assert!(
            std::time::Instant::now() < deadline,
            "hello-plugin outlived the SIGKILLed server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // And it left nothing behind, though the server could not clean up.
    assert!(!sockets.exists(), "{} is left behind", sockets.display());
}

#[test]
fn the_configuration_runs_a_plugin_as_a_process() {
    use crate::support::process::{Server, get};
    let dir = tempfile::tempdir().unwrap();
    process_config(dir.path(), &hello_plugin(), "");
    let server = Server::start(dir.path(), &[]);
    let reply = get(server.addr, "/api/v1/p/hello/greeting?name=Ada", &[]).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), serde_json::json!({"message": "Hello, Ada!"}));
    // The process is the server's child, and goes with it.
    let child = child_named(server.child.id(), "hello-plugin");
    let output = server.terminate();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(child) {
        assert!(
            std::time::Instant::now() < deadline,
            "hello-plugin outlived the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_refused_plugin_process_stops_start_up_unless_optional() {
    use crate::support::process::{Server, get, run};
    let dir = tempfile::tempdir().unwrap();
    process_config(dir.path(), std::path::Path::new("/bin/false"), "");
    let output = run(dir.path(), &["serve"], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "plugin `hello` (process `/bin/false`) was refused: it exited before the handshake"
        ),
        "{stderr}"
    );

    process_config(
        dir.path(),
        std::path::Path::new("/bin/false"),
        "optional = true\n",
    );
    let server = Server::start(dir.path(), &[]);
    let health = get(server.addr, "/_/health", &[]).unwrap().json();
    let names: Vec<&str> = health["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(!names.contains(&"hello"), "{names:?}");
    assert_eq!(
        get(server.addr, "/api/v1/p/hello/greeting", &[])
            .unwrap()
            .status,
        404
    );
    server.terminate();
}

#[test]
fn process_keys_are_checked_and_named() {
    use crate::support::process::run;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flovyn.toml"),
        "[plugins.hello]\nmode = \"process\"\n",
    )
    .unwrap();
    let output = run(dir.path(), &["serve"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("key `plugins.hello.command` is missing"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("flovyn.toml"),
        "[plugins.hello]\nmode = \"remote\"\n",
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&run(dir.path(), &["serve"], &[]).stderr).into_owned();
    assert!(
        stderr.contains("key `plugins.hello.mode`: expected"),
        "{stderr}"
    );
    for (keys, expected) in [
        (
            "sandbox = \"yes\"",
            "key `plugins.hello.sandbox`: expected `true` or `false`, found `\"yes\"`",
        ),
        (
            "sandbox_read = [\"/usr/share\"]",
            "key `plugins.hello.sandbox_read` needs `sandbox = true` in the same section",
        ),
        (
            "sandbox = true\nsandbox_write = [\"data\"]",
            "key `plugins.hello.sandbox_write`: `data` is not an absolute path",
        ),
        (
            "handle = \"tcp\"",
            "key `plugins.hello.handle`: expected `\"frames\"` or `\"grpc\"`, found `\"tcp\"`",
        ),
    ] {
        process_config(dir.path(), &hello_plugin(), &format!("{keys}\n"));
        let output = run(dir.path(), &["serve"], &[]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{keys}: {stderr}");
    }
}

/// What a shell plugin process reaches, as the "address" of its handshake line: a secret file
/// outside its directory, a file written outside it, its own directory, a TCP connection to
/// `port`, a signal to the server, and its network namespace.
fn probe_script(secret: &std::path::Path, outside: &std::path::Path, port: u16) -> String {
    format!(
        r#"probe() {{ "$@" 2>&1 | tr -d '\n|'; }}
secret=$(probe cat {secret})
outside=$(probe sh -c 'echo x > {outside}/written && echo wrote')
own=$(probe sh -c 'echo mine > ./own && cat ./own')
tcp=$(probe /usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.1", {port})); print("connected")')
signal=$(probe sh -c "kill -0 $PPID && echo signalled")
net=$(probe readlink /proc/self/ns/net)
echo "1|1|unix| secret=[$secret] outside=[$outside] own=[$own] tcp=[$tcp] signal=[$signal] net=[$net] |grpc""#,
        secret = secret.display(),
        outside = outside.display(),
    )
}

/// `sandbox = true` (decision 0020): the same script that reads a secret, writes outside its
/// directory, connects over TCP and signals the server unsandboxed is refused each of these
/// sandboxed — and still works in its own directory.
#[tokio::test]
async fn a_sandboxed_process_reaches_only_its_own_directory_and_no_network() {
    use flovyn_server::host::process::Sandbox;
    let files = tempfile::tempdir().unwrap();
    let secret = files.path().join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = probe_script(&secret, outside.path(), port);
    // The script's `kill -0 $PPID` signals the process that started it: this test's.
    let own_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let own_net = own_net.display().to_string();

    let free = sh(&script).start().await.unwrap_err().to_string();
    assert!(free.contains("secret=[s3cret]"), "{free}");
    assert!(free.contains("outside=[wrote]"), "{free}");
    assert!(free.contains("own=[mine]"), "{free}");
    assert!(free.contains("tcp=[connected]"), "{free}");
    assert!(free.contains("signal=[signalled]"), "{free}");
    assert!(free.contains(&format!("net=[{own_net}]")), "{free}");
    assert!(outside.path().join("written").exists());
    std::fs::remove_file(outside.path().join("written")).unwrap();

    let mut spec = sh(&script);
    spec.sandbox = Some(Sandbox::default());
    let boxed = spec.start().await.unwrap_err().to_string();
    assert!(
        boxed.contains("secret=[cat: ") && boxed.contains("Permission denied] outside"),
        "{boxed}"
    );
    assert!(!boxed.contains("s3cret"), "{boxed}");
    assert!(boxed.contains("Permission denied] own=[mine]"), "{boxed}");
    assert!(!outside.path().join("written").exists());
    assert!(
        boxed.contains("Address family not supported by protocol"),
        "{boxed}"
    );
    assert!(!boxed.contains("connected"), "{boxed}");
    assert!(boxed.contains("Operation not permitted] net="), "{boxed}");
    assert!(!boxed.contains("signalled"), "{boxed}");
    if running_as_root() {
        assert!(!boxed.contains(&format!("net=[{own_net}]")), "{boxed}");
        assert!(boxed.contains("net=[net:["), "{boxed}");
    }

    // What the operator grants is reachable: the secret's directory, read only.
    let mut spec = sh(&script);
    spec.sandbox = Some(Sandbox {
        read: vec![files.path().to_path_buf()],
        write: Vec::new(),
    });
    let granted = spec.start().await.unwrap_err().to_string();
    assert!(granted.contains("secret=[s3cret]"), "{granted}");
    assert!(!granted.contains("outside=[wrote]"), "{granted}");

    // A script whose interpreter is outside what the sandbox reads does not start, and the
    // refusal says where to look.
    let interpreters = tempfile::tempdir().unwrap();
    let shell = interpreters.path().join("own-sh");
    std::fs::copy("/bin/sh", &shell).unwrap();
    let script = files.path().join("plugin.sh");
    std::fs::write(&script, format!("#!{}\nexit 0\n", shell.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut scripted = self::spec("hello", script.clone(), &[]);
    scripted.sandbox = Some(Sandbox::default());
    let err = scripted.start().await.unwrap_err().to_string();
    assert!(
        err.contains("cannot start it: Permission denied")
            && err.contains("the interpreter it names, must be under the system's directories or in `sandbox_read`"),
        "{err}"
    );

    // A path that does not exist is named, and nothing starts.
    let mut spec = sh("exit 0");
    spec.sandbox = Some(Sandbox {
        read: vec!["/no/such/place".into()],
        write: Vec::new(),
    });
    let err = spec.start().await.unwrap_err().to_string();
    assert!(
        err.contains("no sandbox: `sandbox_read` names `/no/such/place`, which does not exist"),
        "{err}"
    );
    drop(listener);
}

/// A real plugin runs sandboxed through the configuration: its routes answer, its rows go
/// through the host's storage, and the kernel holds it (seccomp, no new privileges, its own
/// network namespace when the server runs as root).
#[test]
fn a_sandboxed_plugin_process_serves_and_stores_through_the_host() {
    use crate::http::ADMIN;
    use crate::support::process::{Server, get, request};
    let dir = tempfile::tempdir().unwrap();
    remote_probe_config(dir.path(), "sandbox = true\n");
    let server = Server::start(dir.path(), &[("FLOVYN_ADMIN_TOKEN", ADMIN)]);
    let auth = format!("Bearer {ADMIN}");
    let reply = request(
        server.addr,
        "POST",
        "/api/v1/p/remote-probe/ticks",
        &[("authorization", &auth)],
        "",
    )
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), serde_json::json!({"count": 1}));
    let reply = get(server.addr, "/api/v1/p/remote-probe/ticks?source=api", &[]).unwrap();
    assert_eq!(reply.json(), serde_json::json!({"count": 1}));

    let child = child_named(server.child.id(), "remote-probe-pl");
    let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    assert_eq!(field("Seccomp:"), "2", "filter mode: {status}");
    // Sockets, the deny list, `clone3`, and (x86_64) the x32 calls.
    let filters = if cfg!(target_arch = "x86_64") {
        "4"
    } else {
        "3"
    };
    assert_eq!(field("Seccomp_filters:"), filters, "{status}");
    let server_net = std::fs::read_link(format!("/proc/{}/ns/net", server.child.id())).unwrap();
    let plugin_net = std::fs::read_link(format!("/proc/{child}/ns/net")).unwrap();
    assert_eq!(server_net != plugin_net, running_as_root());
    let output = server.terminate();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
}

/// Out of process, a plugin's `#[middleware]` runs in its process around its own routes: in
/// order (priority), each only on its scope, with the caller the host authenticated.
#[test]
fn a_plugin_process_applies_its_own_middleware_to_its_routes() {
    use crate::http::ADMIN;
    use crate::support::process::{Server, get};
    let dir = tempfile::tempdir().unwrap();
    remote_probe_config(dir.path(), "");
    let server = Server::start(dir.path(), &[("FLOVYN_ADMIN_TOKEN", ADMIN)]);
    let marks = |path: &str, headers: &[(&str, &str)]| {
        let reply = get(server.addr, path, headers).unwrap();
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        (
            reply.header("x-remote-probe-middleware").map(str::to_owned),
            reply.header("x-remote-probe-caller").map(str::to_owned),
        )
    };
    assert_eq!(
        marks("/api/v1/p/remote-probe/now", &[]),
        (Some("stamp".to_owned()), None)
    );
    // `ticks_only` (priority 200) inside `stamp` (100): it marks the response first.
    assert_eq!(
        marks("/api/v1/p/remote-probe/ticks?source=api", &[]),
        (Some("ticks_only,stamp".to_owned()), None)
    );
    let auth = format!("Bearer {ADMIN}");
    assert_eq!(
        marks("/api/v1/p/remote-probe/whoami", &[("authorization", &auth)]),
        (Some("stamp".to_owned()), Some("admin".to_owned()))
    );
    // Not the server's routes, nor another plugin's.
    let health = get(server.addr, "/_/health", &[]).unwrap();
    assert_eq!(health.header("x-remote-probe-middleware"), None);
    let greeting = get(server.addr, "/api/v1/p/hello/greeting", &[]).unwrap();
    assert_eq!(greeting.status, 200, "{}", greeting.body);
    assert_eq!(greeting.header("x-remote-probe-middleware"), None);
}

/// A plugin process's middleware scoped beyond its prefix is refused at start-up, even with
/// `global_middleware = true`: the process sees only its own routes' requests.
#[test]
fn a_plugin_process_with_middleware_beyond_its_prefix_is_refused() {
    use flovyn_server::host::Backend;
    use flovyn_server::host::process::ProcessBackend;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let backend = runtime
        .block_on(ProcessBackend::start(&ProcessSpec::new(
            "remote-probe",
            crate::support::process::plugin_executable("remote-probe-plugin"),
        )))
        .unwrap();
    let descriptor = backend.descriptor();
    // The same plugin, as if one of its middleware reached for every API request.
    let mut global = descriptor.clone();
    global.middleware[1].paths = vec!["/api/v1/*".to_owned()];
    #[derive(Debug)]
    struct Wider(ProcessBackend, &'static flovyn_sdk::PluginDescriptor);
    impl Backend for Wider {
        fn descriptor(&self) -> &'static flovyn_sdk::PluginDescriptor {
            self.1
        }
        fn origin(&self) -> String {
            self.0.origin()
        }
        fn check_config(&self, section: &serde_json::Value) -> Result<(), String> {
            self.0.check_config(section)
        }
        fn applies_middleware(&self) -> bool {
            self.0.applies_middleware()
        }
        fn start(
            &self,
            context: flovyn_sdk::PluginContext,
        ) -> flovyn_sdk::BoxFuture<
            'static,
            Result<std::sync::Arc<dyn flovyn_sdk::host::PluginInstance>, flovyn_sdk::PluginError>,
        > {
            self.0.start(context)
        }
    }
    let mut config = flovyn_server::config::Config::default();
    config.plugins.insert(
        "remote-probe".to_owned(),
        serde_json::json!({"global_middleware": true}),
    );
    // Linked, the operator's consent is enough.
    assert!(
        flovyn_server::startup::plan(&[Box::leak(Box::new(global.clone()))], &config, &|_, _| Ok(
            ()
        ))
        .is_ok()
    );
    let backends: Vec<std::sync::Arc<dyn Backend>> = vec![std::sync::Arc::new(Wider(
        backend,
        Box::leak(Box::new(global)),
    ))];
    let err = flovyn_server::startup::plan_backends(&backends, &config)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "plugin `remote-probe` runs in its own process, and its middleware `ticks_only` for `/api/v1/*` reaches beyond its prefix `/api/v1/p/remote-probe/`: a process applies middleware to its own routes only; run the plugin linked, or disable it"
    );
}
