//! The tunnel device: IP packets the host routes into it go to the node, which protects
//! them with the Child SA their addresses select; packets that come out of a Child SA
//! go back into it. The device is made when the driver starts and goes with it (a TUN
//! device disappears when its descriptor closes, and its routes with it).

use std::net::IpAddr;

/// A TUN device and the subnets routed into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    pub name: String,
    /// Our inner addresses (at most one IPv4 and one IPv6) and their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// The inner MTU of Child SAs over UDP: the ESP layer's own overhead comes out of
    /// the path's; 1400 is safe over a 1500-byte path.
    pub mtu: u16,
    /// The inner MTU of Child SAs over a stream: the maximum message length less ESP's
    /// overhead (R-ESP-5). The device takes the larger of the two; each route its own.
    pub stream_mtu: u16,
    /// Subnets always sent into the device (besides each Child SA's, while it lives).
    pub routes: Vec<(IpAddr, u8)>,
}

impl TunConfig {
    /// The device's MTU: room for the largest inner packet of either transport.
    pub fn device_mtu(&self) -> u16 {
        self.mtu.max(self.stream_mtu)
    }
}

/// Opens the device and gives it its address; routes are set by [`crate::routes`].
pub fn open(cfg: &TunConfig) -> std::io::Result<tun_rs::AsyncDevice> {
    let b = tun_rs::DeviceBuilder::new()
        .name(cfg.name.clone())
        .mtu(cfg.device_mtu())
        // GSO/GRO through the virtio header: a whole TCP send per read, coalesced
        // writes; the per-packet system calls are what limits a userspace tunnel.
        .offload(true);
    let b = cfg.addresses.iter().fold(b, |b, &(a, prefix)| match a {
        IpAddr::V4(a) => b.ipv4(a, prefix, None),
        IpAddr::V6(a) => b.ipv6(a, prefix),
    });
    b.build_async()
}
