//! A message for the outgoing queue: written in the same transaction as what it announces, then
//! delivered by the worker. Its bodies are sealed (they carry codes and links).

use crate::{Channel, MessageId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub id: MessageId,
    pub channel: Channel,
    /// The address, or the number in E.164.
    pub recipient: String,
    /// Empty for a text message.
    pub subject: String,
    /// Sealed (AES-256-GCM under the message key, base64url).
    pub text_body: String,
    pub html_body: Option<String>,
    /// Set when the node that queues the message hands it straight to its own delivery worker: the
    /// row is stored already leased to that worker until then (as a claim would lease it), so no
    /// worker polling the queue takes it meanwhile, and after then (the node died) any worker does.
    pub leased_until: Option<i64>,
}
