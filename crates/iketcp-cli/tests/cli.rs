//! The CLI as a user meets it without a daemon: a one-line error and exit code 3; bad
//! usage is exit code 2. With a daemon: `crates/iketcpd/tests/daemon.rs`.

use std::process::Command;

fn iketcp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_iketcp"))
        .args(args)
        .output()
        .expect("iketcp runs")
}

#[test]
fn no_daemon_is_one_line_and_exit_code_3() {
    for cmd in [&["status"][..], &["up", "office"], &["version"]] {
        let mut args = vec!["--socket", "/nonexistent/iketcpd.sock"];
        args.extend_from_slice(cmd);
        let out = iketcp(&args);
        assert_eq!(out.status.code(), Some(3), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("iketcp: cannot reach iketcpd at /nonexistent/iketcpd.sock"),
            "{err}"
        );
    }
}

#[test]
fn bad_usage_is_exit_code_2() {
    assert_eq!(iketcp(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(iketcp(&["up"]).status.code(), Some(2));
    let help = iketcp(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for sub in ["status", "up", "down", "reload", "keys", "version"] {
        assert!(text.contains(sub), "{text}");
    }
}
