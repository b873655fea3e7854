//! A small TCP proxy in front of a real store that fails the first N
//! connections: a 503 answer, a dropped connection, or a response cut off
//! mid-body with a reset. Everything after that passes through untouched.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answer `503 Service Unavailable` (after reading the request).
    Unavailable,
    /// Close the connection without answering.
    Drop,
    /// Forward the request, then reset the connection part-way through the
    /// response body.
    ResetMidBody,
    /// Read the request and never answer (a store that hangs).
    Hang,
}

pub struct Proxy {
    pub url: String,
    faults_left: Arc<AtomicUsize>,
}

impl Proxy {
    /// Answers `503` to every connection for `window`, then passes through.
    pub fn outage(upstream: &str, window: std::time::Duration) -> Self {
        let until = std::time::Instant::now() + window;
        Self::serve(upstream, move |client, upstream| {
            if std::time::Instant::now() < until {
                inject(client, upstream, Fault::Unavailable);
            } else {
                pass(client, upstream, None);
            }
        })
    }

    /// Passes everything through, sending at most `rate` bytes per second
    /// towards the store (uploads become slow; answers are not delayed).
    pub fn throttled(upstream: &str, rate: usize) -> Self {
        Self::serve(upstream, move |client, upstream| {
            pass(client, upstream, Some(rate))
        })
    }

    fn serve(
        upstream: &str,
        handle: impl Fn(TcpStream, &str) + Send + Sync + Clone + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let upstream = upstream.clone();
                let handle = handle.clone();
                std::thread::spawn(move || handle(client, &upstream));
            }
        });
        Self {
            url,
            faults_left: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn start(upstream: &str, fault: Fault, count: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let faults_left = Arc::new(AtomicUsize::new(count));
        let left = faults_left.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let faulty = left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    if faulty {
                        inject(client, &upstream, fault);
                    } else {
                        pass(client, &upstream, None);
                    }
                });
            }
        });
        Self { url, faults_left }
    }

    pub fn faults_left(&self) -> usize {
        self.faults_left.load(Ordering::SeqCst)
    }
}

/// Reads one request (head and Content-Length body) from the client.
fn read_request(client: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    data
}

fn reset(stream: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ =
        nix::sys::socket::setsockopt(&stream.as_fd(), nix::sys::socket::sockopt::Linger, &linger);
}

fn inject(mut client: TcpStream, upstream: &str, fault: Fault) {
    match fault {
        Fault::Unavailable => {
            read_request(&mut client);
            let _ = client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Drop => {
            read_request(&mut client);
            reset(&client);
        }
        Fault::Hang => {
            read_request(&mut client);
            std::thread::sleep(std::time::Duration::from_secs(120));
        }
        Fault::ResetMidBody => {
            let request = read_request(&mut client);
            let Ok(mut server) = TcpStream::connect(upstream) else {
                return;
            };
            let _ = server.write_all(&request);
            // Forward the head and a little of the body, then reset.
            let mut sent = 0;
            let mut buf = [0u8; 4096];
            let mut head_seen = Vec::new();
            while let Ok(n) = server.read(&mut buf) {
                if n == 0 {
                    break;
                }
                head_seen.extend_from_slice(&buf[..n]);
                let body_start = head_seen.windows(4).position(|w| w == b"\r\n\r\n");
                let limit = body_start.map_or(usize::MAX, |p| p + 4 + 512);
                let take = n.min(limit.saturating_sub(sent));
                let _ = client.write_all(&buf[..take]);
                sent += take;
                if sent >= limit {
                    break;
                }
            }
            reset(&client);
        }
    }
}

fn pass(client: TcpStream, upstream: &str, rate: Option<usize>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        match rate {
            None => {
                let _ = std::io::copy(&mut c_read, &mut s_write);
            }
            Some(rate) => {
                // Ten slices a second, each a tenth of the rate.
                let mut buf = vec![0u8; (rate / 10).max(1)];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let _ = std::io::copy(&mut s_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
}
