//! `/authorize`'s parameters: parsed and checked, whatever the bytes, without a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    authorization_server::fuzzing::authorize_parameters(data);
});
