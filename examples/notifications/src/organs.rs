//! The pipeline's events and organs: the payloads that flow, the user directory, and the
//! organs that validate, route, send, audit and count.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use necro_core::{Emit, Event, Organ, OrganError, Payload, SyncOrgan, TypedOrgan};
use serde::{Deserialize, Serialize};

/// The channels a notification can go out on.
pub const CHANNELS: [&str; 3] = ["email", "sms", "push"];
/// The priorities a notification can have.
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "critical"];

/// `NOTIFICATION_REQUESTED`: what a producer asks for. Deliberately loose (strings), so
/// the validator, not the decoder, judges it and answers with `NOTIFICATION_FAILED`.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "NOTIFICATION_REQUESTED")]
pub struct NotificationRequested {
    /// The producer's id for the request (the run numbers them from 1).
    pub request_id: u64,
    /// Whose directory entry to look up.
    pub user_id: String,
    /// The channels asked for (`email`, `sms`, `push`; validated, not decoded, so anything goes).
    pub channels: Vec<String>,
    /// The text to send.
    pub message: String,
    /// `low`, `normal`, `high` or `critical` (validated).
    pub priority: String,
}

/// `NOTIFICATION_VALIDATED`: a request that passed validation.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "NOTIFICATION_VALIDATED")]
pub struct NotificationValidated(pub NotificationRequested);

/// `NOTIFICATION_FAILED`: channels of a request that will not be delivered, and why.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "NOTIFICATION_FAILED")]
pub struct NotificationFailed {
    /// The request's id.
    pub request_id: u64,
    /// The request's user.
    pub user_id: String,
    /// The channels that will not be delivered.
    pub channels: Vec<String>,
    /// Why, in words.
    pub reason: String,
}

/// One message for one channel, with the address looked up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outgoing {
    /// The request's id.
    pub request_id: u64,
    /// The request's user.
    pub user_id: String,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// The address from the directory: an email address, a phone number or a push token.
    pub to: String,
    /// The text to send.
    pub message: String,
    /// The request's priority.
    pub priority: String,
}

/// `SEND_EMAIL`.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "SEND_EMAIL")]
#[serde(transparent)]
pub struct SendEmail(pub Outgoing);

/// `SEND_SMS`.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "SEND_SMS")]
#[serde(transparent)]
pub struct SendSms(pub Outgoing);

/// `SEND_PUSH`.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "SEND_PUSH")]
#[serde(transparent)]
pub struct SendPush(pub Outgoing);

/// `CHANNEL_DELIVERED`: one channel's message went out.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "CHANNEL_DELIVERED")]
pub struct ChannelDelivered {
    /// The request's id.
    pub request_id: u64,
    /// The request's user.
    pub user_id: String,
    /// The channel it went out on.
    pub channel: String,
    /// The address it went to.
    pub to: String,
    /// How many attempts it took (1 when the first went through).
    pub attempts: u32,
}

/// `DELIVERY_COMPLETED`: a delivery, audited.
#[derive(Debug, Clone, Serialize, Deserialize, Payload)]
#[payload(event_type = "DELIVERY_COMPLETED")]
pub struct DeliveryCompleted {
    /// The request's id.
    pub request_id: u64,
    /// The channel.
    pub channel: String,
    /// The delivery's place in the audit trail, from 1.
    pub audit_seq: u64,
}

/// A user's contact details.
#[derive(Debug, Clone)]
pub struct Contact {
    /// Email address, if any.
    pub email: Option<&'static str>,
    /// Phone number for SMS, if any.
    pub phone: Option<&'static str>,
    /// Push token, if any.
    pub push_token: Option<&'static str>,
}

/// The small built-in user directory. `user_003`'s number is on the carrier's block list.
pub fn directory() -> HashMap<&'static str, Contact> {
    HashMap::from([
        (
            "user_001",
            Contact {
                email: Some("ada@example.com"),
                phone: Some("+1-555-0101"),
                push_token: Some("push-ada-7f3a"),
            },
        ),
        (
            "user_002",
            Contact {
                email: Some("grace@example.com"),
                phone: Some("+1-555-0102"),
                push_token: Some("push-grace-19c2"),
            },
        ),
        (
            "user_003",
            Contact {
                email: Some("linus@example.com"),
                phone: Some("+1-555-0666"),
                push_token: Some("push-linus-ee01"),
            },
        ),
        (
            "user_004",
            Contact {
                email: Some("barbara@example.com"),
                phone: None,
                push_token: None,
            },
        ),
    ])
}

/// Numbers the (simulated) SMS carrier refuses for good.
pub const BLOCKED_NUMBERS: [&str; 1] = ["+1-555-0666"];

/// Simulated latencies.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Email's.
    pub email: Duration,
    /// SMS's.
    pub sms: Duration,
    /// Push's.
    pub push: Duration,
}

impl Latency {
    /// Email at `ms`, SMS at half, push at a quarter.
    pub fn from_ms(ms: u64) -> Self {
        Self {
            email: Duration::from_millis(ms),
            sms: Duration::from_millis(ms / 2),
            push: Duration::from_millis(ms / 4),
        }
    }
}

