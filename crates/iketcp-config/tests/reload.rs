//! A reload keeps what did not change, secrets compared too.

mod common;

use iketcp_config::{Changes, Config};

fn parse(text: &str, key: &'static str) -> Config {
    Config::parse_with_env(text, "r.toml", &move |name| {
        (name == "IKETCP_TEST_PSK").then(|| key.into())
    })
    .unwrap()
}

#[test]
fn added_removed_changed_unchanged() {
    let old = format!(
        "{}{}{}",
        common::connection("a", ""),
        common::connection("b", ""),
        common::connection("c", "")
    );
    let new = format!(
        "{}{}{}",
        common::connection("a", ""),
        common::connection("c", "dpd_delay = \"30s\"\n"),
        common::connection("d", "")
    );
    let changes = parse(&new, "k").changes_from(&parse(&old, "k"));
    assert_eq!(
        changes,
        Changes {
            added: vec!["d".into()],
            removed: vec!["b".into()],
            changed: vec!["c".into()],
            unchanged: vec!["a".into()],
            daemon_changed: false,
        }
    );
}

#[test]
fn a_new_secret_is_a_change() {
    let text = common::connection("a", "");
    let changes = parse(&text, "new key").changes_from(&parse(&text, "old key"));
    assert_eq!(changes.changed, vec!["a".to_owned()]);
    let same = parse(&text, "k").changes_from(&parse(&text, "k"));
    assert_eq!(same.unchanged, vec!["a".to_owned()]);
}

#[test]
fn daemon_changes_are_reported() {
    let old = parse("[daemon]\nlisten_tcp = [4500]\n", "k");
    let new = parse("[daemon]\nlisten_tcp = [4500, 443]\n", "k");
    assert!(new.changes_from(&old).daemon_changed);
    assert!(!old.changes_from(&old).daemon_changed);
}
