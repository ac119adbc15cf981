//! The merged OpenAPI document and the docs UI, end to end.
//!
//! - `docs/openapi.json` is the committed output of `flovyn-server openapi` for the default
//!   build; an API change without a re-blessed snapshot fails here
//!   (`FLOVYN_BLESS=1 cargo test -p flovyn-server --test server openapi` rewrites it);
//! - the document is valid OpenAPI 3.1, by the reference validator (`openapi-spec-validator`,
//!   Python);
//! - the running server serves it at `/api-docs/openapi.json`, and `/docs` renders every
//!   plugin's tag and operations in headless Chromium, loading nothing from outside the
//!   server.
//!
//! External tools (python3 + openapi-spec-validator, chromium) are required under `CI=true`
//! and skipped with a message otherwise. Every server here is the real binary, spawned on a
//! loopback port in a temporary directory.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{python_imports, required_tool};

const BIN: &str = env!("CARGO_BIN_EXE_flovyn-server");
const BLESS_ENV: &str = "FLOVYN_BLESS";
const VALIDATOR_INSTALL: &str = "python3 -m pip install 'openapi-spec-validator==0.9.0'";
const CHROMIUM_INSTALL: &str = "apt-get install -y chromium";

// ---- the document ----

/// The document of the plugins this build links as a binary: the registry of this test
/// binary filtered to the crates `build.rs` links (tests may define their own plugins).
fn linked_document() -> utoipa::openapi::OpenApi {
    let linked: Vec<_> = flovyn_sdk::host::registry::plugins()
        .into_iter()
        .filter(|p| flovyn_server::linked::EXPECTED_PLUGIN_CRATES.contains(&p.crate_name))
        .map(|p| p.descriptor())
        .collect();
    flovyn_server::api::openapi::merged(linked)
}

fn json_value(doc: &utoipa::openapi::OpenApi) -> Value {
    serde_json::to_value(doc).expect("the document serializes")
}

fn snapshot_path() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("the server crate is in the workspace")
        .join("docs/openapi.json")
}

/// Exactly what `flovyn-server openapi` prints: pretty JSON and a newline.
fn rendered(doc: &utoipa::openapi::OpenApi) -> String {
    format!("{}\n", doc.to_pretty_json().expect("the document renders"))
}

#[test]
fn snapshot_matches_the_api() {
    if !cfg!(feature = "all-plugins") {
        eprintln!("skipped: docs/openapi.json is the snapshot of the default build (all-plugins)");
        return;
    }
    let path = snapshot_path();
    let actual = rendered(&linked_document());
    if std::env::var_os(BLESS_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &actual).expect("write docs/openapi.json");
        eprintln!("blessed {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != actual {
        let difference = committed
            .lines()
            .zip(actual.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| {
                format!(
                    "first difference at line {}:\n  committed: {a}\n  actual:    {b}",
                    i + 1
                )
            })
            .unwrap_or_else(|| {
                format!(
                    "the committed file has {} lines, the API {}",
                    committed.lines().count(),
                    actual.lines().count()
                )
            });
        panic!(
            "the OpenAPI document changed but {} was not updated ({difference}).\n\
             Review the change, then rewrite the snapshot with\n\
             \n    {BLESS_ENV}=1 cargo test -p flovyn-server --test server openapi\n",
            path.display()
        );
    }
}

#[test]
fn cli_prints_the_same_document() {
    let dir = tempfile::tempdir().unwrap();
    let output = server_command(dir.path())
        .arg("openapi")
        .output()
        .expect("run flovyn-server openapi");
    assert!(
        output.status.success(),
        "flovyn-server openapi failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of `flovyn-server openapi` is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(printed, json_value(&linked_document()));
}

#[test]
fn document_is_valid_openapi_3_1() {
    let available = python_imports("openapi_spec_validator");
    if !required_tool(
        "openapi-spec-validator (Python)",
        available,
        VALIDATOR_INSTALL,
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let documents = [
        ("linked plugins", linked_document()),
        (
            "every plugin in the test binary",
            flovyn_server::api::openapi::merged(
                flovyn_sdk::host::registry::plugins()
                    .into_iter()
                    .map(|p| p.descriptor()),
            ),
        ),
    ];
    for (i, (what, doc)) in documents.iter().enumerate() {
        assert_eq!(json_value(doc)["openapi"], "3.1.0", "{what}");
        let file = dir.path().join(format!("openapi-{i}.json"));
        std::fs::write(&file, rendered(doc)).unwrap();
        let output = Command::new("python3")
            .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
            .arg(&file)
            .output()
            .expect("run openapi-spec-validator");
        assert!(
            output.status.success(),
            "the OpenAPI document of the {what} is not valid OpenAPI 3.1:\n{}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            rendered(doc)
        );
    }
}

// ---- the running server ----

#[test]
fn server_serves_the_document_and_the_docs() {
    let server = Server::start();
    let reply = server.get("/api-docs/openapi.json");
    assert_eq!(reply.status, 200, "{reply:?}");
    let served: Value = serde_json::from_str(&reply.body).expect("the served document is JSON");
    assert_eq!(served, json_value(&linked_document()));

    let reply = server.get("/docs");
    assert!((300..400).contains(&reply.status), "GET /docs: {reply:?}");
    assert_eq!(reply.header("location"), Some("/docs/"));

    let reply = server.get("/docs/");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{reply:?}"
    );
    let reply = server.get("/docs/swagger-initializer.js");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.body.contains("\"/api-docs/openapi.json\""),
        "{reply:?}"
    );
}

