//! The step-up decision: a pure function of the signals (drawn from the login history), the
//! request, the client's policy and the factors the user has. Like node-oidc-provider's prompt
//! policy, it is a list of named checks, each giving a reason or nothing; the reasons decide, and
//! they go to the audit log.

use serde::{Deserialize, Serialize};

use domain::{StepUp, StepUpPolicy, WithoutFactor};

/// A sign-in seen earlier, as far as the signals care.
#[derive(Clone, Debug)]
pub struct Past {
    pub at: i64,
    pub ip: String,
    pub network: String,
    pub country: Option<String>,
}

/// Where this sign-in comes from.
#[derive(Clone, Debug)]
pub struct Here {
    pub ip: String,
    pub network: String,
    pub country: Option<String>,
    /// Whether this device (its cookie) has signed in to this account before.
    pub known_device: bool,
    /// Whether the account's owner blocked this device ("This wasn't me").
    pub blocked_device: bool,
}

/// Two sign-ins too far apart for the time between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Travel {
    pub from: String,
    pub to: String,
    pub km: u32,
    pub hours: f64,
}

/// What the history says about this sign-in.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Signals {
    /// No successful sign-in to this account before.
    pub first_sign_in: bool,
    pub new_device: bool,
    pub blocked_device: bool,
    pub new_ip: bool,
    pub new_network: bool,
    /// (the country of the previous sign-in, this one's) when this country is new to the account.
    pub new_country: Option<(Option<String>, String)>,
    pub impossible_travel: Option<Travel>,
}

/// Countries are compared by their centroids; big countries put the centroid far from the user, so
/// this much distance is forgiven before travel counts as impossible.
pub const TRAVEL_SLACK_KM: f64 = 500.0;

