//! Where the live database lives: `member/snap/db` is a symlink to a versioned directory
//! (`db.<index>`), so a snapshot from the leader can be opened beside the live database and
//! switched in atomically (RocksDB refuses two open instances at one path in one process).

use std::io;
use std::path::{Path, PathBuf};

/// The directory the live database is in, creating `db.0` (and the `db` link) on first use.
/// A plain `db` directory (older layouts) is used as it is.
pub fn live_dir(snap_dir: &Path) -> io::Result<PathBuf> {
    let link = snap_dir.join("db");
    match std::fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(&link)?;
            Ok(if target.is_absolute() {
                target
            } else {
                snap_dir.join(target)
            })
        }
        Ok(_) => Ok(link),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let first = snap_dir.join("db.0");
            std::fs::create_dir_all(&first)?;
            point_at(snap_dir, "db.0")?;
            Ok(first)
        }
        Err(e) => Err(e),
    }
}

/// Makes `db` point at `snap_dir/<name>`, atomically; a plain `db` directory is moved aside
/// to `db.replaced` first. Returns the directory that was live before.
pub fn switch_live(snap_dir: &Path, name: &str) -> io::Result<PathBuf> {
    let link = snap_dir.join("db");
    let before = live_dir(snap_dir)?;
    if before == link {
        std::fs::rename(&link, snap_dir.join("db.replaced"))?;
    }
    point_at(snap_dir, name)?;
    Ok(if before == link {
        snap_dir.join("db.replaced")
    } else {
        before
    })
}

fn point_at(snap_dir: &Path, name: &str) -> io::Result<()> {
    let tmp = snap_dir.join("db.link.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp)?;
    std::fs::rename(&tmp, snap_dir.join("db"))?;
    std::fs::File::open(snap_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_moves_and_the_old_dir_is_reported() {
        let d = tempfile::tempdir().expect("tempdir");
        let first = live_dir(d.path()).expect("live");
        assert_eq!(first, d.path().join("db.0"));
        assert_eq!(live_dir(d.path()).expect("again"), first);
        std::fs::create_dir_all(d.path().join("db.5")).expect("mkdir");
        let old = switch_live(d.path(), "db.5").expect("switch");
        assert_eq!(old, first);
        assert_eq!(live_dir(d.path()).expect("live"), d.path().join("db.5"));
    }
}
