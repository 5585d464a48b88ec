import nodemailer from 'nodemailer';
import type pino from 'pino';
import { fetchFailureReason } from '../../core/errors';
import { logger as defaultLogger } from '../../core/logger';
import { redactUrls } from '../../core/redact';

interface AlertRun {
  workflowId: string;
  runId: string;
  pipelineId: string;
  /** Link to the run in the Temporal Web UI. */
  uiUrl?: string;
}

/** A run failed (the default kind). */
export interface FailureAlert extends AlertRun {
  kind?: 'failure';
  error: string;
  failedAt: string;
}

/** A run completed but the data wants a look: quality checks that warned, a stale pipeline. */
export interface WarningAlert extends AlertRun {
  kind: 'warning';
  /** What it is about, e.g. `quality checks warned`: the subject says it. */
  title: string;
  /** The facts, one per line. */
  details: string;
  at: string;
}

export type AlertInput = FailureAlert | WarningAlert;

/** How each kind reads: its subject, first sentence, and the label and value of its time and of its text (redacted: it may quote a URL with credentials). */
function wording(input: AlertInput): { subject: string; intro: string; when: [string, string]; body: [string, string] } {
  if (input.kind === 'warning') {
    return {
      subject: `orders-etl warning: ${input.title}: ${input.pipelineId}`,
      intro: `An orders-etl run completed with a warning: ${input.title}.`,
      when: ['At', input.at],
      body: ['Warning', redactUrls(input.details)],
    };
  }
  return { subject: `orders-etl run failed: ${input.pipelineId}`, intro: 'An orders-etl run failed.', when: ['Failed at', input.failedAt], body: ['Error', redactUrls(input.error)] };
}

const TIMEOUT_MS = 10_000;

/**
 * Notifies about a failed run (or a warning, `kind`) by email (ALERT_SMTP_URL + ALERT_EMAIL_TO) and/or a Slack-compatible webhook
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
    const { subject, body } = wording(input);
    log.warn({ ...context, alert: subject, text: body[1] }, 'no alert channel is configured (set ALERT_SMTP_URL + ALERT_EMAIL_TO or ALERT_WEBHOOK_URL)');
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

/** What an alert says; `body` replaces its text (clipped for Slack). */
function facts(input: AlertInput, body = wording(input).body): [string, string][] {
  return [
    ['Pipeline', input.pipelineId],
    ['Workflow ID', input.workflowId],
    ['Run ID', input.runId],
    wording(input).when,
    body,
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
      subject: wording(input).subject,
      text: `${wording(input).intro}\n\n${facts(input).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`,
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
  const { subject: title, when, body } = wording(input);
  const clipped: [string, string] = [body[0], clip(body[1], 2500)]; // Slack rejects section texts over 3000 characters
  const text = [title, ...facts(input, clipped).slice(1).map(([k, v]) => `${k}: ${k === 'Temporal UI' ? v : escapeSlack(v)}`)].join('\n');
  const field = (k: string, v: string) => ({ type: 'mrkdwn', text: `*${k}*\n${escapeSlack(v)}` });
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, 150) } },
    { type: 'section', fields: [field('Workflow ID', input.workflowId), field('Run ID', input.runId), field(...when)] },
    { type: 'section', text: { type: 'mrkdwn', text: `*${clipped[0]}*\n\`\`\`${escapeSlack(clipped[1])}\`\`\`` } },
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
    const reason = fetchFailureReason(err, TIMEOUT_MS);
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