impl Signals {
    /// Compares this sign-in with the history (newest first). `speed_kmh` is the fastest travel
    /// believed possible.
    pub fn observe(history: &[Past], here: &Here, now: i64, speed_kmh: f64) -> Signals {
        let first_sign_in = history.is_empty();
        let new_country = here.country.as_ref().and_then(|c| {
            let seen = history.iter().any(|p| p.country.as_deref() == Some(c.as_str()));
            (!seen && !first_sign_in).then(|| (history.iter().find_map(|p| p.country.clone()), c.clone()))
        });
        let impossible_travel = match (history.iter().find(|p| p.country.is_some()), &here.country) {
            (Some(last), Some(to)) if last.country.as_deref() != Some(to.as_str()) => {
                let from = last.country.clone().unwrap_or_default();
                match (crate::geo::centroid(&from), crate::geo::centroid(to)) {
                    (Some(a), Some(b)) => {
                        let km = crate::geo::distance_km(a, b);
                        let hours = ((now - last.at).max(0) as f64 / 3600.0).max(1.0 / 60.0);
                        ((km - TRAVEL_SLACK_KM) / hours > speed_kmh).then(|| Travel {
                            from,
                            to: to.clone(),
                            km: km.round() as u32,
                            hours: (hours * 100.0).round() / 100.0,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        Signals {
            first_sign_in,
            new_device: !here.known_device,
            blocked_device: here.blocked_device,
            new_ip: !history.iter().any(|p| p.ip == here.ip),
            new_network: !history.iter().any(|p| p.network == here.network),
            new_country,
            impossible_travel,
        }
    }

    /// Whether anything about the sign-in looks risky (the `risky` policy's trigger).
    pub fn risky(&self) -> bool {
        self.new_device
            || self.new_ip
            || self.new_network
            || self.new_country.is_some()
            || self.impossible_travel.is_some()
    }
}

/// A second factor the user can prove now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// One of the account's passkeys (WebAuthn, with user verification): the first choice.
    Passkey,
    /// An authenticator app (RFC 6238).
    Totp,
    /// One of the single-use recovery codes given at enrolment.
    RecoveryCode,
    /// A code by text message (the first factor was email).
    Sms,
    /// A code by email (the first factor was a text message).
    Email,
}

impl Factor {
    /// The order the step-up page offers factors in, strongest first: a recovery code is the last
    /// resort, for a lost authenticator.
    pub const STRONGEST_FIRST: [Factor; 5] =
        [Factor::Passkey, Factor::Totp, Factor::Sms, Factor::Email, Factor::RecoveryCode];

    /// Its name in URLs and forms (`?factor=totp`), as serde writes it.
    pub fn name(self) -> &'static str {
        match self {
            Factor::Passkey => "passkey",
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
            Factor::Sms => "sms",
            Factor::Email => "email",
        }
    }
}

/// Why step-up asked (or refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    BlockedDevice,
    MfaDemanded,
    PolicyAlways,
    NewDevice,
    NewIp,
    NewNetwork,
    NewCountry {
        from: Option<String>,
        to: String,
    },
    ImpossibleTravel(Travel),
    /// The operator's `after_first_factor` hook required a second factor, with its reason.
    HookRequired {
        said: Option<String>,
    },
    /// The operator's `after_first_factor` hook refused the sign-in, with its reason.
    HookDenied {
        said: Option<String>,
    },
}

/// What the operator's `after_first_factor` hook said, if one is configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum HookSays {
    #[default]
    Nothing,
    RequireFactor(Option<String>),
    Deny(Option<String>),
}

/// What the request asks.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The client demanded multi-factor (`acr_values`, or an essential `acr`).
    pub demands_mfa: bool,
    /// The first factor is multi-factor already: a passkey with user verification.
    pub multi_factor: bool,
    /// The operator's `after_first_factor` hook.
    pub hook: HookSays,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// No second factor is needed. `warn`: one was called for, the user has none, and the policy
    /// lets them through (they are told by email).
    Proceed { reasons: Vec<Reason>, warn: bool },
    /// Prove one of these factors.
    Ask { factors: Vec<Factor>, reasons: Vec<Reason> },
    /// Set up an authenticator app first (the user has no second factor).
    Enroll { reasons: Vec<Reason> },
    /// The sign-in is refused (`access_denied`).
    Deny { reasons: Vec<Reason> },
}

impl Decision {
    /// Counts the decision for `/metrics`: `ostiary_step_up_decisions_total{decision, via}`, where
    /// `via` is `pages` (the hosted sign-in) or `api` (the passwordless API); and logs it at info.
    pub fn count(&self, via: &'static str) {
        let decision = match self {
            Decision::Proceed { warn: false, .. } => "proceed",
            Decision::Proceed { warn: true, .. } => "proceed_warned",
            Decision::Ask { .. } => "ask",
            Decision::Enroll { .. } => "enroll",
            Decision::Deny { .. } => "deny",
        };
        metrics::counter!("ostiary_step_up_decisions_total", "decision" => decision, "via" => via).increment(1);
        tracing::info!(decision, via, "step-up decided");
    }
}

type Check = fn(&Signals, &Request, &StepUp) -> Vec<Reason>;

/// The named checks, in order.
const CHECKS: [(&str, Check); 4] = [
    ("mfa_demanded", |_, r, _| if r.demands_mfa { vec![Reason::MfaDemanded] } else { vec![] }),
    ("hook_required", |_, r, _| match &r.hook {
        HookSays::RequireFactor(said) => vec![Reason::HookRequired { said: said.clone() }],
        _ => vec![],
    }),
    ("policy_always", |_, _, p| if p.policy == StepUpPolicy::Always { vec![Reason::PolicyAlways] } else { vec![] }),
    ("risky_sign_in", |s, _, p| if p.policy == StepUpPolicy::Risky { risk_reasons(s) } else { vec![] }),
];

fn risk_reasons(s: &Signals) -> Vec<Reason> {
    let mut r = Vec::new();
    if s.new_device {
        r.push(Reason::NewDevice);
    }
    if s.new_ip {
        r.push(Reason::NewIp);
    }
    if s.new_network {
        r.push(Reason::NewNetwork);
    }
    if let Some((from, to)) = &s.new_country {
        r.push(Reason::NewCountry { from: from.clone(), to: to.clone() });
    }
    if let Some(t) = &s.impossible_travel {
        r.push(Reason::ImpossibleTravel(t.clone()));
    }
    r
}

/// The decision. `factors` are the second factors the user can prove now.
pub fn decide(signals: &Signals, request: &Request, policy: &StepUp, factors: &[Factor]) -> Decision {
    if signals.blocked_device {
        return Decision::Deny { reasons: vec![Reason::BlockedDevice] };
    }
    if let HookSays::Deny(said) = &request.hook {
        return Decision::Deny { reasons: vec![Reason::HookDenied { said: said.clone() }] };
    }
    let reasons: Vec<Reason> = CHECKS.iter().flat_map(|(_, check)| check(signals, request, policy)).collect();
    // A passkey with user verification has proved possession of the authenticator and the user's
    // PIN or biometric, bound to this origin: it meets a demand for multi-factor, and a new device,
    // network or country asks for nothing it has not proved. The reasons are still recorded.
    if reasons.is_empty() || request.multi_factor {
        return Decision::Proceed { reasons, warn: false };
    }
    if !factors.is_empty() {
        return Decision::Ask { factors: factors.to_vec(), reasons };
    }
    match policy.without_factor {
        WithoutFactor::Deny => Decision::Deny { reasons },
        WithoutFactor::Enroll => Decision::Enroll { reasons },
        // The client demanded multi-factor: letting a single factor through cannot meet it, but
        // setting up an authenticator now can.
        WithoutFactor::Allow if request.demands_mfa || matches!(request.hook, HookSays::RequireFactor(_)) => {
            Decision::Enroll { reasons }
        }
        // A first sign-in has nothing to compare with: nothing to warn about.
        WithoutFactor::Allow => Decision::Proceed { warn: !signals.first_sign_in, reasons },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past(at: i64, ip: &str, country: &str) -> Past {
        let network = crate::geo::network(ip.parse().unwrap());
        Past { at, ip: ip.into(), network, country: Some(country.into()) }
    }

    fn here(ip: &str, country: &str, known_device: bool) -> Here {
        let network = crate::geo::network(ip.parse().unwrap());
        Here { ip: ip.into(), network, country: Some(country.into()), known_device, blocked_device: false }
    }

    #[test]
    fn signals_come_from_the_history() {
        let now = 1_000_000;
        let history = [past(now - 86_400, "198.51.100.7", "FR")];
        let same = Signals::observe(&history, &here("198.51.100.7", "FR", true), now, 1000.0);
        assert!(!same.risky(), "{same:?}");
        let new_ip_same_net = Signals::observe(&history, &here("198.51.100.8", "FR", true), now, 1000.0);
        assert!(new_ip_same_net.new_ip && !new_ip_same_net.new_network);
        let abroad = Signals::observe(&history, &here("8.8.8.8", "US", true), now, 1000.0);
        assert_eq!(abroad.new_country, Some((Some("FR".into()), "US".into())));
        assert_eq!(abroad.impossible_travel, None, "a day is enough to fly Paris to Kansas");
        let too_fast = Signals::observe(&history, &here("8.8.8.8", "US", true), now - 86_400 + 3600, 1000.0);
        let travel = too_fast.impossible_travel.expect("an hour is not");
        assert_eq!((travel.from.as_str(), travel.to.as_str()), ("FR", "US"));
        let first = Signals::observe(&[], &here("8.8.8.8", "US", false), now, 1000.0);
        assert!(first.first_sign_in && first.new_device && first.new_country.is_none());
        let neighbours = Signals::observe(&history, &here("8.8.8.8", "BE", true), now - 86_400 + 3600, 1000.0);
        assert_eq!(neighbours.impossible_travel, None, "France to Belgium in an hour is possible");
    }

    /// Each case: (what, signals, request, policy, without factor, factors, expected decision kind).
    #[test]
    fn the_policy_over_a_table_of_cases() {
        let quiet = Signals::default();
        let new_device = Signals { new_device: true, ..Signals::default() };
        let first =
            Signals { first_sign_in: true, new_device: true, new_ip: true, new_network: true, ..Signals::default() };
        let travel = Signals {
            impossible_travel: Some(Travel { from: "FR".into(), to: "JP".into(), km: 9700, hours: 1.0 }),
            ..Signals::default()
        };
        let blocked = Signals { blocked_device: true, ..Signals::default() };
        let mfa = Request { demands_mfa: true, ..Request::default() };
        let plain = Request::default();
        let passkey = Request { multi_factor: true, ..Request::default() };
        let passkey_mfa = Request { demands_mfa: true, multi_factor: true, ..Request::default() };
        let hooked = Request { hook: HookSays::RequireFactor(Some("payroll".into())), ..Request::default() };
        let hook_no = Request { hook: HookSays::Deny(None), ..Request::default() };
        let totp = [Factor::Totp, Factor::RecoveryCode];
        use StepUpPolicy::{Always, Never, Risky};
        use WithoutFactor::{Allow, Deny, Enroll};
        type Case<'a> = (&'a str, &'a Signals, &'a Request, StepUpPolicy, WithoutFactor, &'a [Factor], &'a str);
        let cases: Vec<Case> = vec![
            ("quiet sign-in, risky policy", &quiet, &plain, Risky, Allow, &totp, "proceed"),
            ("new device, risky, has TOTP", &new_device, &plain, Risky, Allow, &totp, "ask"),
            ("new device, never", &new_device, &plain, Never, Allow, &totp, "proceed"),
            ("quiet, always", &quiet, &plain, Always, Allow, &totp, "ask"),
            ("quiet, mfa demanded, never", &quiet, &mfa, Never, Allow, &totp, "ask"),
            ("new device, no factor, allow", &new_device, &plain, Risky, Allow, &[], "proceed+warn"),
            ("new device, no factor, deny", &new_device, &plain, Risky, Deny, &[], "deny"),
            ("new device, no factor, enroll", &new_device, &plain, Risky, Enroll, &[], "enroll"),
            ("mfa demanded, no factor, allow", &quiet, &mfa, Never, Allow, &[], "enroll"),
            ("first sign-in, no factor, allow", &first, &plain, Risky, Allow, &[], "proceed"),
            ("first sign-in, no factor, enroll", &first, &plain, Risky, Enroll, &[], "enroll"),
            ("impossible travel, risky", &travel, &plain, Risky, Allow, &totp, "ask"),
            ("impossible travel, never", &travel, &plain, Never, Allow, &totp, "proceed"),
            ("blocked device", &blocked, &plain, Never, Allow, &totp, "deny"),
            ("sms as the other channel", &new_device, &plain, Risky, Deny, &[Factor::Sms], "ask"),
            ("passkey, new device, risky", &new_device, &passkey, Risky, Deny, &totp, "proceed"),
            ("passkey, always", &quiet, &passkey, Always, Deny, &[], "proceed"),
            ("passkey, mfa demanded", &first, &passkey_mfa, Never, Deny, &[], "proceed"),
            ("passkey, impossible travel", &travel, &passkey, Risky, Deny, &[], "proceed"),
            ("passkey, blocked device", &blocked, &passkey, Never, Allow, &totp, "deny"),
            ("hook requires, has TOTP", &quiet, &hooked, Never, Allow, &totp, "ask"),
            ("hook requires, no factor, allow", &quiet, &hooked, Never, Allow, &[], "enroll"),
            ("hook requires, no factor, deny", &quiet, &hooked, Never, Deny, &[], "deny"),
            ("hook denies", &quiet, &hook_no, Never, Allow, &totp, "deny"),
        ];
        for (what, signals, request, policy, without_factor, factors, expected) in cases {
            let decision = decide(signals, request, &StepUp { policy, without_factor }, factors);
            let kind = match &decision {
                Decision::Proceed { warn: true, .. } => "proceed+warn",
                Decision::Proceed { .. } => "proceed",
                Decision::Ask { .. } => "ask",
                Decision::Enroll { .. } => "enroll",
                Decision::Deny { .. } => "deny",
            };
            assert_eq!(kind, expected, "{what}: {decision:?}");
        }
    }

    #[test]
    fn reasons_name_every_signal_that_counted() {
        let s = Signals { new_device: true, new_country: Some((Some("FR".into()), "US".into())), ..Signals::default() };
        let d = decide(&s, &Request { demands_mfa: true, ..Request::default() }, &StepUp::default(), &[Factor::Totp]);
        let Decision::Ask { reasons, .. } = d else { panic!("{d:?}") };
        assert_eq!(
            reasons,
            [Reason::MfaDemanded, Reason::NewDevice, Reason::NewCountry { from: Some("FR".into()), to: "US".into() }]
        );
        let json = serde_json::to_value(&reasons).unwrap();
        assert_eq!(json[2]["reason"], "new_country");
    }
}
