//! The configuration file of `iketcpd`: TOML with names an operator of strongSwan or
//! libreswan recognises, checked with errors that name the file, line and key, and
//! turned into the settings of the engine, the node and the driver.
//!
//! ```no_run
//! let config = iketcp_config::Config::load("/etc/iketcp/iketcpd.toml")?;
//! let runtime = config.runtime();
//! // runtime.endpoint, runtime.peers -> iketcp_proto::Endpoint::new
//! // runtime.node -> iketcp_node::Node::new, runtime.driver -> iketcp_io::Driver::bind
//! // runtime.start: the connections to initiate
//! # Ok::<(), iketcp_config::ConfigError>(())
//! ```
//!
//! `docs/configuration.md` lists every key with its default and the matching
//! `ipsec.conf` and `swanctl.conf` settings.

mod address;
mod config;
mod duration;
mod error;
mod identity;
pub mod proposal;
mod reload;
mod runtime;
mod schema;
mod secret;
mod tun;
mod wrap;

pub use config::{
    Config, Connection, DEFAULT_CONTROL_SOCKET, DEFAULT_IKE_PORT, DEFAULT_NATT_PORT, Daemon,
    lifetime,
};
pub use duration::parse_duration;
pub use error::ConfigError;
pub use reload::Changes;
pub use runtime::Runtime;
pub use schema::Start;
pub use secret::{EnvLookup, process_env};
pub use tun::TunSettings;
pub use wrap::{StreamWrap, TlsClient};
