//! `startup`: warm start-up time of server binaries, from spawning the process until
//! `GET /_/health` answers 200, on a SQLite file whose migrations are already applied.
//!
//! For each binary: one cold start (applies every migration; reported, not counted), then
//! `--warmup` uncounted warm starts, then `--runs` counted warm starts, the binaries taking
//! turns (A B, B A, A B, …) so that each sees the same machine conditions. Every start is
//! checked: the health body must list the expected number of plugins (the `:N` of
//! `--server LABEL=PATH:N`), so a plugin crate that failed to link is caught. Each server is
//! stopped with SIGTERM (graceful, as an operator would) and waited for before the next start.
//!
//! Prints a table, then one `RESULT` line per binary and one for the ratio, for scripts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// A server binary to measure, as LABEL=PATH[:EXPECTED_PLUGINS]. The ratio of each
    /// other's median to the first's is printed too.
    #[arg(long = "server", required = true, value_parser = parse_server)]
    servers: Vec<Server>,
    /// Counted warm starts per binary.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Uncounted warm starts per binary, after the cold one.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Where the SQLite files and server logs go (a fresh directory per binary is made
    /// inside).
    #[arg(long, default_value = "target/bench/startup")]
    work_dir: PathBuf,
    /// Give up on one start after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

#[derive(Debug, Clone)]
struct Server {
    label: String,
    path: PathBuf,
    expect: Option<usize>,
}

fn parse_server(s: &str) -> Result<Server, String> {
    let (label, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected LABEL=PATH[:EXPECTED_PLUGINS]"))?;
    let (path, expect) = match rest.rsplit_once(':') {
        Some((path, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            (path, Some(n.parse().map_err(|e| format!("`{n}`: {e}"))?))
        }
        _ => (rest, None),
    };
    Ok(Server {
        label: label.to_owned(),
        path: PathBuf::from(path),
        expect,
    })
}

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let mut args = Args::parse();
    for s in &mut args.servers {
        // The servers run in their own directory: a relative path would no longer resolve.
        s.path = s
            .path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", s.path.display()))?;
    }
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut dirs = Vec::new();
    let mut colds = Vec::new();
    for s in &args.servers {
        let dir = args.work_dir.join(&s.label);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        let cold = start_once(s, &dir, timeout)?;
        eprintln!(
            "{}: cold start (applies all migrations) {:.1} ms",
            s.label,
            ms(cold)
        );
        for _ in 0..args.warmup {
            start_once(s, &dir, timeout)?;
        }
        dirs.push(dir);
        colds.push(ms(cold));
    }

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); args.servers.len()];
    for run in 0..args.runs {
        let mut order: Vec<usize> = (0..args.servers.len()).collect();
        if run % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let t = start_once(&args.servers[i], &dirs[i], timeout)?;
            samples[i].push(ms(t));
        }
        eprint!(".");
    }
    eprintln!();

    println!(
        "{:<12} {:>5} {:>10} {:>10} {:>10} {:>10}",
        "server", "runs", "median ms", "p90 ms", "min ms", "max ms"
    );
    let mut medians = Vec::new();
    for ((s, xs), cold) in args.servers.iter().zip(&samples).zip(&colds) {
        let st = Stats::of(xs);
        println!(
            "{:<12} {:>5} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            s.label, st.n, st.median, st.p90, st.min, st.max
        );
        println!(
            "RESULT startup label={} runs={} median_ms={:.2} p90_ms={:.2} min_ms={:.2} max_ms={:.2} cold_ms={cold:.1} samples_ms={}",
            s.label,
            st.n,
            st.median,
            st.p90,
            st.min,
            st.max,
            xs.iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        medians.push(st.median);
    }
    for (i, s) in args.servers.iter().enumerate().skip(1) {
        let ratio = medians[i] / medians[0];
        println!(
            "ratio of medians {} / {}: {ratio:.3}",
            s.label, args.servers[0].label
        );
        println!(
            "RESULT startup_ratio num={} den={} ratio={ratio:.3}",
            s.label, args.servers[0].label
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    n: usize,
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(xs: &[f64]) -> Stats {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        // Nearest rank.
        let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
        Stats {
            n,
            median,
            p90: v[rank - 1],
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// A free loopback port (the small race with another process taking it is acceptable here).
fn free_addr() -> Result<SocketAddr, Error> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Starts `server` once on the database in `dir`; returns the time from spawn until
/// `/_/health` answered 200 (with the expected plugin count), then stops it.
fn start_once(server: &Server, dir: &Path, timeout: Duration) -> Result<Duration, Error> {
    let addr = free_addr()?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut command = Command::new(&server.path);
    command
        .current_dir(dir) // no stray ./flovyn.toml
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("flovyn.db").display()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Only what is set here configures the server: no inherited `FLOVYN_*`.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FLOVYN_") {
            command.env_remove(&key);
        }
    }
    command.env("FLOVYN_LISTEN", addr.to_string());

    let started = Instant::now();
    let mut child = command.spawn()?;
    let result = wait_healthy(&mut child, addr, started, timeout);
    stop(&mut child)?;
    let body = result.map_err(|e| {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        format!("{}: {e}\n--- server log ---\n{log}", server.label)
    })?;
    let took = body.0;
    if let Some(expect) = server.expect {
        let got = body.1.matches("\"version\"").count().saturating_sub(1);
        if got != expect {
            return Err(format!(
                "{}: /_/health lists {got} plugins, expected {expect}: {}",
                server.label, body.1
            )
            .into());
        }
    }
    Ok(took)
}

/// Polls `GET /_/health` until it answers 200; returns (time to 200, body).
fn wait_healthy(
    child: &mut Child,
    addr: SocketAddr,
    started: Instant,
    timeout: Duration,
) -> Result<(Duration, String), Error> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(format!("server exited with {status} before answering").into());
        }
        if started.elapsed() > timeout {
            return Err(format!("no 200 from /_/health within {timeout:?}").into());
        }
        if let Ok(mut stream) = TcpStream::connect(addr) {
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(
                b"GET /_/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            let took = started.elapsed();
            if response.starts_with("HTTP/1.1 200") {
                let body = response
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.to_owned())
                    .unwrap_or_default();
                return Ok((took, body));
            }
        }
        std::thread::sleep(Duration::from_micros(250));
    }
}

/// SIGTERM (the graceful path), then wait; SIGKILL if it takes more than 15 s.
fn stop(child: &mut Child) -> Result<(), Error> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill()?;
    child.wait()?;
    Err("server did not stop within 15 s of SIGTERM".into())
}