/// Validates requests: known channels, no duplicates, a message, a known priority.
#[derive(Debug)]
pub struct Validator;
impl TypedOrgan for Validator {
    type Input = NotificationRequested;
    async fn handle(&self, req: NotificationRequested, _event: &Event) -> Result<Emit, OrganError> {
        let problem = if req.user_id.trim().is_empty() {
            Some("empty user id".to_owned())
        } else if req.channels.is_empty() {
            Some("no channels requested".to_owned())
        } else if let Some(bad) = req
            .channels
            .iter()
            .find(|c| !CHANNELS.contains(&c.as_str()))
        {
            Some(format!("unknown channel {bad:?} (use email, sms, push)"))
        } else if (1..req.channels.len()).any(|i| req.channels[..i].contains(&req.channels[i])) {
            Some("a channel is requested twice".to_owned())
        } else if req.message.trim().is_empty() {
            Some("empty message".to_owned())
        } else if !PRIORITIES.contains(&req.priority.as_str()) {
            Some(format!(
                "unknown priority {:?} (use low, normal, high, critical)",
                req.priority
            ))
        } else {
            None
        };
        Ok(match problem {
            Some(reason) => Event::from_payload(&NotificationFailed {
                request_id: req.request_id,
                user_id: req.user_id,
                channels: req.channels,
                reason: format!("invalid request: {reason}"),
            })?
            .into(),
            None => Event::from_payload(&NotificationValidated(req))?.into(),
        })
    }
}

/// Looks the user up and fans the request out to one event per channel.
#[derive(Debug)]
pub struct Router {
    /// Users by id.
    pub directory: HashMap<&'static str, Contact>,
}
impl TypedOrgan for Router {
    type Input = NotificationValidated;
    async fn handle(&self, v: NotificationValidated, _event: &Event) -> Result<Emit, OrganError> {
        let req = v.0;
        let Some(contact) = self.directory.get(req.user_id.as_str()) else {
            return Ok(Event::from_payload(&NotificationFailed {
                request_id: req.request_id,
                user_id: req.user_id.clone(),
                channels: req.channels,
                reason: format!("unknown user {}", req.user_id),
            })?
            .into());
        };
        let mut out = Emit::none();
        for channel in &req.channels {
            let address = match channel.as_str() {
                "email" => contact.email,
                "sms" => contact.phone,
                _ => contact.push_token,
            };
            let Some(to) = address else {
                out.push(Event::from_payload(&NotificationFailed {
                    request_id: req.request_id,
                    user_id: req.user_id.clone(),
                    channels: vec![channel.clone()],
                    reason: format!("no {channel} address on file for {}", req.user_id),
                })?);
                continue;
            };
            let msg = Outgoing {
                request_id: req.request_id,
                user_id: req.user_id.clone(),
                channel: channel.clone(),
                to: to.to_owned(),
                message: req.message.clone(),
                priority: req.priority.clone(),
            };
            out.push(match channel.as_str() {
                "email" => Event::from_payload(&SendEmail(msg))?,
                "sms" => Event::from_payload(&SendSms(msg))?,
                _ => Event::from_payload(&SendPush(msg))?,
            });
        }
        Ok(out)
    }
}

/// Mixes a seed with a request id and an attempt number: each decision gets its own seeded
/// generator, so outcomes do not depend on the order concurrent handlers happen to run in.
fn decision_rng(seed: u64, request_id: u64, attempt: u32) -> fastrand::Rng {
    let mixed = seed
        ^ request_id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(attempt).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    fastrand::Rng::with_seed(mixed)
}

/// Sends email (async). The simulated SMTP relay fails transiently at `failure_rate`; the
/// spine's retry policy for this organ absorbs it.
#[derive(Debug)]
pub struct EmailSender {
    /// Simulated relay latency per attempt (zero: none).
    pub latency: Duration,
    /// Fraction of attempts that fail transiently, 0 to 1 (1: every attempt fails).
    pub failure_rate: f64,
    /// Seed of the failure decisions.
    pub seed: u64,
    /// Attempts so far per request.
    attempts: Mutex<HashMap<u64, u32>>,
}
impl EmailSender {
    /// A sender with `latency` per attempt, failing transiently at `failure_rate` as `seed`
    /// decides (per request and attempt, so the outcome does not depend on scheduling).
    #[must_use]
    pub fn new(latency: Duration, failure_rate: f64, seed: u64) -> Self {
        Self {
            latency,
            failure_rate,
            seed,
            attempts: Mutex::new(HashMap::new()),
        }
    }
}
impl TypedOrgan for EmailSender {
    type Input = SendEmail;
    async fn handle(&self, email: SendEmail, _event: &Event) -> Result<Emit, OrganError> {
        let msg = email.0;
        let attempt = {
            let mut map = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = map.entry(msg.request_id).or_default();
            *n += 1;
            *n
        };
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if decision_rng(self.seed, msg.request_id, attempt).f64() < self.failure_rate {
            return Err(OrganError::msg(format!(
                "SMTP relay answered 451 (try again later) for {} on attempt {attempt}",
                msg.to
            )));
        }
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&msg.request_id);
        Ok(delivered(&msg, attempt)?.into())
    }
}

