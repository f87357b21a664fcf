//! `fila taf`: lots sent to `POST /rest/wstafst2` and the statuses of their
//! records read back from `GET`, page after page.

mod pages;
mod records;
mod send;
mod status;

use crate::args::TafCommand;
use crate::context::Context;
use crate::error::CliError;

pub fn run(ctx: &mut Context, command: TafCommand) -> Result<(), CliError> {
    match command {
        TafCommand::Send { files, wait } => send::send(ctx, &files, wait),
        TafCommand::Status {
            ticket,
            key,
            search_mode,
            json,
        } => {
            let query = pages::Query {
                ticket: ticket.as_deref(),
                key: key.as_deref(),
                search_mode: search_mode.as_deref(),
            };
            status::status(ctx, &query, json)
        }
    }
}
