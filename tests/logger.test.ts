import { Writable } from 'node:stream';
import { createLogger, createTemporalLogger } from '../core/logger';
import { redactUrls } from '../core/redact';

function capture(env: NodeJS.ProcessEnv = { LOG_LEVEL: 'trace' }) {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(...chunk.toString().split('\n').filter(Boolean)); cb(); } });
  const logger = createLogger(stream, env);
  return { logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  test('redacts secret fields at the top level and one level down', () => {
    const { logger, records } = capture();
    logger.info({ password: 'p1', token: 't1', user: 'bob', smtp: { password: 'p2', host: 'h' }, s3: { secretAccessKey: 'k', accessKeyId: 'id' }, req: { headers: { authorization: 'Bearer x' } } }, 'hello');
    const [rec] = records();
    expect(rec.msg).toBe('hello');
    expect(rec.password).toBe('[redacted]');
    expect(rec.token).toBe('[redacted]');
    expect(rec.user).toBe('bob');
    expect(rec.smtp).toEqual({ password: '[redacted]', host: 'h' });
    expect(rec.s3).toEqual({ secretAccessKey: '[redacted]', accessKeyId: '[redacted]' });
    expect(rec.req).toEqual({ headers: { authorization: '[redacted]' } });
    expect(JSON.stringify(rec)).not.toMatch(/p1|p2|t1|Bearer/);
  });

  test('redactUrls hides the password only', () => {
    expect(redactUrls('smtp://u:secret@h:25')).toBe('smtp://u:***@h:25');
    expect(redactUrls('smtps://user:p%40ss@mail.example.com:465/?pool=true')).toBe('smtps://user:***@mail.example.com:465/?pool=true');
    expect(redactUrls('smtp://u:p@ss@h:25')).toBe('smtp://u:***@h:25');
    expect(redactUrls('smtp://h:25')).toBe('smtp://h:25');
    expect(redactUrls('https://hooks.example.com/a@b')).toBe('https://hooks.example.com/a@b');
  });

  test('redactUrls hides the password of every URL in a text, wherever it stands', () => {
    expect(redactUrls('GET http://ann:s3cret@api.example.com/orders?limit=5: HTTP 401, then smtps://bob:pw@mail:465 failed')).toBe(
      'GET http://ann:***@api.example.com/orders?limit=5: HTTP 401, then smtps://bob:***@mail:465 failed',
    );
    expect(redactUrls('{"source":"http://ann:s3cret@h/","to":"ann@example.com"}')).toBe('{"source":"http://ann:***@h/","to":"ann@example.com"}');
  });

  test('no URL password reaches a log line: not in the message, a field, a nested value or an error stack', () => {
    const { logger, records } = capture();
    const err = new Error('GET http://ann:s3cret@api.example.com/orders: HTTP 401');
    logger.error({ err, source: 'http://ann:s3cret@api.example.com/', input: { args: [{ source: 'https://x:s3cret@h/' }] } }, 'extract of http://ann:s3cret@api.example.com/ failed');
    const [rec] = records();
    expect(JSON.stringify(rec)).not.toContain('s3cret');
    expect(rec.msg).toBe('extract of http://ann:***@api.example.com/ failed');
    expect(rec.source).toBe('http://ann:***@api.example.com/');
    expect((rec.err as { message: string; stack: string }).message).toBe('GET http://ann:***@api.example.com/orders: HTTP 401');
    expect((rec.err as { stack: string }).stack).toMatch(/^Error: GET http:\/\/ann:\*\*\*@api\.example\.com\/orders: HTTP 401\n\s+at /);
    expect(rec.input).toEqual({ args: [{ source: 'https://x:***@h/' }] });
  });

  test('LOG_LEVEL filters, and an unknown level falls back to info', () => {
    const warnOnly = capture({ LOG_LEVEL: 'warn' });
    warnOnly.logger.info('hidden');
    warnOnly.logger.warn('shown');
    expect(warnOnly.records().map((r) => r.msg)).toEqual(['shown']);

    const bogus = capture({ LOG_LEVEL: 'loud' });
    expect(bogus.logger.level).toBe('info');
  });

  test('createTemporalLogger maps Temporal levels to pino and passes meta as fields', () => {
    const { logger, records } = capture();
    const temporal = createTemporalLogger(logger);
    temporal.trace('t', { sdkComponent: 'core' });
    temporal.debug('d');
    temporal.info('Activity started', { workflowId: 'wf-1', runId: 'run-1', activityType: 'extract', attempt: 2, [Symbol.for('log_timestamp')]: 1n });
    temporal.warn('w', { level: 'shadow' });
    temporal.error('Activity failed', { error: new Error('boom'), password: 'nope' });
    temporal.log('INFO', 'via log');
    temporal.flush();

    const recs = records();
    expect(recs.map((r) => [r.level, r.msg])).toEqual([
      [10, 't'], [20, 'd'], [30, 'Activity started'], [40, 'w'], [50, 'Activity failed'], [30, 'via log'],
    ]);
    expect(recs[0].sdkComponent).toBe('core');
    expect(recs[2]).toMatchObject({ workflowId: 'wf-1', runId: 'run-1', activityType: 'extract', attempt: 2 });
    expect(recs[3].meta_level).toBe('shadow'); // never clobbers pino's own level
    expect((recs[4].error as { message: string }).message).toBe('boom');
    expect(recs[4].password).toBe('[redacted]');
  });
});