/// Loads `/docs/` in headless Chromium and checks the rendered page.
///
/// The page is opened as `http://flovyn.test:<port>/docs/`, a name the browser maps to
/// 127.0.0.1 while every other name fails to resolve: Swagger UI behaves differently on
/// `localhost` (it hides its online validator badge there), and this is how a user on
/// another machine sees it. Chromium's network log then shows every request the page made;
/// each must go to the server itself.
#[test]
fn docs_ui_renders_every_plugin_offline() {
    let chromium = std::env::var_os("FLOVYN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !required_tool("chromium", chromium.exists(), CHROMIUM_INSTALL) {
        return;
    }
    let server = Server::start();
    let origin = format!("http://flovyn.test:{}", server.addr.port());
    let profile = tempfile::tempdir().unwrap();
    let dom_file = profile.path().join("dom.html");
    let log_file = profile.path().join("chromium.log");
    let netlog = profile.path().join("netlog.json");

    let started = Instant::now();
    let mut child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-features=AutofillServerCommunication",
            "--host-resolver-rules=MAP flovyn.test 127.0.0.1, MAP * ~NOTFOUND",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("{origin}/docs/"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom_file).unwrap())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .spawn()
        .expect("start chromium");
    let status = wait_with_timeout(&mut child, Duration::from_secs(90));
    eprintln!("chromium rendered /docs/ in {:.1?}", started.elapsed());
    let dom = std::fs::read_to_string(&dom_file).unwrap_or_default();
    let log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "chromium failed ({status:?}):\n{}",
        log()
    );

    // Every plugin's tag and every operation is on the page.
    let doc = json_value(&linked_document());
    assert!(
        dom.contains(r#"class="title">Flovyn"#),
        "no title in the page:\n{dom}"
    );
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tags.contains(&"hello"),
        "the default build documents the hello plugin: {tags:?}"
    );
    for tag in &tags {
        assert!(
            dom.contains(&format!(r#"data-tag="{tag}""#)),
            "tag `{tag}` is not rendered:\n{dom}"
        );
    }
    let paths = doc["paths"].as_object().expect("paths");
    assert!(!paths.is_empty());
    for path in paths.keys() {
        assert!(
            dom.contains(&format!(r#"data-path="{path}""#)),
            "operation path `{path}` is not rendered:\n{dom}"
        );
    }

    // The page loaded everything from the server, the document included.
    let requests = page_requests(&netlog, &origin);
    assert!(
        requests
            .iter()
            .any(|u| *u == format!("{origin}/api-docs/openapi.json")),
        "the page did not fetch the document: {requests:?}"
    );
    let outside: Vec<&String> = requests
        .iter()
        .filter(|u| !u.starts_with(&format!("{origin}/")))
        .collect();
    assert!(
        outside.is_empty(),
        "the docs page requested resources outside the server: {outside:?}"
    );
}

/// The URLs of the requests the page made (the main frame and what it initiated), from
/// Chromium's network log; the browser's own background requests are left out.
fn page_requests(netlog: &Path, origin: &str) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).expect("chromium wrote its network log");
    let log: Value = serde_json::from_str(&text).expect("the network log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    assert!(start_job.is_number(), "unknown network log format");
    let mut urls: Vec<String> = log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == start_job)
        .map(|e| &e["params"])
        .filter(|p| p["request_type"] == "main frame" || p["initiator"] == origin)
        .filter_map(|p| p["url"].as_str().map(str::to_owned))
        .collect();
    urls.sort();
    urls.dedup();
    assert!(!urls.is_empty(), "no page request in the network log");
    urls
}

// ---- helpers ----

/// The server binary with a clean environment (no `FLOVYN_*`, no `DATABASE_URL`) in `dir`.
fn server_command(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env_remove("DATABASE_URL");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FLOVYN_") {
            command.env_remove(key);
        }
    }
    command.env("FLOVYN_LOG", "warn");
    command
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `flovyn-server` binary serving on a loopback port, in a temporary directory (its
/// SQLite database goes there); killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        let log = dir.path().join("server.log");
        let child = server_command(dir.path())
            .args(["serve", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start flovyn-server");
        let mut server = Server {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("flovyn-server exited at start-up ({status}):\n{stderr}");
            }
            if server.try_get("/_/health").is_some_and(|r| r.status == 200) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "flovyn-server did not answer /_/health on {addr} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> Reply {
        self.try_get(path)
            .unwrap_or_else(|| panic!("GET {path}: no HTTP answer from {}", self.addr))
    }

    /// A bare HTTP/1.1 GET (no client library needed for a handful of requests).
    fn try_get(&self, path: &str) -> Option<Reply> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).ok()?;
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut body = raw[split + 4..].to_vec();
        let mut lines = head.lines();
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        if header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            body = dechunk(&body)?;
        }
        Some(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// An HTTP answer: status, headers (names lower-cased) and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}
