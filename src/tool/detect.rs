//! What a directory holding no WAL storage holds instead, so every command pointed at the
//! wrong directory can say so: a matter.js storage root (its node directories and the
//! driver each uses), or a node directory of another driver. The driver is recognised as
//! matter.js's StorageService would: `driver.json`, else the legacy layout.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::lock;

use super::has_wal_files;

/// A node (namespace) directory below a matter.js storage root, and the driver it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDir {
    /// Directory name (the namespace), e.g. `node0`.
    pub name: String,
    /// The driver: `wal`, `file`, `sqlite`, … as matter.js's StorageService would pick it.
    pub driver: String,
    /// How that was told: `driver.json`, or the legacy layout it was recognised by.
    pub source: String,
}

/// What `driver.json` in `dir` names: `Some(kind)`, with ` (blob storage)` for blob stores.
fn descriptor_kind(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("driver.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let kind = value.get("kind")?.as_str()?.to_string();
    Some(if value.get("type").and_then(|t| t.as_str()) == Some("blob") { format!("{kind} (blob storage)") } else { kind })
}

/// Files matter.js's StorageService does not count as data when it looks for a legacy
/// `file`-driver directory (one without `driver.json`).
fn has_data_files(dir: &Path) -> bool {
    fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        e.file_type().is_ok_and(|t| t.is_file())
            && !matches!(e.file_name().to_str(), Some("driver.json" | lock::LOCK_FILE | lock::PID_FILE))
    })
}