fn delivered(msg: &Outgoing, attempts: u32) -> Result<Event, necro_core::EventError> {
    Event::from_payload(&ChannelDelivered {
        request_id: msg.request_id,
        user_id: msg.user_id.clone(),
        channel: msg.channel.clone(),
        to: msg.to.clone(),
        attempts,
    })
}

/// Sends SMS (sync: the carrier's client library blocks). A blocked number is a permanent
/// failure: retrying cannot help, so it goes straight to the dead-letter queue.
#[derive(Debug)]
pub struct SmsSender {
    /// Simulated carrier latency (blocks the thread; zero: none).
    pub latency: Duration,
}
impl SyncOrgan for SmsSender {
    fn listens_to(&self) -> &[&str] {
        &[SendSms::EVENT_TYPE]
    }
    fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        let msg = event.decode::<SendSms>()?.0;
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        if BLOCKED_NUMBERS.contains(&msg.to.as_str()) {
            return Err(OrganError::permanent_msg(format!(
                "carrier refused {}: number is blocked",
                msg.to
            )));
        }
        Ok(delivered(&msg, 1)?.into())
    }
}

/// Sends push notifications (async).
#[derive(Debug)]
pub struct PushSender {
    /// Simulated latency (zero: none).
    pub latency: Duration,
}
impl TypedOrgan for PushSender {
    type Input = SendPush;
    async fn handle(&self, push: SendPush, _event: &Event) -> Result<Emit, OrganError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(delivered(&push.0, 1)?.into())
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The request's id.
    pub request_id: u64,
    /// The channel.
    pub channel: String,
    /// The address.
    pub to: String,
    /// Attempts it took.
    pub attempts: u32,
}

/// Records every delivery in the audit trail, then completes it.
#[derive(Debug)]
pub struct Auditor {
    /// The trail, shared with whoever reads it.
    pub trail: Arc<Mutex<Vec<AuditEntry>>>,
    /// Print each delivery as it is audited.
    pub verbose: bool,
}
impl TypedOrgan for Auditor {
    type Input = ChannelDelivered;
    async fn handle(&self, d: ChannelDelivered, _event: &Event) -> Result<Emit, OrganError> {
        let seq = {
            let mut trail = self.trail.lock().unwrap_or_else(PoisonError::into_inner);
            let seq = trail.len() as u64 + 1;
            trail.push(AuditEntry {
                request_id: d.request_id,
                channel: d.channel.clone(),
                to: d.to.clone(),
                attempts: d.attempts,
            });
            seq
        };
        if self.verbose {
            example_support::outln!(
                "audit #{seq}: request {} {} → {} delivered (attempts: {})",
                d.request_id,
                d.channel,
                d.to,
                d.attempts
            );
        }
        Ok(Event::from_payload(&DeliveryCompleted {
            request_id: d.request_id,
            channel: d.channel,
            audit_seq: seq,
        })?
        .into())
    }
}

/// Outcome counts per channel.
#[derive(Debug, Default, Clone)]
pub struct Outcomes {
    /// Deliveries per channel.
    pub delivered: BTreeMap<String, u64>,
    /// Failures per channel (`NOTIFICATION_FAILED`, one per channel it names).
    pub failed: BTreeMap<String, u64>,
    /// Each failure: request id, its channels joined by commas, the reason.
    pub failures: Vec<(u64, String, String)>,
}

impl Outcomes {
    /// Deliveries over all channels.
    pub fn delivered_total(&self) -> u64 {
        self.delivered.values().sum()
    }
    /// Failures over all channels.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

/// Counts how every channel of every request ended.
#[derive(Debug)]
pub struct Tracker {
    /// The counts, shared with whoever reads them.
    pub outcomes: Arc<Mutex<Outcomes>>,
    /// Print each failure as it is counted.
    pub verbose: bool,
}
impl Organ for Tracker {
    fn listens_to(&self) -> &[&str] {
        &[
            DeliveryCompleted::EVENT_TYPE,
            NotificationFailed::EVENT_TYPE,
        ]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        if event.event_type() == DeliveryCompleted::EVENT_TYPE {
            let done = event.decode::<DeliveryCompleted>()?;
            let mut o = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
            *o.delivered.entry(done.channel).or_default() += 1;
        } else {
            let failed = event.decode::<NotificationFailed>()?;
            if self.verbose {
                example_support::outln!(
                    "failed: request {} {:?}: {}",
                    failed.request_id,
                    failed.channels,
                    failed.reason
                );
            }
            let mut o = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
            for c in &failed.channels {
                *o.failed.entry(c.clone()).or_default() += 1;
            }
            o.failures
                .push((failed.request_id, failed.channels.join(","), failed.reason));
        }
        Ok(Emit::none())
    }
}
