//! `cargo bench -p authorization-server --bench signing`: the cost of signing and verifying one
//! token with each algorithm, through the cached key (no key parsing per token).

use std::time::Instant;

use authorization_server::keys::{Alg, KeyRing, generate_key};

fn main() {
    let sealer = domain::MasterKey::generate().sealer();
    let stored: Vec<_> = Alg::ALL.iter().map(|a| generate_key(*a, &sealer, 0).expect("key")).collect();
    let ring = KeyRing::open(stored, &sealer).expect("ring");
    let claims = serde_json::json!({
        "iss": "https://id.example.com", "sub": "G7ibt3kuOvfn2Y47LFRwNg", "aud": "demo-app",
        "exp": 1_800_000_000, "iat": 1_799_996_400, "auth_time": 1_799_996_400, "nonce": "n-0S6_WzA2Mj",
        "amr": ["otp"], "acr": "urn:ostiary:acr:single-factor", "sid": "abc", "email": "ann@example.com",
    });
    println!("{:<8} {:>14} {:>14}", "alg", "sign µs/op", "verify µs/op");
    for alg in Alg::ALL {
        let key = ring.active(alg, 0).expect("active key");
        let n = if alg == Alg::RS256 { 2_000 } else { 20_000 };
        let token = authorization_server::jwt::sign(key, "JWT", &claims).expect("sign");
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(authorization_server::jwt::sign(key, "JWT", &claims).expect("sign"));
        }
        let sign = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let start = Instant::now();
        for _ in 0..n {
            let v: Option<serde_json::Value> = authorization_server::jwt::verify(&ring, &token, "JWT", 0, 1);
            std::hint::black_box(v.expect("verifies"));
        }
        let verify = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("{:<8} {:>14.1} {:>14.1}", alg.as_str(), sign, verify);
    }
}
