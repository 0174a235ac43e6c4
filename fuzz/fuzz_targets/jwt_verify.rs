//! `jwt::verify`: no input that we did not sign verifies, and none panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    authorization_server::fuzzing::jwt_verify(data);
});
