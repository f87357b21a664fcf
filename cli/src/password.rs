//! `fila user hash-password`: the argon2id PHC string for a `[[users]]`
//! entry's `password_hash`, made by the same function as `fila-api
//! hash-password`. The password is read from stdin (all of it, less every
//! CR and LF at its end, so that `echo secret |` gives `secret`), or asked
//! for twice without echo when stdin is a terminal.

use std::io::{IsTerminal, Read, Write};

use fila_shared::password::hash_password;

use crate::error::CliError;
use crate::input::InputError;

pub fn hash(out: &mut dyn Write) -> Result<(), CliError> {
    let password = if std::io::stdin().is_terminal() {
        let first = ask("password: ")?;
        if ask("again: ")? != first {
            return Err(InputError::Password("the two passwords differ".into()).into());
        }
        first
    } else {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| InputError::Password(format!("cannot read the password: {e}")))?;
        input.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        return Err(InputError::Password(
            "the password is empty: give it on stdin, e.g. `printf %s secret | fila user hash-password`"
                .into(),
        )
        .into());
    }
    let hash = hash_password(&password)
        .map_err(|e| InputError::Password(format!("cannot hash the password: {e}")))?;
    writeln!(out, "{hash}")?;
    Ok(())
}

fn ask(prompt: &str) -> Result<String, InputError> {
    rpassword::prompt_password(prompt)
        .map_err(|e| InputError::Password(format!("cannot read the password: {e}")))
}
