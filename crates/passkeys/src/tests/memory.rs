//! The passkey storage in memory, with the rules the database keeps: single-use ceremonies, unique
//! credential ids, and a counter that only moves forward.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::audit::{AuditEntry, AuditLog};
use domain::{StorageError, User, UserId};

use crate::storage::PasskeyUse;
use crate::{PasskeyAudit, PasskeyStore, PendingCeremony, StoredPasskey};

#[derive(Default)]
pub(super) struct Memory {
    pub users: Vec<User>,
    pub handles: HashMap<UserId, String>,
    pub ceremonies: HashMap<String, PendingCeremony>,
    pub passkeys: Vec<StoredPasskey>,
    pub audit: Vec<PasskeyAudit>,
}

#[derive(Default)]
pub(super) struct MemoryStore(Mutex<Memory>);

impl MemoryStore {
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        f(&mut self.0.lock().expect("memory"))
    }
}

#[async_trait::async_trait]
impl PasskeyStore for MemoryStore {
    async fn user_handle(&self, user: &UserId, fresh: &str) -> Result<String, StorageError> {
        Ok(self.with(|m| m.handles.entry(user.clone()).or_insert_with(|| fresh.to_owned()).clone()))
    }
    async fn user_by_handle(&self, handle: &str) -> Result<Option<User>, StorageError> {
        Ok(self.with(|m| {
            let id = m.handles.iter().find(|(_, h)| *h == handle).map(|(u, _)| u.clone());
            id.and_then(|id| m.users.iter().find(|u| u.id == id).cloned())
        }))
    }
    async fn put_ceremony(&self, c: PendingCeremony) -> Result<(), StorageError> {
        self.with(|m| m.ceremonies.insert(c.key.clone(), c));
        Ok(())
    }
    async fn take_ceremony(&self, key: &str, now: i64) -> Result<Option<PendingCeremony>, StorageError> {
        Ok(self.with(|m| m.ceremonies.remove(key)).filter(|c| c.expires_at > now))
    }
    async fn passkeys(&self, user: &UserId) -> Result<Vec<StoredPasskey>, StorageError> {
        Ok(self.with(|m| m.passkeys.iter().filter(|p| &p.user_id == user).cloned().collect()))
    }
    async fn passkey_by_credential(&self, id: &[u8]) -> Result<Option<StoredPasskey>, StorageError> {
        Ok(self.with(|m| m.passkeys.iter().find(|p| p.credential_id == id).cloned()))
    }
    async fn add_passkey(&self, p: StoredPasskey, audit: AuditEntry<PasskeyAudit>) -> Result<bool, StorageError> {
        Ok(self.with(|m| {
            if m.passkeys.iter().any(|q| q.credential_id == p.credential_id) {
                return false;
            }
            m.passkeys.push(p);
            m.audit.push(audit.what);
            true
        }))
    }
    async fn record_use(&self, u: PasskeyUse) -> Result<bool, StorageError> {
        Ok(self.with(|m| match m.passkeys.iter_mut().find(|p| p.id == u.id) {
            Some(p) if (u.sign_count == 0 && p.sign_count == 0) || p.sign_count < u.sign_count => {
                (p.sign_count, p.credential, p.last_used_at) = (u.sign_count, u.credential, Some(u.at));
                true
            }
            _ => false,
        }))
    }
    async fn rename_passkey(&self, user: &UserId, id: &str, name: &str) -> Result<bool, StorageError> {
        Ok(self.with(|m| match m.passkeys.iter_mut().find(|p| p.id == id && &p.user_id == user) {
            Some(p) => {
                p.name = name.to_owned();
                true
            }
            None => false,
        }))
    }
    async fn remove_passkey(
        &self,
        user: &UserId,
        id: &str,
        audit: AuditEntry<PasskeyAudit>,
    ) -> Result<bool, StorageError> {
        Ok(self.with(|m| {
            let before = m.passkeys.len();
            m.passkeys.retain(|p| !(p.id == id && &p.user_id == user));
            let removed = m.passkeys.len() < before;
            if removed {
                m.audit.push(audit.what);
            }
            removed
        }))
    }
}

#[async_trait::async_trait]
impl AuditLog<PasskeyAudit> for MemoryStore {
    async fn record(&self, entry: AuditEntry<PasskeyAudit>) -> Result<(), StorageError> {
        self.with(|m| m.audit.push(entry.what));
        Ok(())
    }
}
