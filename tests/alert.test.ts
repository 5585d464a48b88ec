import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { sendAlert, type AlertInput } from '../activities/alert/alert';
import { createLogger } from '../core/logger';

const input: AlertInput = {
  workflowId: 'orders-etl-abc123',
  runId: 'run-0001',
  pipelineId: 'pipe-42',
  error: 'Orders API answered 404 <Not Found>',
  failedAt: '2024-05-01T10:00:00.000Z',
  uiUrl: 'http://localhost:8233/namespaces/default/workflows/orders-etl-abc123/run-0001/history',
};

interface Mail { from?: string; to: string[]; data: string; user?: string }

/** A real SMTP server: nodemailer speaks the full protocol (EHLO, AUTH, DATA) to it. */
async function startSmtp(): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true, // the test URL carries credentials over plain TCP
    disabledCommands: ['STARTTLS'], // otherwise nodemailer upgrades and rejects the self-signed certificate
    logger: false,
    onAuth(auth, _session, cb) {
      cb(null, { user: auth.username });
    },
    onData(stream, session, cb) {
      let data = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (data += chunk));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
          user: session.user as string | undefined,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function startReceiver(status: number): Promise<{ url: string; bodies: unknown[]; server: Server }> {
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'boom');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/services/T000/B000/webhooksecret42`, bodies, server };
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => string } {
  let out = '';
  const stream = new Writable({ write(chunk, _enc, cb) { out += chunk.toString(); cb(); } });
  return { logger: createLogger(stream, { LOG_LEVEL: 'debug' }), lines: () => out };
}

/** Undoes quoted-printable soft line breaks so long values (the UI link) can be matched. */
const unfold = (raw: string) => raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');

describe('sendAlert', () => {
  test('sends an email over SMTP and posts the webhook, without logging secrets', async () => {
    const smtp = await startSmtp();
    const hook = await startReceiver(200);
    const log = capture();
    try {
      const result = await sendAlert(
        input,
        {
          ALERT_SMTP_URL: `smtp://alice:s3cr3t-pass@127.0.0.1:${smtp.port}`,
          ALERT_EMAIL_TO: 'oncall@example.com',
          ALERT_EMAIL_FROM: 'etl@example.com',
          ALERT_WEBHOOK_URL: hook.url,
        },
        log.logger,
      );
      expect(result).toEqual({ email: true, webhook: true });

      expect(smtp.mails).toHaveLength(1);
      const mail = smtp.mails[0];
      expect(mail.to).toEqual(['oncall@example.com']);
      expect(mail.from).toBe('etl@example.com');
      expect(mail.user).toBe('alice');
      expect(mail.data).toMatch(/^Subject: orders-etl run failed: pipe-42\r?$/m);
      expect(mail.data).toMatch(/^To: oncall@example.com\r?$/m);
      const body = unfold(mail.data);
      expect(body).toContain(input.workflowId);
      expect(body).toContain(input.runId);
      expect(body).toContain(input.error);
      expect(body).toContain(input.uiUrl);

      expect(hook.bodies).toHaveLength(1);
      const payload = hook.bodies[0] as { text: string; blocks: unknown[] };
      expect(payload.text).toContain('orders-etl run failed: pipe-42');
      expect(payload.text).toContain(input.workflowId);
      expect(payload.text).toContain('Orders API answered 404 &lt;Not Found&gt;'); // Slack mrkdwn escaping
      expect(payload.text).toContain(input.uiUrl);
      expect(Array.isArray(payload.blocks)).toBe(true);

      const logs = log.lines();
      expect(logs).toContain('alert email sent');
      expect(logs).toContain('smtp://alice:***@127.0.0.1');
      expect(logs).not.toContain('s3cr3t-pass');
      expect(logs).not.toContain('webhooksecret42');
    } finally {
      await smtp.close();
      hook.server.close();
    }
  });

  test('a warning (kind) says what wants a look, by email and webhook, without the word failed', async () => {
    const smtp = await startSmtp();
    const hook = await startReceiver(200);
    const warning: AlertInput = {
      kind: 'warning',
      workflowId: input.workflowId,
      runId: input.runId,
      pipelineId: 'pipe-42',
      title: 'quality checks warned',
      details: 'load L1:\nrejection_rate 0.0612 (warn: above 0.05)',
      at: '2024-05-01T10:00:00.000Z',
    };
    try {
      await sendAlert(warning, { ALERT_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, ALERT_EMAIL_TO: 'oncall@example.com', ALERT_WEBHOOK_URL: hook.url }, capture().logger);
      const mail = smtp.mails[0];
      expect(mail.data).toMatch(/^Subject: orders-etl warning: quality checks warned: pipe-42\r?$/m);
      const body = unfold(mail.data);
      expect(body).toContain('An orders-etl run completed with a warning: quality checks warned.');
      expect(body).toContain('At: 2024-05-01T10:00:00.000Z');
      expect(body).toContain('Warning: load L1:\r\nrejection_rate 0.0612 (warn: above 0.05)');
      expect(body).not.toMatch(/failed/i);
      const payload = hook.bodies[0] as { text: string; blocks: { text?: { text: string } }[] };
      expect(payload.text).toContain('orders-etl warning: quality checks warned: pipe-42');
      expect(payload.text).toContain('At: 2024-05-01T10:00:00.000Z');
      expect(JSON.stringify(payload.blocks)).toContain('*Warning*');
    } finally {
      await smtp.close();
      hook.server.close();
    }
  });

  test("an error that quotes a URL with a password is sent with the password redacted, by email and webhook", async () => {
    const smtp = await startSmtp();
    const hook = await startReceiver(200);
    const log = capture();
    const leaky = { ...input, error: 'GET http://ann:url-s3cret@api.example.com/orders?limit=500: HTTP 401' };
    try {
      await sendAlert(leaky, { ALERT_SMTP_URL: `smtp://alice:pw@127.0.0.1:${smtp.port}`, ALERT_EMAIL_TO: 'oncall@example.com', ALERT_WEBHOOK_URL: hook.url }, log.logger);
      expect(unfold(smtp.mails[0].data)).toContain('Error: GET http://ann:***@api.example.com/orders?limit=500: HTTP 401');
      const payload = JSON.stringify(hook.bodies[0]);
      expect(payload).toContain('GET http://ann:***@api.example.com/orders?limit=500: HTTP 401');
      for (const output of [smtp.mails[0].data, payload, log.lines()]) expect(output).not.toContain('url-s3cret');
    } finally {
      await smtp.close();
      hook.server.close();
    }
  });

  test('a webhook answering 500 makes sendAlert reject (so Temporal retries), without exposing the URL', async () => {
    const hook = await startReceiver(500);
    const log = capture();
    try {
      const attempt = sendAlert(input, { ALERT_WEBHOOK_URL: hook.url }, log.logger);
      await expect(attempt).rejects.toThrow(/HTTP 500/);
      await attempt.catch((err: Error) => expect(err.message).not.toContain('webhooksecret42'));
      expect(hook.bodies).toHaveLength(1);
      expect(log.lines()).not.toContain('webhooksecret42');
    } finally {
      hook.server.close();
    }
  });

  test('an unreachable SMTP server makes sendAlert reject', async () => {
    const smtp = await startSmtp();
    await smtp.close(); // the port is now closed: connection refused
    await expect(
      sendAlert(input, { ALERT_SMTP_URL: `smtp://u:pw@127.0.0.1:${smtp.port}`, ALERT_EMAIL_TO: 'a@example.com' }, capture().logger),
    ).rejects.toThrow(/alert delivery failed: email/);
  });

  test('without configuration it warns and sends nothing', async () => {
    const log = capture();
    await expect(sendAlert(input, {}, log.logger)).resolves.toEqual({ email: false, webhook: false });
    expect(log.lines()).toContain('no alert channel is configured');
    // The default logger path works too.
    await expect(sendAlert(input, { ALERT_EMAIL_TO: 'a@example.com' })).resolves.toEqual({ email: false, webhook: false });
  });
});
