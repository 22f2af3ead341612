//! Identifiers as AWS writes them, drawn from the simulator's seeded generator.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn draw(rng: &mut ChaCha8Rng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A role or user id (`AROA…`, `AIDA…`: 21 characters).
pub fn unique_id(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    format!("{prefix}{}", draw(rng, UPPER_ALNUM, 21 - prefix.len()))
}

/// A temporary access key id (`ASIA` + 16).
pub fn session_key(rng: &mut ChaCha8Rng) -> String {
    format!("ASIA{}", draw(rng, UPPER_ALNUM, 16))
}

/// A long-term access key id (`AKIA` + 16).
pub fn user_key(rng: &mut ChaCha8Rng) -> String {
    format!("AKIA{}", draw(rng, UPPER_ALNUM, 16))
}

/// A random (version 4) UUID.
pub fn uuid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

pub fn hex(rng: &mut ChaCha8Rng, n: usize) -> String {
    draw(rng, HEX, n)
}

pub fn alnum(rng: &mut ChaCha8Rng, n: usize) -> String {
    draw(rng, ALNUM, n)
}

/// An S3 request id (16 upper-case hex characters).
pub fn s3_request_id(rng: &mut ChaCha8Rng) -> String {
    hex(rng, 16).to_uppercase()
}
