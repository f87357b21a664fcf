//! `fila schedule`: the process schedules of the admin API
//! (`/admin/schedules`): list, pause, resume, delete.

use reqwest::Method;
use serde_json::Value;

use crate::args::ScheduleCommand;
use crate::context::Context;
use crate::error::CliError;
use crate::table::{Table, value_text};

pub fn run(ctx: &mut Context, command: ScheduleCommand) -> Result<(), CliError> {
    match command {
        ScheduleCommand::List { state, json } => {
            let query: Vec<(&str, &str)> =
                state.map(|s| ("state", s.as_str())).into_iter().collect();
            let url = ctx.client.url(&["admin", "schedules"], &query);
            let answer = ctx.client.get(url)?.ok()?;
            if json {
                writeln!(ctx.out, "{}", answer.body)?;
                return Ok(());
            }
            let Some(schedules) = answer.body["schedules"].as_array() else {
                return Err(answer.unexpected("no schedules list".into()).into());
            };
            let mut table = Table::new(&[
                "UID",
                "PROCESS",
                "QUARTZ",
                "STATE",
                "NEXT FIRE",
                "FIRES",
                "GROUP",
            ]);
            for schedule in schedules {
                table.row(row(schedule));
            }
            table.print(ctx.out)?;
            Ok(())
        }
        ScheduleCommand::Pause { uid } => change(ctx, &uid, "pause"),
        ScheduleCommand::Resume { uid } => change(ctx, &uid, "resume"),
        ScheduleCommand::Delete { uid } => {
            let url = ctx.client.url(&["admin", "schedules", &uid], &[]);
            ctx.client.send(Method::DELETE, url, None)?.ok()?;
            writeln!(ctx.out, "schedule {uid}: deleted")?;
            Ok(())
        }
    }
}

/// Pauses or resumes; prints the schedule as it is now.
fn change(ctx: &mut Context, uid: &str, action: &str) -> Result<(), CliError> {
    let url = ctx.client.url(&["admin", "schedules", uid, action], &[]);
    let answer = ctx.client.send(Method::POST, url, None)?.ok()?;
    let schedule = &answer.body;
    writeln!(
        ctx.out,
        "schedule {uid}: {}, next fire {}",
        value_text(&schedule["state"]),
        value_text(&schedule["nextFire"])
    )?;
    Ok(())
}

fn row(schedule: &Value) -> Vec<String> {
    [
        "uid",
        "process",
        "quartzDef",
        "state",
        "nextFire",
        "fires",
        "workerGroup",
    ]
    .iter()
    .map(|field| value_text(&schedule[field]))
    .collect()
}
