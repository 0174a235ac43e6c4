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
}
