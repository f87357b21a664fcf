// Drives fila's web dashboard in a headless Chromium. An admin logs in
// with HTTP Basic, waits until a TAF ticket shows 100%, sees EAI lots with
// their progress and process jobs (filtered by status), replays a dead
// letter and sees it leave the list, pauses the EAI queue, opens the
// ticket's records in error, then the records of one error code of the
// last hour, and retries one; the page is then saved as a screenshot. A
// reader then sees the same page read-only.
//
//   node tests/ui/dashboard.mjs <base url> <ticket> <screenshot.png>
//
// Credentials come from FILA_UI_ADMIN and FILA_UI_READER (`name:password`),
// the browser from FILA_UI_CHROMIUM (default: Debian's /usr/bin/chromium).
// Exits 0 when every step passed, 1 with the reason otherwise.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { chromium } from "playwright-core";

const STEP_MS = 60_000;

const [base, ticket, screenshot] = process.argv.slice(2);
if (!base || !ticket || !screenshot) {
  console.error("usage: node dashboard.mjs <base url> <ticket> <screenshot.png>");
  process.exit(2);
}

function credentials(variable) {
  const value = process.env[variable] || "";
  const at = value.indexOf(":");
  if (at < 1) {
    console.error(`${variable} must be name:password`);
    process.exit(2);
  }
  return { username: value.slice(0, at), password: value.slice(at + 1) };
}
const admin = credentials("FILA_UI_ADMIN");
const reader = credentials("FILA_UI_READER");

const browser = await chromium.launch({
  executablePath: process.env.FILA_UI_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Containers often run as root, where Chromium's sandbox cannot start.
  args: ["--no-sandbox"],
});

/**
 * Opens the dashboard as a user. Script errors, console errors and failed
 * requests are collected in `problems`, except answers `expected` allows.
 */
async function open(httpCredentials, problems, expected = () => false) {
  const context = await browser.newContext({ httpCredentials, viewport: { width: 1360, height: 1000 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400 && !expected(r)) problems.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => d.accept());
  const response = await page.goto(`${base}/ui`);
  if (!response || response.status() !== 200) {
    throw new Error(`GET /ui answered ${response && response.status()}`);
  }
  return page;
}

async function asAdmin(problems) {
  const page = await open(admin, problems);

  // The lot is processed while the page polls.
  const row = page.getByTestId("ticket-row").filter({ has: page.getByRole("rowheader", { name: ticket, exact: true }) });
  await row.getByTestId("ticket-progress").filter({ hasText: "100%" }).waitFor({ timeout: STEP_MS });
  console.log(`ticket ${ticket} shows 100%`);

  // EAI lots show their progress; process jobs their latest run, and the
  // status filter keeps only the jobs whose latest run has that status.
  await page.getByTestId("eai-lot").getByTestId("lot-progress").filter({ hasText: "100%" }).first().waitFor({ timeout: STEP_MS });
  console.log("an EAI lot shows 100%");
  const jobsFilter = page.locator("#jobs-filter");
  await page.locator('[data-testid="job-row"][data-status="succeeded"]').first().waitFor({ timeout: STEP_MS });
  await jobsFilter.getByRole("button", { name: "failed", exact: true }).click();
  await page.locator('[data-testid="job-row"][data-status="failed"]').first().waitFor({ timeout: STEP_MS });
  await page.locator('[data-testid="job-row"]:not([data-status="failed"])').first().waitFor({ state: "detached", timeout: STEP_MS });
  await jobsFilter.getByRole("button", { name: "All", exact: true }).click();
  await page.locator('[data-testid="job-row"][data-status="succeeded"]').first().waitFor({ timeout: STEP_MS });
  console.log("process jobs listed, and filtered by status");

  // Replay the oldest dead letter: its row leaves the list.
  const letter = page.getByTestId("dead-letter").first();
  await letter.waitFor({ timeout: STEP_MS });
  const id = await letter.getAttribute("data-id");
  await letter.getByTestId("replay").click();
  await page.locator(`[data-testid="dead-letter"][data-id="${id}"]`).waitFor({ state: "detached", timeout: STEP_MS });
  await page.getByTestId("status").filter({ hasText: "Replay: done" }).waitFor({ timeout: STEP_MS });
  console.log(`dead letter ${id} replayed`);

  // Pause the EAI queue: its row then offers to resume it.
  const eai = page.locator('[data-testid="queue-row"][data-queue="eai"]');
  await eai.getByTestId("queue-pause").click();
  await eai.getByTestId("queue-resume").waitFor({ timeout: STEP_MS });
  console.log("queue eai paused");

  // The queues' rates come from RabbitMQ's management API: figures, not dashes.
  const publish = (await page.locator('[data-testid="queue-row"][data-queue="taf"] td').nth(2).textContent()).trim();
  if (!/^[0-9]/.test(publish)) throw new Error(`the taf queue's publish rate shows "${publish}"`);
  console.log(`taf publish rate ${publish}/s`);

  // Let the charts gather samples, then open the ticket's errors.
  await page.waitForTimeout(12_000);
  const errors = row.getByTestId("ticket-errors");
  if (await errors.count()) {
    await errors.click();
    await page.getByTestId("error-record").first().waitFor({ timeout: STEP_MS });
  }

  // The last hour's errors by code: one code lists its records, of every
  // ticket, and an admin retries one of them.
  await page.locator('[data-testid="error-code"][data-code="000002"]').getByTestId("error-code-open").click();
  await page.locator("#records-title").filter({ hasText: "in the last hour" }).waitFor({ timeout: STEP_MS });
  const record = page.getByTestId("error-record").filter({ has: page.getByRole("cell", { name: ticket, exact: true }) }).first();
  await record.waitFor({ timeout: STEP_MS });
  const recNo = await record.getAttribute("data-rec-no");
  await record.getByTestId("record-retry").click();
  await page.getByTestId("status").filter({ hasText: "Retry: done" }).waitFor({ timeout: STEP_MS });
  console.log(`the errors 000002 of the last hour listed; record ${recNo} retried`);
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot saved to ${screenshot}`);
}

async function asReader(problems) {
  const forbidden = (r) => r.status() === 403 && new URL(r.url()).pathname.startsWith("/admin/");
  const page = await open(reader, problems, forbidden);
  await page.getByTestId("status").filter({ hasText: "read-only" }).waitFor({ timeout: STEP_MS });
  const pause = page.locator('[data-testid="queue-row"][data-queue="taf"]').getByTestId("queue-pause");
  if (!(await pause.isDisabled())) throw new Error("a reader's Pause button is enabled");
  await page.getByTestId("dead-letters").getByText("needs the admin role").waitFor({ timeout: STEP_MS });
  console.log("a reader sees the page read-only");
}

const problems = [];
let failed = false;
try {
  await asAdmin(problems);
  await asReader(problems);
  if (problems.length) throw new Error(problems.join("\n"));
} catch (e) {
  console.error(`dashboard test failed: ${e.message}`);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
