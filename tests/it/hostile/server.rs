//! A scripted HTTP server (object_store style): a queue of canned raw
//! responses served over real TCP on 127.0.0.1:0, one per request, each on
//! its own connection. It answers whatever a test needs, including what no
//! real server should send: redirects, truncated bodies, resets mid-body.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to do after writing a canned answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Close the connection cleanly.
    Close,
    /// Reset it (RST): the client sees a broken connection.
    Reset,
}

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub bytes: Vec<u8>,
    pub after: After,
}

impl Canned {
    /// A complete answer: status line, headers (plus `Content-Length` and
    /// `Connection: close`), body.
    pub fn http(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut head = format!("HTTP/1.1 {status}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Canned {
            bytes,
            after: After::Close,
        }
    }

    /// An empty `200 OK` as COS sends it (with its request id).
    pub fn ok() -> Self {
        Canned::http("200 OK", &[("x-cos-request-id", "scripted-ok")], b"")
    }

    /// Exactly these bytes, then `after`.
    pub fn raw(bytes: Vec<u8>, after: After) -> Self {
        Canned { bytes, after }
    }

    /// A COS error document.
    pub fn cos_error(status: &str, code: &str, message: &str) -> Self {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message><RequestId>req-1</RequestId></Error>"
        );
        Canned::http(
            status,
            &[
                ("Content-Type", "application/xml"),
                ("x-cos-request-id", "req-1"),
            ],
            body.as_bytes(),
        )
    }
}

/// The running server.
pub struct ScriptedServer {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Canned>>>,
    received: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    pub async fn start(script: Vec<Canned>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(serve(listener, script.clone(), received.clone()));
        ScriptedServer {
            addr,
            script,
            received,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request heads received, in order.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().clone()
    }

    /// Canned answers not yet served.
    pub fn unused(&self) -> usize {
        self.script.lock().len()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    script: Arc<Mutex<VecDeque<Canned>>>,
    received: Arc<Mutex<Vec<String>>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (script, received) = (script.clone(), received.clone());
        tokio::spawn(async move {
            answer(stream, script, received).await;
        });
    }
}

/// Reads one request, answers it with the next canned answer (a 500 when
/// the script is used up), then closes or resets.
async fn answer(
    mut stream: TcpStream,
    script: Arc<Mutex<VecDeque<Canned>>>,
    received: Arc<Mutex<Vec<String>>>,
) {
    let Some(head) = read_request(&mut stream).await else {
        return;
    };
    received.lock().push(head);
    let canned = script.lock().pop_front().unwrap_or_else(|| {
        Canned::http(
            "500 Script Exhausted",
            &[],
            b"the test script has no more answers",
        )
    });
    // The client may hang up first (a body over its cap): not an error.
    let _ = stream.write_all(&canned.bytes).await;
    match canned.after {
        After::Close => {
            let _ = stream.shutdown().await;
        }
        After::Reset => {
            let _ = stream.set_zero_linger();
        }
    }
}

/// The request head, after reading its body (by `Content-Length`).
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = bytes.len() - end;
    while body < length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        body += n;
    }
    Some(head)
}
