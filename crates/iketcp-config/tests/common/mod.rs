//! Temporary directories and secret files for the tests.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("iketcp-config-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `name` with `contents` and `mode`; returns its path.
    pub fn file(&self, name: &str, contents: &[u8], mode: u32) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, contents).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A connection with every required key and a PSK from `IKETCP_TEST_PSK`, to which a
/// test adds or changes lines.
pub fn connection(name: &str, extra: &str) -> String {
    format!(
        r#"
[[connection]]
name = "{name}"
remote_addrs = ["192.0.2.2"]
local_id = "road.example.net"
remote_id = "vpn.example.net"
auth = "psk"
psk_env = "IKETCP_TEST_PSK"
local_ts = ["10.1.0.0/16"]
remote_ts = ["10.2.0.0/16"]
{extra}"#
    )
}

/// An environment with only `IKETCP_TEST_PSK` set.
pub fn env(name: &str) -> Option<std::ffi::OsString> {
    (name == "IKETCP_TEST_PSK").then(|| "test key".into())
}
