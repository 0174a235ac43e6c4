//! Where a one-time secret goes: an email address or a phone number, each parsed once.

use crate::{Channel, EmailAddress, PhoneNumber};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Email(EmailAddress),
    Phone(PhoneNumber),
}

impl Destination {
    pub fn channel(&self) -> Channel {
        match self {
            Destination::Email(_) => Channel::Email,
            Destination::Phone(_) => Channel::Sms,
        }
    }

    /// The address, or the number in E.164.
    pub fn as_str(&self) -> &str {
        match self {
            Destination::Email(e) => e.as_str(),
            Destination::Phone(p) => p.as_str(),
        }
    }

    /// What pages show: the address, or the number with most digits hidden.
    pub fn shown(&self) -> String {
        match self {
            Destination::Email(e) => e.to_string(),
            Destination::Phone(p) => p.masked(),
        }
    }

    /// A stored destination of `channel` (the address, or the number in E.164).
    pub fn parse(channel: Channel, text: &str) -> Result<Self, String> {
        match channel {
            Channel::Email => EmailAddress::parse(text).map(Destination::Email).map_err(|e| e.to_string()),
            Channel::Sms => PhoneNumber::parse(text, None).map(Destination::Phone).map_err(|e| e.to_string()),
        }
    }
}