/// The node directories below `root` (a matter.js storage root), sorted by name, with the
/// driver each uses: its `driver.json`, else a WAL layout, legacy `file` data, or a legacy
/// sibling `<name>.db` (sqlite). Hidden entries (`.migrations`) and directories with nothing
/// of these are left out.
pub fn node_dirs(root: &Path) -> Vec<NodeDir> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(root) else { return found };
    let mut dirs = BTreeSet::new();
    let mut dbs = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        if name.starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                dirs.insert(name);
            }
            Ok(t) if t.is_file() && name.len() > 3 && name.ends_with(".db") => dbs.push(name[..name.len() - 3].to_string()),
            _ => {}
        }
    }
    for name in &dirs {
        let dir = root.join(name);
        let (driver, source) = if let Some(kind) = descriptor_kind(&dir) {
            (kind, "driver.json".to_string())
        } else if has_wal_files(&dir) {
            ("wal".into(), "no driver.json; WAL files".into())
        } else if has_data_files(&dir) {
            ("file".into(), "no driver.json; legacy file-driver data".into())
        } else if dbs.contains(name) {
            ("sqlite".into(), format!("no driver.json; legacy {name}.db"))
        } else {
            continue;
        };
        found.push(NodeDir { name: name.clone(), driver, source });
    }
    for name in dbs {
        if !dirs.contains(&name) {
            found.push(NodeDir { driver: "sqlite".into(), source: format!("legacy {name}.db"), name });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// When `dir` holds no WAL storage but is recognisably something else — a node directory
/// of another matter.js driver, or a storage root with node directories below it — a
/// message saying what it is, listing those directories and their drivers. `None` for WAL
/// storage (also an empty one) and for directories with nothing recognisable in them.
pub fn not_wal_storage(dir: &Path) -> Option<String> {
    if !dir.is_dir() || has_wal_files(dir) {
        return None;
    }
    let own = descriptor_kind(dir);
    if own.as_deref() == Some("wal") {
        return None;
    }
    let nodes = node_dirs(dir);
    let mut out = match &own {
        Some(kind) => format!("{} is not a WAL storage directory: its driver.json says matter.js's \"{kind}\" driver", dir.display()),
        None if !nodes.is_empty() => format!(
            "{} is not a WAL storage directory (no wal/, snapshot.json[.gz] or head.json[.gz]); it looks like a matter.js storage root",
            dir.display()
        ),
        None if has_data_files(dir) => {
            return Some(format!(
                "{} is not a WAL storage directory (no wal/, snapshot.json[.gz] or head.json[.gz]); matter.js would take \
                 its files for its \"file\" driver's (no driver.json)",
                dir.display()
            ))
        }
        None => return None,
    };
    if nodes.is_empty() {
        out.push_str(". matter-wal reads directories of the \"wal\" driver only.");
        return Some(out);
    }
    list_nodes(&mut out, dir, &nodes);
    Some(out)
}

/// `. The node directories below it:` and one aligned line per node, then how to read a
/// `wal` one.
fn list_nodes(out: &mut String, dir: &Path, nodes: &[NodeDir]) {
    let _ = write!(out, ". The node directories below it:");
    let width = nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let driver_width = nodes.iter().map(|n| n.driver.len()).max().unwrap_or(0);
    for n in nodes {
        let _ = write!(out, "\n  {:<width$}  {:<driver_width$}  ({})", n.name, n.driver, n.source);
    }
    match nodes.iter().find(|n| n.driver == "wal") {
        Some(n) => {
            let _ = write!(out, "\nmatter-wal reads the \"wal\" ones, e.g. matter-wal inspect {}", dir.join(&n.name).display());
        }
        None => out.push_str("\nNone of them uses the \"wal\" driver, the only one matter-wal reads."),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{line, write_segment};
    use super::*;

    #[test]
    fn a_storage_root_or_another_drivers_directory_is_described_with_its_node_directories() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let node = |name: &str| {
            fs::create_dir_all(r.join(name)).unwrap();
            r.join(name)
        };
        fs::write(node("light").join("driver.json"), r#"{"kind":"wal","type":"kv"}"#).unwrap();
        write_segment(&r.join("light"), 1, &line(1.0, &[]));
        fs::write(node("bridge").join("driver.json"), r#"{"kind":"file","type":"kv"}"#).unwrap();
        fs::write(node("bridge").join("fabrics.list"), "[]").unwrap();
        fs::write(node("legacy").join("root.basicInformation"), "{}").unwrap();
        write_segment(&node("plainwal"), 1, &line(1.0, &[]));
        node("sensor");
        fs::write(r.join("sensor.db"), b"").unwrap();
        fs::write(r.join("old.db"), b"").unwrap();
        fs::write(node("blobs").join("driver.json"), r#"{"kind":"file","type":"blob"}"#).unwrap();
        node("empty");
        node(".migrations/light-old-file-1");
        let names = |v: Vec<NodeDir>| v.into_iter().map(|n| format!("{} {} ({})", n.name, n.driver, n.source)).collect::<Vec<_>>();
        assert_eq!(
            names(node_dirs(r)),
            vec![
                "blobs file (blob storage) (driver.json)",
                "bridge file (driver.json)",
                "legacy file (no driver.json; legacy file-driver data)",
                "light wal (driver.json)",
                "old sqlite (legacy old.db)",
                "plainwal wal (no driver.json; WAL files)",
                "sensor sqlite (no driver.json; legacy sensor.db)",
            ]
        );
        let message = not_wal_storage(r).expect("a storage root is not WAL storage");
        assert!(
            message.contains(
                "looks like a matter.js storage root. The node directories below it:\n  blobs     file (blob storage)  (driver.json)\n"
            ),
            "{message}"
        );
        assert!(message.contains("\n  light     wal                  (driver.json)\n"), "{message}");
        assert!(message.ends_with(&format!("e.g. matter-wal inspect {}", r.join("light").display())), "{message}");

        // Another driver's node directory, and what stays WAL storage.
        let bridge = not_wal_storage(&r.join("bridge")).unwrap();
        assert_eq!(bridge, format!("{} is not a WAL storage directory: its driver.json says matter.js's \"file\" driver. matter-wal reads directories of the \"wal\" driver only.", r.join("bridge").display()));
        assert!(not_wal_storage(&r.join("legacy")).unwrap().contains("would take its files for its \"file\" driver's"));
        assert_eq!(not_wal_storage(&r.join("light")), None);
        assert_eq!(not_wal_storage(&r.join("plainwal")), None);
        assert_eq!(not_wal_storage(&r.join("empty")), None);
        fs::write(r.join("empty/driver.json"), r#"{"kind":"wal"}"#).unwrap();
        assert_eq!(not_wal_storage(&r.join("empty")), None, "a wal namespace not written yet");
        assert_eq!(not_wal_storage(&r.join("missing")), None);
    }
}
