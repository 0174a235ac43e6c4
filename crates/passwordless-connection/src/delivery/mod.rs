//! Outgoing messages: rendered from templates, queued with their challenge, and sent by a worker
//! with retries, backoff and provider failover. Providers: the dev outbox (messages stay readable at
//! `/dev/outbox`), SMTP (lettre, optional DKIM), SendGrid, Mandrill, Amazon SES, Twilio, and a
//! signed custom SMS gateway.

pub mod gateway;
pub mod hook;
pub mod mandrill;
pub mod providers;
pub mod sendgrid;
pub mod ses;
mod settings;
pub mod smtp;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::secret::Sealer;
use domain::{Channel, Clock};

use crate::storage::{MessageStore, QueuedMessage};

pub use gateway::GatewaySettings;
pub use providers::{Chain, ChainOutcome, Outgoing, Provider, SendError};
pub use settings::{
    ApiKeySettings, DeliverySettings, DkimAlgorithm, EmailProvider, SesSettings, SmsProvider, SmtpSettings,
};
pub use twilio::TwilioSettings;

/// Message bodies carry codes and links, so the queue keeps them sealed (AES-256-GCM, bound to the
/// message id), never in clear.
pub fn seal_body(sealer: &Sealer, message_id: &str, body: &str) -> String {
    URL_SAFE_NO_PAD.encode(sealer.seal(message_id.as_bytes(), body.as_bytes()))
}

/// Opens a body sealed by [`seal_body`].
pub fn open_body(sealer: &Sealer, message_id: &str, sealed: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    String::from_utf8(sealer.open(message_id.as_bytes(), &bytes).ok()?).ok()
}

/// The provider chains of both channels.
#[derive(Default)]
pub struct Delivery {
    pub email: Chain,
    pub sms: Chain,
}

impl Delivery {
    /// Development: every message of both channels stays in the dev outbox.
    pub fn outbox() -> Self {
        Delivery { email: Chain(vec![Provider::Outbox]), sms: Chain(vec![Provider::Outbox]) }
    }

    pub fn uses_outbox(&self) -> bool {
        self.email.0.iter().chain(&self.sms.0).any(|p| matches!(p, Provider::Outbox))
    }

    fn chain(&self, channel: Channel) -> &Chain {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
        }
    }

    /// Opens the sealed bodies and hands the message to the channel's providers in turn.
    async fn send(&self, m: &QueuedMessage, sealer: &Sealer) -> ChainOutcome {
        let open = |body: &Option<String>| match body {
            Some(b) => open_body(sealer, m.id.as_str(), b).map(Some).ok_or(()),
            None => Ok(None),
        };
        let (Ok(text), Ok(html)) = (open(&m.text_body), open(&m.html_body)) else {
            return ChainOutcome::Failed { reason: "the message body cannot be opened".into(), permanent: false };
        };
        let text = text.unwrap_or_default();
        let outgoing =
            Outgoing { id: m.id.as_str(), to: &m.recipient, subject: &m.subject, text: &text, html: html.as_deref() };
        self.chain(m.channel).send(&outgoing).await
    }
}

/// Attempts before a message is given up, and the lease a worker holds on a message it sends.
const MAX_ATTEMPTS: i32 = 6;
const LEASE_SECONDS: i64 = 120;
/// A handed message the worker takes later than this after it was queued first has its lease
/// renewed (if it is still this worker's), so that its send has a whole lease, as a claimed one has.
const HANDOFF_FRESH_SECONDS: i64 = 10;
/// Messages waiting in a node's hand-off at most; past that, messages are queued for polling.
const HANDOFF_CAPACITY: usize = 64;

/// A message queued leased to this node's worker, and when its lease runs out.
pub struct Handed {
    pub message: QueuedMessage,
    pub leased_until: i64,
}

/// Hands messages straight to this node's delivery worker. Without it, the worker claims each
/// queued message with a second write (and first looks whether any is due); with it, the message
/// is written once, already leased ([`domain::message::OutgoingMessage::leased_until`]), and the
/// worker has it at once.
#[derive(Clone)]
pub struct Handoff(tokio::sync::mpsc::Sender<Handed>);

/// A message leased to this node's worker, with its place in the hand-off taken before it is
/// queued: a message is queued leased only when the worker is sure to get it.
pub struct Lease {
    slot: tokio::sync::mpsc::OwnedPermit<Handed>,
    handed: Handed,
}

impl Handoff {
    /// The hand-off and the worker's end of it ([`spawn_worker`]).
    pub fn new() -> (Self, tokio::sync::mpsc::Receiver<Handed>) {
        let (tx, rx) = tokio::sync::mpsc::channel(HANDOFF_CAPACITY);
        (Handoff(tx), rx)
    }

