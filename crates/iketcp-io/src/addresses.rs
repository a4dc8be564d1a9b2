//! The host's addresses, watched through rtnetlink as `ip monitor address` does: each
//! change reaches the node as the whole list ([`iketcp_node::Input::Addresses`]), and
//! MOBIKE moves the IKE SAs whose address went away (RFC 4555, R-MOB-1).

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::MulticastGroup;
use rtnetlink::packet_route::address::AddressAttribute;
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::driver::Io;

/// Events often come in bursts (an address removed, another added): the list is read
/// once they settle.
const SETTLE: Duration = Duration::from_millis(100);

/// Every address of the host now.
async fn current(handle: &rtnetlink::Handle) -> io::Result<BTreeSet<IpAddr>> {
    let mut out = BTreeSet::new();
    let mut s = handle.address().get().execute();
    while let Some(m) = s.try_next().await.map_err(io::Error::other)? {
        for a in m.attributes {
            if let AddressAttribute::Address(ip) | AddressAttribute::Local(ip) = a {
                out.insert(ip);
            }
        }
    }
    Ok(out)
}

/// Watches the addresses and sends each new list to `tx` until it closes.
pub(crate) async fn watch(tx: mpsc::UnboundedSender<Io>) -> io::Result<()> {
    let (conn, handle, mut events) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    let task = tokio::spawn(conn);
    let mut last = current(&handle).await?;
    debug!("watching addresses: {last:?}");
    while events.next().await.is_some() {
        tokio::time::sleep(SETTLE).await;
        // Whatever else arrived meanwhile is covered by one fresh read.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, events.next()).await {}
        let now = match current(&handle).await {
            Ok(a) => a,
            Err(e) => {
                debug!("reading addresses: {e}");
                continue;
            }
        };
        if now != last {
            let gone: Vec<_> = last.difference(&now).collect();
            let new: Vec<_> = now.difference(&last).collect();
            info!("addresses changed: gone {gone:?}, new {new:?}");
            last = now;
            if tx
                .send(Io::Addresses(last.iter().copied().collect()))
                .is_err()
            {
                break;
            }
        }
    }
    task.abort();
    Ok(())
}
