//! Passwords are kept only as argon2id PHC strings (`[[users]]`
//! `password_hash`). `fila-api hash-password` and `fila user hash-password`
//! both print one through [`hash_password`], so the two never disagree on
//! the algorithm or its parameters.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;

    use super::*;

    #[test]
    fn the_hash_verifies_the_password_and_only_it() {
        let hash = hash_password("s3cret").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        let parsed = PasswordHash::new(&hash).expect("a PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"s3cret", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"secret", &parsed)
                .is_err()
        );
        assert_ne!(hash, hash_password("s3cret").expect("hash"), "salted");
    }
}
