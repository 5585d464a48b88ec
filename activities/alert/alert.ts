import nodemailer from 'nodemailer';
import type pino from 'pino';
import { logger as defaultLogger } from '../../core/logger';
import { redactUrls } from '../../core/redact';

export interface AlertInput {
  workflowId: string;
  runId: string;
  pipelineId: string;
  /** What happened: a failure's error; for schema drift, the changes. */
  error: string;
  /** When: the failure; for schema drift, when the load found the changes. */
  failedAt: string;
  /** Link to the run in the Temporal Web UI. */
  uiUrl?: string;
  /** Default `failure`. */
  kind?: AlertKind;
}

/** A failed run, or the schema drift of a load that went through (activities/alert/schema-drift-alert.ts). */
export type AlertKind = 'failure' | 'schema_drift';

/** How each kind reads: the subject (before the pipeline), the email's first line, and the labels of `error` and `failedAt`. */
const WORDING: Record<AlertKind, { subject: string; intro: string; error: string; at: string }> = {
  failure: { subject: 'orders-etl run failed', intro: 'An orders-etl run failed.', error: 'Error', at: 'Failed at' },
  schema_drift: {
    subject: 'orders-etl schema drift',
    intro: 'An orders-etl load saw fields appear, vanish or change type. The load went through; the raw zone keeps every record as received.',
    error: 'Changes',
    at: 'Detected at',
  },
};

const TIMEOUT_MS = 10_000;

/**
 * Notifies about a failed run by email (ALERT_SMTP_URL + ALERT_EMAIL_TO) and/or a Slack-compatible webhook
 * (ALERT_WEBHOOK_URL). Both channels are attempted before any failure is thrown, so one broken channel does not
 * silence the other; the throw lets Temporal retry the alert activity (delivery is at least once).
 */
export async function sendAlert(input: AlertInput, env: NodeJS.ProcessEnv, log: pino.Logger = defaultLogger): Promise<{ email: boolean; webhook: boolean }> {
  const smtpUrl = env.ALERT_SMTP_URL?.trim();
  const emailTo = env.ALERT_EMAIL_TO?.trim();
  const webhookUrl = env.ALERT_WEBHOOK_URL?.trim();
  const email = Boolean(smtpUrl && emailTo);
  const webhook = Boolean(webhookUrl);
  const context = { workflowId: input.workflowId, runId: input.runId, pipelineId: input.pipelineId };

  if (!email && !webhook) {
    log.warn({ ...context, error: input.error }, `${WORDING[input.kind ?? 'failure'].subject} but no alert channel is configured (set ALERT_SMTP_URL + ALERT_EMAIL_TO or ALERT_WEBHOOK_URL)`);
    return { email: false, webhook: false };
  }
  if (smtpUrl && !emailTo) log.warn('ALERT_SMTP_URL is set without ALERT_EMAIL_TO; no email alert');

  const results = await Promise.allSettled([
    email ? sendEmail(input, smtpUrl!, emailTo!, env.ALERT_EMAIL_FROM?.trim() || 'orders-etl@localhost') : Promise.resolve(),
    webhook ? postWebhook(input, webhookUrl!) : Promise.resolve(),
  ]);
  const [mailResult, hookResult] = results;
  // Only the redacted SMTP URL and the webhook's origin are logged: the Slack webhook path is itself a credential.
  if (email) {
    if (mailResult.status === 'fulfilled') log.info({ ...context, to: emailTo, smtp: redactUrls(smtpUrl!) }, 'alert email sent');
    else log.error({ ...context, smtp: redactUrls(smtpUrl!), err: mailResult.reason }, 'alert email failed');
  }
  if (webhook) {
    if (hookResult.status === 'fulfilled') log.info({ ...context, webhook: originOf(webhookUrl!) }, 'alert webhook sent');
    else log.error({ ...context, webhook: originOf(webhookUrl!), err: hookResult.reason }, 'alert webhook failed');
  }
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (failures.length > 0) throw new Error(`alert delivery failed: ${failures.join('; ')}`);
  return { email, webhook };
}

/** What an alert says, its error redacted: it may quote a URL with credentials. */
function facts(input: AlertInput): [string, string][] {
  const wording = WORDING[input.kind ?? 'failure'];
  return [
    ['Pipeline', input.pipelineId],
    ['Workflow ID', input.workflowId],
    ['Run ID', input.runId],
    [wording.at, input.failedAt],
    [wording.error, redactUrls(input.error)],
    ...(input.uiUrl ? [['Temporal UI', input.uiUrl] as [string, string]] : []),
  ];
}

async function sendEmail(input: AlertInput, smtpUrl: string, to: string, from: string): Promise<void> {
  // Options given next to `url` only apply where the URL's own query (e.g. ?secure=true) does not set them.
  const transport = nodemailer.createTransport({ url: smtpUrl, connectionTimeout: TIMEOUT_MS, greetingTimeout: TIMEOUT_MS, socketTimeout: 30_000 });
  try {
    await transport.sendMail({
      from,
      to,
      subject: `${WORDING[input.kind ?? 'failure'].subject}: ${input.pipelineId}`,
      text: `${WORDING[input.kind ?? 'failure'].intro}\n\n${facts(input).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`,
    });
  } catch (err) {
    // nodemailer errors name the server and SMTP reply, never the password; re-wrap anyway to keep the URL out.
    throw new Error(`email: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    transport.close();
  }
}

/** Slack mrkdwn treats &, < and > as control characters. */
const escapeSlack = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

function slackPayload(input: AlertInput): { text: string; blocks: unknown[] } {
  const error = clip(redactUrls(input.error), 2500); // Slack rejects section texts over 3000 characters
  const wording = WORDING[input.kind ?? 'failure'];
  const title = `${wording.subject}: ${input.pipelineId}`;
  const text = [title, ...facts({ ...input, error }).slice(1).map(([k, v]) => `${k}: ${k === 'Temporal UI' ? v : escapeSlack(v)}`)].join('\n');
  const field = (k: string, v: string) => ({ type: 'mrkdwn', text: `*${k}*\n${escapeSlack(v)}` });
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, 150) } },
    { type: 'section', fields: [field('Workflow ID', input.workflowId), field('Run ID', input.runId), field(wording.at, input.failedAt)] },
    { type: 'section', text: { type: 'mrkdwn', text: `*${wording.error}*\n\`\`\`${escapeSlack(error)}\`\`\`` } },
  ];
  if (input.uiUrl) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `<${input.uiUrl}|Open the run in the Temporal UI>` } });
  return { text, blocks };
}

async function postWebhook(input: AlertInput, url: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slackPayload(input)),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    // Thrown fresh, without `cause`: undici/URL errors can carry the full URL, which must not reach Temporal's history.
    const reason = err instanceof Error && err.name === 'TimeoutError' ? `timed out after ${TIMEOUT_MS} ms` : err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw new Error(`webhook ${originOf(url)}: ${reason.split(url).join('<webhook URL>')}`);
  }
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    throw new Error(`webhook ${originOf(url)} answered HTTP ${res.status}${body ? `: ${clip(body.trim(), 200)}` : ''}`);
  }
  await res.body?.cancel().catch(() => undefined); // release the connection
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
