//! Helpers shared by the simulator's test modules.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vsphere_client::events::EventFilterSpec;
use vsphere_client::{Client, Event};

/// Every event the filter selects, in pages of 1000; the collector is destroyed after.
pub async fn drain(client: &Client, filter: &EventFilterSpec) -> Vec<Event> {
    let collector = client
        .create_event_collector(filter)
        .await
        .expect("collector");
    let mut out = Vec::new();
    loop {
        let page = collector.read_next(1000).await.expect("ReadNextEvents");
        if page.is_empty() {
            break;
        }
        out.extend(page);
    }
    collector.destroy().await.expect("DestroyCollector");
    out
}

/// One plain HTTP/1.1 request (`headers`: extra lines, each ending in `\r\n`); the status
/// line, the headers and the body of the answer.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (String, String, String) {
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    sock.read_to_string(&mut resp).await.expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_owned(), body.to_owned())
}
