//! The tunnel device: IP packets the host routes into it go to the node, which protects
//! them with the Child SA their addresses select; packets that come out of a Child SA
//! go back into it. The device and the static routes through it are made when the
//! driver starts and go with it (a TUN device disappears when its descriptor closes).

use std::net::IpAddr;
use std::process::Command;

use tracing::{info, warn};

/// A TUN device and the subnets routed into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    pub name: String,
    /// Our inner address and its prefix length.
    pub address: IpAddr,
    pub prefix: u8,
    /// The ESP layer's own overhead comes out of the path's; 1400 is safe over a
    /// 1500-byte path with UDP encapsulation or a stream (R-ESP-5).
    pub mtu: u16,
    /// Subnets sent into the device: the remote traffic selectors.
    pub routes: Vec<(IpAddr, u8)>,
}

/// Opens the device, gives it its address, and routes `routes` into it.
pub fn open(cfg: &TunConfig) -> std::io::Result<tun_rs::AsyncDevice> {
    let b = tun_rs::DeviceBuilder::new()
        .name(cfg.name.clone())
        .mtu(cfg.mtu);
    let b = match cfg.address {
        IpAddr::V4(a) => b.ipv4(a, cfg.prefix, None),
        IpAddr::V6(a) => b.ipv6(a, cfg.prefix),
    };
    let dev = b.build_async()?;
    for (net, len) in &cfg.routes {
        // iproute2 is on every machine this runs on; a netlink client is the next step.
        let r = Command::new("ip")
            .args([
                "route",
                "replace",
                &format!("{net}/{len}"),
                "dev",
                &cfg.name,
            ])
            .status();
        match r {
            Ok(s) if s.success() => info!("route {net}/{len} into {}", cfg.name),
            other => warn!("route {net}/{len} into {} not set: {other:?}", cfg.name),
        }
    }
    Ok(dev)
}
