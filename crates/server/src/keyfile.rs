//! The master key: from configuration, or in development from `data_dir/master.key`, created on
//! first start so that it exists whole or not at all.

use std::path::Path;

use anyhow::{Context, anyhow};
use domain::MasterKey;

use crate::config::Settings;

/// The master key: from configuration, or in development from `data_dir/master.key`, generated
/// on first start.
pub fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.secrets.master_key {
        return Ok(key.clone());
    }
    let path = settings.data_dir().join("master.key");
    if let Some(key) = read_master_key(&path)? {
        return Ok(key);
    }
    std::fs::create_dir_all(settings.data_dir())
        .with_context(|| format!("cannot create {}", settings.data_dir().display()))?;
    let key = MasterKey::generate();
    match write_private(&path, &key.to_base64()) {
        Ok(()) => {
            // Through the log, so a JSON log stays JSON.
            tracing::warn!(
                "Generated a development master key in {} (keep it: it unlocks the signing keys).",
                path.display()
            );
            Ok(key)
        }
        // Another process starting at the same moment wrote its key first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_master_key(&path)?.ok_or_else(|| anyhow!("{} appeared empty", path.display()))
        }
        Err(e) => Err(anyhow!("cannot write {}: {e}", path.display())),
    }
}

/// The key in `path`, if there is one. An empty file is none: only a crash between creating and
/// writing the file could leave it (as versions before the atomic write could), and no data can
/// have been sealed with a key that was never written.
fn read_master_key(path: &Path) -> anyhow::Result<Option<MasterKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => {
            tracing::warn!("{} is empty (an interrupted first start); a new key replaces it.", path.display());
            std::fs::remove_file(path).with_context(|| format!("cannot remove the empty {}", path.display()))?;
            Ok(None)
        }
        Ok(text) => MasterKey::from_base64(&text).map(Some).map_err(|e| anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Creates `path` holding `text` (mode 0600) so that it either exists whole or not at all: the
/// text goes to a temporary file that is flushed to disk, then linked into place (failing with
/// `AlreadyExists` rather than replacing a file another process made), and the directory is
/// flushed so the new name survives a crash.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", domain::secret::random_token(6)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_in(dir: &Path) -> Settings {
        let mut s = Settings::defaults().unwrap();
        s.server.data_dir = dir.to_path_buf();
        s
    }

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ostiary-key-{}", domain::secret::random_token(9)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_empty_master_key_file_left_by_a_crash_is_replaced() {
        let dir = temp_dir();
        std::fs::write(dir.join("master.key"), "").unwrap();
        let key = master_key(&settings_in(&dir)).unwrap();
        let again = master_key(&settings_in(&dir)).unwrap();
        assert_eq!(key.to_base64(), again.to_base64(), "written whole, read back");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn processes_starting_together_end_up_with_one_key() {
        let dir = temp_dir();
        let keys: Vec<String> = (0..8)
            .map(|_| {
                let s = settings_in(&dir);
                std::thread::spawn(move || master_key(&s).unwrap().to_base64())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        assert_eq!(std::fs::read_to_string(dir.join("master.key")).unwrap(), keys[0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
