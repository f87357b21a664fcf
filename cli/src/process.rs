//! `fila process run` and `fila process status`, through the Robusta
//! scheduler connector API: `POST /scheduler/connector-api/process/start`
//! (`values`, `name`, `worker`, `retryCount`, and for a schedule
//! `quartzDef`, `startDate`, `endDate`, `runOnce`, `runImmediately`)
//! answers a job id (`robustaSpid`); `GET …/process/status/{id}` answers
//! its latest run: WAITING, RUNNING, SUCCEEDED or FAILED, a message and
//! the outputs as `__out_<name>`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{ProcessCommand, WaitArgs};
use crate::client::{Client, ClientError};
use crate::context::Context;
use crate::error::CliError;
use crate::poll;
use crate::table::{Table, value_text};

const BASE: [&str; 3] = ["scheduler", "connector-api", "process"];

#[derive(Deserialize)]
struct Started {
    #[serde(rename = "robustaSpid")]
    job: String,
    message: String,
}

/// A run's status answer.
struct Status {
    status: String,
    message: String,
    outputs: Vec<(String, Value)>,
    body: Value,
}

impl Status {
    fn finished(&self) -> bool {
        matches!(self.status.as_str(), "SUCCEEDED" | "FAILED")
    }
}

pub fn run(ctx: &mut Context, command: ProcessCommand) -> Result<(), CliError> {
    match command {
        ProcessCommand::Run {
            name,
            parameters,
            worker,
            retry_count,
            cron,
            start_date,
            end_date,
            run_once,
            run_immediately,
            wait,
        } => {
            let mut body = json!({
                "name": name,
                "values": parameters.into_iter().collect::<Map<String, Value>>(),
            });
            let optional = [
                ("worker", worker.map(Value::from)),
                ("retryCount", retry_count.map(Value::from)),
                ("quartzDef", cron.map(Value::from)),
                ("startDate", start_date.map(Value::from)),
                ("endDate", end_date.map(Value::from)),
                ("runOnce", run_once.then(|| Value::from("Y"))),
                ("runImmediately", run_immediately.then(|| Value::from("Y"))),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            start(ctx, &body, wait)
        }
        ProcessCommand::Status { job, json } => {
            let status = status(&ctx.client, &job)?;
            if json {
                writeln!(ctx.out, "{}", status.body)?;
            } else {
                print(ctx, &job, &status)?;
            }
            Ok(())
        }
    }
}

fn start(ctx: &mut Context, body: &Value, wait: WaitArgs) -> Result<(), CliError> {
    let mut segments = BASE.to_vec();
    segments.push("start");
    let url = ctx.client.url(&segments, &[]);
    let started: Started = ctx.client.post_json(url, body)?.json()?;
    writeln!(ctx.out, "job {}: {}", started.job, started.message)?;
    if !wait.wait {
        return Ok(());
    }
    let mut task = ctx.progress.spinner(&format!("job {}", started.job));
    let client = &ctx.client;
    let what = format!("job {} has not finished", started.job);
    let done = poll::until(wait.timeout, &what, || {
        let status = status(client, &started.job)?;
        task.state(&status.status);
        Ok(status.finished().then_some(status))
    })?;
    task.finish();
    print(ctx, &started.job, &done)?;
    if done.status == "FAILED" {
        return Err(CliError::WorkFailed(format!(
            "job {} failed: {}",
            started.job, done.message
        )));
    }
    Ok(())
}

fn status(client: &Client, job: &str) -> Result<Status, ClientError> {
    let mut segments = BASE.to_vec();
    segments.extend(["status", job]);
    let answer = client.get(client.url(&segments, &[]))?.ok()?;
    let Some(fields) = answer.body.as_object() else {
        return Err(answer.unexpected("not a JSON object".into()));
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let Some(status) = text("status") else {
        return Err(answer.unexpected("no status".into()));
    };
    Ok(Status {
        status: status.to_string(),
        message: text("message").unwrap_or_default().to_string(),
        outputs: fields
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("__out_")?.to_string(), v.clone())))
            .collect(),
        body: answer.body.clone(),
    })
}

/// The status, the message, then each output (`__out_` left out).
fn print(ctx: &mut Context, job: &str, status: &Status) -> Result<(), CliError> {
    writeln!(ctx.out, "job {job}: {}: {}", status.status, status.message)?;
    if !status.outputs.is_empty() {
        let mut table = Table::new(&["OUTPUT", "VALUE"]);
        for (name, value) in &status.outputs {
            table.row(vec![name.clone(), value_text(value)]);
        }
        table.print(ctx.out)?;
    }
    Ok(())
}