    /// Leases `message`, about to be queued, to this node's worker ([`OutgoingMessage::leased_until`]),
    /// unless the hand-off is full (or its worker has stopped): then it is queued for polling.
    ///
    /// [`OutgoingMessage::leased_until`]: domain::message::OutgoingMessage::leased_until
    pub fn lease(&self, message: Option<&mut domain::message::OutgoingMessage>, now: i64) -> Option<Lease> {
        let message = message?;
        let slot = self.0.clone().try_reserve_owned().ok()?;
        // Leased as a claim leases a message.
        let leased_until = now + LEASE_SECONDS;
        message.leased_until = Some(leased_until);
        let queued = QueuedMessage {
            id: message.id.clone(),
            channel: message.channel,
            recipient: message.recipient.clone(),
            subject: message.subject.clone(),
            text_body: Some(message.text_body.clone()),
            html_body: message.html_body.clone(),
            attempts: 1,
        };
        Some(Lease { slot, handed: Handed { message: queued, leased_until } })
    }
}

impl Lease {
    /// Gives the worker the message, once it is queued (committed).
    pub fn hand(self) {
        self.slot.send(self.handed);
    }
}

/// Sends every message that is due; returns how many were handled.
pub async fn deliver_due(store: &dyn MessageStore, delivery: &Delivery, sealer: &Sealer, clock: &dyn Clock) -> usize {
    let now = clock.now();
    let batch = match store.claim_due_messages(now, LEASE_SECONDS, 20).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "could not read the message queue");
            return 0;
        }
    };
    let count = batch.len();
    for m in batch {
        deliver(store, delivery, sealer, clock, &m).await;
    }
    count
}

/// Sends a message handed to this node's worker. One that waited in the hand-off has its lease
/// renewed first; if the lease is no longer its own (it ran out and another worker took the
/// message over), it is not sent here.
async fn deliver_handed(
    store: &dyn MessageStore,
    delivery: &Delivery,
    sealer: &Sealer,
    clock: &dyn Clock,
    handed: Handed,
) {
    let now = clock.now();
    if now > handed.leased_until - LEASE_SECONDS + HANDOFF_FRESH_SECONDS {
        let id = &handed.message.id;
        match store.renew_message_lease(id, handed.leased_until, now + LEASE_SECONDS).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                // Left as it is: the queue takes it over once its lease runs out.
                tracing::error!(error = %e, message = %id, "could not renew a handed message's lease");
                return;
            }
        }
    }
    deliver(store, delivery, sealer, clock, &handed.message).await;
}

/// Sends one leased message and records the outcome.
async fn deliver(store: &dyn MessageStore, delivery: &Delivery, sealer: &Sealer, clock: &dyn Clock, m: &QueuedMessage) {
    let outcome = delivery.send(m, sealer).await;
    let now = clock.now();
    let recorded = match outcome {
        // The outbox keeps the body so a developer can read it; real providers wipe it.
        ChainOutcome::Sent(provider) => store.mark_message_sent(&m.id, provider, now, provider == "outbox").await,
        ChainOutcome::Failed { reason, permanent } => {
            // 4, 8, 16, 32, 64 s: about two minutes in all, inside the default five-minute code lifetime.
            // A failure no provider can get past (a refused recipient) is not retried.
            let retry_at =
                (!permanent && m.attempts < MAX_ATTEMPTS).then(|| now + 2 * (1i64 << m.attempts.clamp(0, 10)));
            tracing::warn!(message = %m.id, attempt = m.attempts, permanent, error = %reason, "message delivery failed");
            store.mark_message_failed(&m.id, &reason, retry_at).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, message = %m.id, "could not record delivery status");
    }
}

