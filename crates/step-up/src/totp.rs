//! Authenticator apps (TOTP, RFC 6238): SHA-1, 6 digits, 30-second steps, one step of clock skew
//! either way (§5.2), and each step accepted once (the store keeps the last one). Recovery codes:
//! ten single-use codes shown once at enrolment, stored as keyed hashes.

use totp_rs::{Algorithm, Builder, Secret, Totp};

pub const DIGITS: usize = 6;
pub const STEP: u64 = 30;
pub const RECOVERY_CODES: usize = 10;

/// A new shared secret: 160 bits from the CSPRNG (RFC 4226 §4 recommends 160).
pub fn new_secret() -> Vec<u8> {
    Secret::generate().as_bytes().to_vec()
}

/// The TOTP of a secret, labelled for authenticator apps as `issuer:account`.
pub fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp, String> {
    // A colon would end the label's issuer part early (Key URI Format), so it becomes a space.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_step_duration(STEP)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| format!("TOTP: {e}"))
}

/// The secret as people type it into an app: base32, in groups of four.
pub fn secret_text(totp: &Totp) -> String {
    let b32 = totp.secret().to_base32();
    b32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// The `otpauth://` URI as an inline SVG QR code (no image file, no inline style: CSP-clean).
pub fn qr_svg(totp: &Totp) -> Result<String, String> {
    use qrcode::render::svg;
    let url = totp.to_url().map_err(|e| format!("TOTP URL: {e}"))?;
    let code = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| format!("QR code: {e}"))?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .quiet_zone(true)
        .build();
    Ok(image.trim_start_matches(r#"<?xml version="1.0" standalone="yes"?>"#).trim().to_owned())
}

/// The time step a typed code belongs to, if it is right now (±1 step). The caller accepts a step
/// only once.
pub fn check(totp: &Totp, typed: &str, now: i64) -> Option<i64> {
    let code: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) || now < 0 {
        return None;
    }
    totp.check(&code, now as u64).and_then(|step| i64::try_from(step).ok())
}

/// Ten recovery codes like `k7mp-x3qd`: eight characters drawn uniformly from an alphabet of 31
/// without look-alikes, about 39.6 bits each, and single-use behind the failure budget.
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars = domain::secret::random_from(RECOVERY_ALPHABET, 8);
            format!("{}-{}", &chars[..4], &chars[4..])
        })
        .collect()
}

/// The keyed hashes recovery codes are stored as.
pub fn recovery_hashes(hasher: &domain::KeyedHasher, codes: &[String]) -> Vec<Vec<u8>> {
    codes.iter().map(|c| hasher.hash("recovery-code", &normalize_recovery(c)).0).collect()
}

/// How an authenticator app labels the account: its email address, else its phone number.
pub fn account_label(user: &domain::User) -> String {
    user.email
        .as_ref()
        .map(|e| e.to_string())
        .or_else(|| user.phone.as_ref().map(|n| n.to_string()))
        .unwrap_or_else(|| user.id.to_string())
}

/// The characters of recovery codes: no 0/o, 1/l/i.
pub const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A typed recovery code in the form it was hashed in: lower case, without spaces or dashes.
pub fn normalize_recovery(typed: &str) -> String {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    /// Every character of the alphabet is as likely as any other (a digit pair taken modulo 31
    /// made the first seven a third likelier).
    #[test]
    fn recovery_codes_draw_every_character_equally_often() {
        let mut counts = [0u32; 256];
        for _ in 0..1000 {
            for code in recovery_codes() {
                for b in code.bytes().filter(|b| *b != b'-') {
                    counts[usize::from(b)] += 1;
                }
            }
        }
        let seen: Vec<u32> = RECOVERY_ALPHABET.iter().map(|b| counts[usize::from(*b)]).collect();
        assert_eq!(seen.iter().sum::<u32>(), 80_000, "only alphabet characters");
        let (min, max) = (*seen.iter().min().unwrap(), *seen.iter().max().unwrap());
        // Expected 2581 each; a uniform draw stays within a few percent (σ ≈ 50).
        assert!(f64::from(max) / f64::from(min) < 1.15, "{seen:?}");
    }

    #[test]
    fn rfc_6238_appendix_b_vectors_verify() {
        let t = totp(RFC_SECRET, "Ostiary", "ann@example.com").unwrap();
        for (time, code, step) in
            [(59, "287082", 1), (1_111_111_109, "081804", 37_037_036), (2_000_000_000, "279037", 66_666_666)]
        {
            assert_eq!(check(&t, code, time), Some(step), "T={time}");
        }
        assert_eq!(check(&t, "287082", 89), Some(1), "one step of skew");
        assert_eq!(check(&t, "287082", 150), None, "too late");
        assert_eq!(check(&t, "287 082", 59), Some(1), "spaces are ignored");
        assert_eq!(check(&t, "28708", 59), None);
    }

    #[test]
    fn enrolment_material_is_well_formed() {
        let t = totp(&new_secret(), "Ostiary: Shop", "ann@example.com").unwrap();
        let url = t.to_url().unwrap();
        assert!(url.starts_with("otpauth://totp/Ostiary%20%20Shop:ann%40example.com?secret="), "{url}");
        let svg = qr_svg(&t).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<path"), "{svg}");
        assert_eq!(secret_text(&t).replace(' ', "").len(), 32, "160 bits in base32");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalise() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 9 && c.as_bytes()[4] == b'-'));
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(normalize_recovery(" K7MP-x3qd "), "k7mpx3qd");
    }
}
