//! What a command that talks to fila works with.

use std::io::Write;

use crate::client::Client;
use crate::progress::Progress;

pub struct Context<'a> {
    pub client: Client,
    pub progress: Progress,
    /// Results go to stdout; progress and errors to stderr.
    pub out: &'a mut dyn Write,
}
