//! The listener's limits, seen from a raw TCP client: a client that is slow to send its
//! headers, sends nothing, or idles on a keep-alive connection is closed at the header-read
//! timeout; connections beyond the cap wait; after the stop, a keep-alive client is told
//! `Connection: close` on its next response instead of finding its connection gone.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http::{Db, Fixture, fixture_with};

/// The server of `f` (`serve_until`) on a loopback port, until the returned sender is used
/// (or dropped); the handle ends once it has stopped.
pub(crate) async fn listening(
    f: &Fixture,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (router, state) = (f.router.clone(), f.state.clone());
    let server = tokio::spawn(async move {
        let signal = async {
            let _ = stopped.await;
        };
        flovyn_server::cli::serve_until(listener, router, &state, Duration::from_secs(10), signal)
            .await
            .unwrap();
    });
    (addr, stop, server)
}

async fn server_with(adjust: impl FnOnce(&mut flovyn_server::config::Config)) -> Fixture {
    fixture_with(Db::Sqlite, &["hello"], adjust).await.unwrap()
}

const HEALTH: &[u8] = b"GET /_/health HTTP/1.1\r\nhost: test\r\n\r\n";

/// One response's head and body from a keep-alive connection (by `content-length`).
fn read_response(stream: &mut TcpStream) -> std::io::Result<(String, String)> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok((head, String::from_utf8_lossy(&body).into_owned()))
}

/// Blocks until the server closes `stream` (end of file, or reset); how long that took.
fn closed_after(what: &str, stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: not closed within {limit:?}: {e}"),
    }
    assert!(
        !String::from_utf8_lossy(&rest).contains(" 200 "),
        "served: {}",
        String::from_utf8_lossy(&rest)
    );
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_silent_and_idle_clients_are_closed_at_the_header_read_timeout() {
    let f = server_with(|c| c.http.header_read_timeout_secs = 1).await;
    let (addr, stop, server) = listening(&f).await;
    tokio::task::spawn_blocking(move || {
        // Sends nothing.
        let mut silent = TcpStream::connect(addr).unwrap();
        let took = closed_after("silent", &mut silent, Duration::from_secs(10));
        assert!(took >= Duration::from_millis(900), "{took:?}");
        // Sends half its headers.
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /_/health HTTP/1.1\r\nhost: test\r\n")
            .unwrap();
        let took = closed_after("slow", &mut slow, Duration::from_secs(10));
        assert!(took >= Duration::from_millis(900), "{took:?}");
        // Served, then idle.
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.write_all(HEALTH).unwrap();
        let (head, _) = read_response(&mut idle).unwrap();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let took = closed_after("idle", &mut idle, Duration::from_secs(10));
        assert!(took >= Duration::from_millis(900), "{took:?}");
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_one_to_close() {
    let f = server_with(|c| c.http.max_connections = 1).await;
    let (addr, stop, server) = listening(&f).await;
    tokio::task::spawn_blocking(move || {
        let mut first = TcpStream::connect(addr).unwrap();
        first.write_all(HEALTH).unwrap();
        assert!(
            read_response(&mut first)
                .unwrap()
                .0
                .starts_with("http/1.1 200")
        );
        // The second connects (the kernel's backlog) but is not served meanwhile.
        let mut second = TcpStream::connect(addr).unwrap();
        second.write_all(HEALTH).unwrap();
        second
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut byte = [0u8; 1];
        let waited = second.read(&mut byte);
        assert!(
            waited.as_ref().is_err_and(|e| matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )),
            "answered beyond the cap: {waited:?}"
        );
        drop(first);
        second
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (head, _) = read_response(&mut second).unwrap();
        assert!(head.starts_with("http/1.1 200"), "{head}");
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_stop_a_keep_alive_client_is_told_connection_close() {
    let f = server_with(|_| {}).await;
    let (addr, stop, server) = listening(&f).await;
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.write_all(HEALTH).unwrap();
    let (head, _) = read_response(&mut client).unwrap();
    assert!(
        head.starts_with("http/1.1 200") && !head.contains("connection: close"),
        "{head}"
    );

    stop.send(()).unwrap();
    tokio::task::spawn_blocking(move || {
        // Once the listener is closed, the next request on the open connection is still
        // served, and says the connection closes after it.
        let deadline = Instant::now() + Duration::from_millis(800);
        while TcpStream::connect(addr).is_ok() {
            assert!(Instant::now() < deadline, "still accepting after the stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        client.write_all(HEALTH).unwrap();
        let (head, body) = read_response(&mut client).unwrap();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).unwrap(), 0, "closed after it");
    })
    .await
    .unwrap();
    server.await.unwrap();
}

/// What the HTTP parser refuses before any route sees it — a URI too long, headers too
/// large, a request that is not HTTP — is answered like every other error: JSON with the
/// status's code, a content type and a request id (the parser's own answer had no body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_parser_refuses_get_json_errors_with_a_request_id() {
    let f = server_with(|_| {}).await;
    let (addr, stop, server) = listening(&f).await;
    tokio::task::spawn_blocking(move || {
        let long_uri = format!(
            "GET /_/health?x={} HTTP/1.1\r\nhost: test\r\n\r\n",
            "a".repeat(70_000)
        );
        let big_headers = format!(
            "GET /_/health HTTP/1.1\r\nhost: test\r\nx-big: {}\r\n\r\n",
            "b".repeat(600_000)
        );
        for (request, status, code) in [
            (long_uri.into_bytes(), "414", "uri_too_long"),
            (
                big_headers.into_bytes(),
                "431",
                "request_header_fields_too_large",
            ),
            (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), "400", "bad_request"),
        ] {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            // The server may answer (and close) before it has read all of a large request.
            let _ = stream.write_all(&request);
            let (head, body) = read_response(&mut stream).unwrap();
            assert!(head.starts_with(&format!("http/1.1 {status} ")), "{head}");
            assert!(
                head.contains("\r\ncontent-type: application/json\r\n"),
                "{head}"
            );
            assert!(head.contains("\r\nx-request-id: "), "{head}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["error"]["code"], code, "{body}");
            assert!(json["error"]["message"].is_string(), "{body}");
        }
        // An ordinary request on a fresh connection is served as before.
        let mut ok = TcpStream::connect(addr).unwrap();
        ok.write_all(HEALTH).unwrap();
        let (head, _) = read_response(&mut ok).unwrap();
        assert!(head.starts_with("http/1.1 200"), "{head}");
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap();
}
