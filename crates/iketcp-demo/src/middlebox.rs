//! The network between the two nodes: a UDP relay that silently drops everything (or
//! forwards it, with `--udp-open`), and a TCP relay that forwards connections and can
//! reset them all, as a firewall that blocks UDP and a flaky path would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the middlebox saw, for the timeline.
#[derive(Debug)]
pub enum Seen {
    UdpDropped(Vec<u8>),
    UdpForwarded,
    TcpAccepted(SocketAddr),
}

struct Relayed {
    /// A second descriptor of the client side, to reset it.
    client: std::net::TcpStream,
    task: JoinHandle<()>,
}

#[derive(Clone)]
pub struct Middlebox {
    relayed: Arc<Mutex<Vec<Relayed>>>,
}

impl Middlebox {
    /// Listens on `at` (UDP and TCP), towards `to`.
    pub async fn start(
        at: SocketAddr,
        to: SocketAddr,
        udp_open: bool,
        seen: mpsc::UnboundedSender<Seen>,
    ) -> std::io::Result<Middlebox> {
        let outside = Arc::new(UdpSocket::bind(at).await?);
        let inside = Arc::new(UdpSocket::bind(SocketAddr::new(at.ip(), 0)).await?);
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        {
            let (outside, inside, client, seen) = (
                outside.clone(),
                inside.clone(),
                client.clone(),
                seen.clone(),
            );
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, from)) = outside.recv_from(&mut buf).await {
                    if !udp_open {
                        let _ = seen.send(Seen::UdpDropped(buf[..n].to_vec()));
                        continue;
                    }
                    *client.lock().expect("lock") = Some(from);
                    let _ = seen.send(Seen::UdpForwarded);
                    let _ = inside.send_to(&buf[..n], to).await;
                }
            });
        }
        {
            let (outside, inside) = (outside.clone(), inside.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, _)) = inside.recv_from(&mut buf).await {
                    let back = *client.lock().expect("lock");
                    if let Some(back) = back {
                        let _ = outside.send_to(&buf[..n], back).await;
                    }
                }
            });
        }
        let listener = TcpListener::bind(at).await?;
        let relayed: Arc<Mutex<Vec<Relayed>>> = Arc::default();
        let list = relayed.clone();
        tokio::spawn(async move {
            while let Ok((c, from)) = listener.accept().await {
                let _ = seen.send(Seen::TcpAccepted(from));
                let Ok(std_c) = c.into_std() else { continue };
                let Ok(keep) = std_c.try_clone() else {
                    continue;
                };
                let Ok(mut c) = TcpStream::from_std(std_c) else {
                    continue;
                };
                let task = tokio::spawn(async move {
                    // From the middlebox's own address, as a NAT would.
                    let Ok(sock) = tokio::net::TcpSocket::new_v4() else {
                        return;
                    };
                    if sock.bind(SocketAddr::new(at.ip(), 0)).is_err() {
                        return;
                    }
                    if let Ok(mut s) = sock.connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
                    }
                });
                list.lock()
                    .expect("lock")
                    .push(Relayed { client: keep, task });
            }
        });
        Ok(Middlebox { relayed })
    }

    /// Resets every relayed connection towards the client (an RST, not a FIN).
    pub async fn reset_all(&self) {
        let all: Vec<Relayed> = std::mem::take(&mut *self.relayed.lock().expect("lock"));
        for r in all {
            let _ = socket2::SockRef::from(&r.client).set_linger(Some(Duration::ZERO));
            r.task.abort();
            let _ = r.task.await;
            // The last descriptor goes: with a zero linger, the kernel sends RST.
            drop(r.client);
        }
    }
}
