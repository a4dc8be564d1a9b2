//! Errors that name the file, the line and the key, e.g.
//! `office.toml:12: connection "office": esp: unknown algorithm "aes999"`.
//!
//! toml's own errors (syntax, unknown keys, wrong types) and ours (checks after parsing,
//! through the spans of `toml::Spanned` values) both carry a byte span. One function
//! turns a span into a line and finds which key of which section holds it, so every
//! error reads the same whoever found it.

use core::ops::Range;
use std::io;

use thiserror::Error;
use toml::de::{DeTable, DeValue};

/// Why a configuration file was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: io::Error,
    },
    /// A syntax error, an unknown key, a value of the wrong type or one that makes no
    /// sense, or a file it names that cannot be used.
    #[error("{file}:{line}: {}{message}", place(.section.as_deref(), .key.as_deref()))]
    Invalid {
        file: String,
        /// 1-based.
        line: usize,
        /// `daemon`, `connection "office"` (or `connection #2` before its name is known).
        section: Option<String>,
        /// The key within the section, e.g. `esp`.
        key: Option<String>,
        message: String,
    },
}

impl ConfigError {
    /// The line the error is on, when it is about the file's content.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            ConfigError::Read { .. } => None,
        }
    }

    /// The key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            ConfigError::Read { .. } => None,
        }
    }
}

fn place(section: Option<&str>, key: Option<&str>) -> String {
    let mut s = String::new();
    for part in [section, key].into_iter().flatten() {
        s.push_str(part);
        s.push_str(": ");
    }
    s
}

/// The text being read and the name its errors carry.
pub(crate) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

enum Segment {
    Key(String),
    Index(usize),
}

impl Source<'_> {
    /// The 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// An error about the bytes at `span`.
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let mut message = message.into();
        let pos = span.map_or(0, |s| s.start);
        let (mut section, mut key) = (None, None);
        // Errors from toml's parser have no table to search; they keep line and message.
        if let Ok(doc) = DeTable::parse(self.text) {
            let mut path = Vec::new();
            if find(doc.get_ref(), pos, &mut path) {
                let mut rest = &path[..];
                match path.as_slice() {
                    [Segment::Key(s), Segment::Index(i), ..] if s == "connection" => {
                        section = Some(connection_label(doc.get_ref(), *i));
                        rest = &path[2..];
                    }
                    [Segment::Key(s), ..] if s == "daemon" => {
                        section = Some("daemon".to_owned());
                        rest = &path[1..];
                    }
                    _ => {}
                }
                let keys: Vec<&str> = rest
                    .iter()
                    .filter_map(|s| match s {
                        Segment::Key(k) => Some(k.as_str()),
                        Segment::Index(_) => None,
                    })
                    .collect();
                // serde speaks of fields and variants; the file has keys and values.
                if let Some(tail) = message.strip_prefix("missing field") {
                    message = format!("missing key{tail}");
                } else if let Some(tail) = message.strip_prefix("unknown variant") {
                    message = format!("unknown value{tail}");
                }
                if let Some(tail) = message.strip_prefix("unknown field") {
                    // toml names the key in its message already.
                    message = format!("unknown key{tail}");
                } else if !keys.is_empty() {
                    key = Some(keys.join("."));
                }
            }
        }
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: self.line_of(pos),
            section,
            key,
            message,
        }
    }

    /// An error toml reported.
    pub fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        self.error(e.span(), e.message().trim_end())
    }
}

/// `connection "NAME"`, or `connection #N` when the name is missing or not a string.
fn connection_label(doc: &DeTable<'_>, index: usize) -> String {
    let name = doc
        .get("connection")
        .and_then(|c| c.get_ref().as_array())
        .and_then(|a| a.get(index))
        .and_then(|c| c.get_ref().as_table())
        .and_then(|t| t.get("name"))
        .and_then(|n| n.get_ref().as_str().map(str::to_owned));
    match name {
        Some(n) => format!("connection \"{n}\""),
        None => format!("connection #{}", index + 1),
    }
}

fn contains(span: &Range<usize>, pos: usize) -> bool {
    span.contains(&pos) || (span.is_empty() && span.start == pos)
}

/// The path to the innermost key or value whose span holds `pos`.
fn find(table: &DeTable<'_>, pos: usize, path: &mut Vec<Segment>) -> bool {
    for (k, v) in table.iter() {
        path.push(Segment::Key(k.get_ref().to_string()));
        if contains(&k.span(), pos) {
            return true;
        }
        match v.get_ref() {
            DeValue::Table(t) => {
                if find(t, pos, path) || contains(&v.span(), pos) {
                    return true;
                }
            }
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    path.push(Segment::Index(i));
                    let inside = match e.get_ref() {
                        DeValue::Table(t) => find(t, pos, path),
                        _ => false,
                    };
                    if inside || contains(&e.span(), pos) {
                        return true;
                    }
                    path.pop();
                }
                if contains(&v.span(), pos) {
                    return true;
                }
            }
            _ => {
                if contains(&v.span(), pos) {
                    return true;
                }
            }
        }
        path.pop();
    }
    false
}