/// Runs the delivery loop until the process ends: sends what is handed to it, wakes when a
/// message is queued, and every second for retries and messages queued by other nodes.
pub fn spawn_worker(
    store: Arc<dyn MessageStore>,
    delivery: Arc<Delivery>,
    sealer: Sealer,
    clock: Arc<dyn Clock>,
    ready: Arc<tokio::sync::Notify>,
    mut handed: tokio::sync::mpsc::Receiver<Handed>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (store, clock) = (store.as_ref(), clock.as_ref());
        // The queue is polled when woken and every second, however busy the hand-off keeps the
        // worker: the tick comes first, and handed messages are taken one at a time.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poll = true;
        loop {
            if poll {
                while deliver_due(store, &delivery, &sealer, clock).await > 0 {}
            }
            poll = tokio::select! {
                biased;
                _ = tick.tick() => true,
                () = ready.notified() => true,
                Some(h) = handed.recv() => {
                    deliver_handed(store, &delivery, &sealer, clock, h).await;
                    false
                }
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handoff_takes_messages_until_full_and_none_once_its_worker_is_gone() {
        let message = || domain::message::OutgoingMessage {
            id: domain::MessageId::sortable(),
            channel: Channel::Email,
            recipient: "user@example.com".into(),
            subject: "Your code".into(),
            text_body: "sealed".into(),
            html_body: None,
            leased_until: None,
        };
        let (handoff, mut handed) = Handoff::new();
        assert!(handoff.lease(None, 100).is_none(), "no message, no lease");
        let mut leased = message();
        let first = handoff.lease(Some(&mut leased), 100).expect("room in the hand-off");
        assert_eq!(leased.leased_until, Some(100 + LEASE_SECONDS), "queued leased");
        let rest: Vec<Lease> =
            (1..HANDOFF_CAPACITY).map(|_| handoff.lease(Some(&mut message()), 100).expect("room")).collect();
        // Full: the message is queued for polling, not leased.
        let mut unleased = message();
        assert!(handoff.lease(Some(&mut unleased), 100).is_none(), "a lease past the capacity");
        assert_eq!(unleased.leased_until, None);
        first.hand();
        rest.into_iter().for_each(Lease::hand);
        let got = handed.try_recv().expect("a handed message");
        assert_eq!((got.leased_until, got.message.attempts), (100 + LEASE_SECONDS, 1));
        assert_eq!((got.message.id, got.message.text_body.as_deref()), (leased.id.clone(), Some("sealed")));
        drop(handed);
        assert!(handoff.lease(Some(&mut message()), 100).is_none(), "a lease with no worker to take it");
    }

    /// A queue that records what the worker asks of it.
    struct Recorder {
        renew_answer: bool,
        renewals: std::sync::Mutex<Vec<(i64, i64)>>,
        sent: std::sync::Mutex<Vec<domain::MessageId>>,
    }

    impl Recorder {
        fn answering(renew_answer: bool) -> Self {
            Recorder { renew_answer, renewals: Default::default(), sent: Default::default() }
        }
    }

    #[async_trait::async_trait]
    impl MessageStore for Recorder {
        async fn enqueue_message(
            &self,
            _: domain::message::OutgoingMessage,
            _: i64,
        ) -> Result<(), domain::StorageError> {
            Ok(())
        }

        async fn claim_due_messages(&self, _: i64, _: i64, _: i64) -> Result<Vec<QueuedMessage>, domain::StorageError> {
            Ok(Vec::new())
        }

        async fn renew_message_lease(
            &self,
            _: &domain::MessageId,
            leased_until: i64,
            until: i64,
        ) -> Result<bool, domain::StorageError> {
            self.renewals.lock().unwrap().push((leased_until, until));
            Ok(self.renew_answer)
        }

        async fn mark_message_sent(
            &self,
            id: &domain::MessageId,
            _: &str,
            _: i64,
            _: bool,
        ) -> Result<(), domain::StorageError> {
            self.sent.lock().unwrap().push(id.clone());
            Ok(())
        }

        async fn mark_message_failed(
            &self,
            _: &domain::MessageId,
            _: &str,
            _: Option<i64>,
        ) -> Result<(), domain::StorageError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_handed_message_is_sent_at_once_and_one_that_waited_only_under_its_own_renewed_lease() {
        let (delivery, sealer) = (Delivery::outbox(), domain::MasterKey::generate().message_sealer());
        let clock = domain::clock::FakeClock::starting_now();
        let now = clock.now();
        let handed = |leased_until: i64| {
            let id = domain::MessageId::sortable();
            let message = QueuedMessage {
                text_body: Some(seal_body(&sealer, id.as_str(), "Your code is 123456")),
                id,
                channel: Channel::Email,
                recipient: "user@example.com".into(),
                subject: "Your code".into(),
                html_body: None,
                attempts: 1,
            };
            Handed { message, leased_until }
        };
        // Taken at once: sent under the lease it was queued with.
        let store = Recorder::answering(true);
        deliver_handed(&store, &delivery, &sealer, &clock, handed(now + LEASE_SECONDS)).await;
        assert_eq!(store.sent.lock().unwrap().len(), 1);
        assert!(store.renewals.lock().unwrap().is_empty(), "a fresh lease renewed");
        // Queued 11 s ago: its own lease is renewed to a whole one first, then it is sent.
        let late = now + LEASE_SECONDS - HANDOFF_FRESH_SECONDS - 1;
        deliver_handed(&store, &delivery, &sealer, &clock, handed(late)).await;
        assert_eq!(*store.renewals.lock().unwrap(), [(late, now + LEASE_SECONDS)]);
        assert_eq!(store.sent.lock().unwrap().len(), 2);
        // Its lease no longer its own (another worker took it over): not sent here.
        let store = Recorder::answering(false);
        deliver_handed(&store, &delivery, &sealer, &clock, handed(late)).await;
        assert_eq!(store.renewals.lock().unwrap().len(), 1);
        assert!(store.sent.lock().unwrap().is_empty(), "sent under another worker's lease");
    }
}
