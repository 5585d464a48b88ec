import { setTimeout as sleep } from 'node:timers/promises';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { InvalidInputError } from '../core/errors';
import type { PipelineInput } from '../workflows/types';
import { duration, instant, parseFlag, type EnvConfig } from './config';
import { formatAge } from '../core/freshness';
import { formatGates } from './quality-options';
import { formatSummary, progressLine } from './output';
import { pipelineInput, type PipelineFlags } from './pipeline-options';
import { preflight } from './preflight';
import { runTags, startRun } from './run';
import { openTemporal, type TemporalSession } from './temporal';

/**
 * The Temporal Schedule that runs a pipeline. Each scheduled run starts from the previous one's watermark
 * (the schedule hands it the last completion result). Overlap is SKIP: a run never starts while one is going.
 */

type ScheduleFlags = PipelineFlags & { id?: string; json?: boolean };

const scheduleIdOf = (flags: ScheduleFlags, input: PipelineInput): string => flags.id ?? `orders-etl-${input.pipelineId}`;

async function withSchedule<T>(
  config: () => EnvConfig,
  flags: ScheduleFlags,
  work: (handle: ScheduleHandle, session: TemporalSession, input: PipelineInput) => Promise<T>,
  { checkGround = false } = {},
): Promise<T> {
  const cfg = config();
  const input = pipelineInput(flags, cfg);
  if (checkGround) for (const warning of await preflight(input)) progressLine(`warning: ${warning}`);
  const session = await openTemporal(cfg, { embeddedWorker: false });
  try {
    return await work(session.client.schedule.getHandle(scheduleIdOf(flags, input)), session, input);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new InvalidInputError(`no schedule ${scheduleIdOf(flags, input)}: create it with "orders-etl schedule create"`);
    throw err;
  } finally {
    await session.close();
  }
}

const TRIGGER_WAIT_MS = 10_000;

/** What a trigger did, once the schedule shows it: the run it started, or why it started none. */
async function triggerOutcome(handle: ScheduleHandle, before: ScheduleDescription): Promise<string> {
  for (const deadline = Date.now() + TRIGGER_WAIT_MS; Date.now() < deadline; await sleep(200)) {
    const { info } = await handle.describe();
    if (info.numActionsTaken > before.info.numActionsTaken) {
      const { workflow } = info.recentActions.at(-1)!.action;
      return `started ${workflow.workflowId} (run ${workflow.firstExecutionRunId})`;
    }
    if (info.numActionsSkippedOverlap > before.info.numActionsSkippedOverlap) {
      const running = info.runningActions.map((a) => a.workflow.workflowId).join(', ');
      return `no run started: the overlap policy skips it while ${running || 'a run'} is running`;
    }
  }
  return `no run shown within ${TRIGGER_WAIT_MS / 1000} s (see "orders-etl schedule describe")`;
}

export function registerScheduleCommands(schedule: Command, config: () => EnvConfig): void {
  const sub = (name: string, description: string) =>
    schedule.command(name).description(description).option('--id <schedule-id>', 'schedule id (default: orders-etl-<pipeline id>)');
  // Subcommands see the pipeline options given before or after them.
  const flagsOf = (command: Command): ScheduleFlags => command.optsWithGlobals() as ScheduleFlags;

  sub('create', 'create the schedule (--every 15m or --cron "*/15 * * * *")')
    .option('--every <duration>', 'interval, e.g. 15m or 1h')
    .option('--cron <expression>', 'cron expression (UTC)')
    .option('--paused', 'create it paused')
    .option('--freshness <duration>', 'alert (once per breach) when a run leaves the watermark further behind than this, e.g. 2h')
    .action(async (_opts, command: Command) => {
      const flags = flagsOf(command) as ScheduleFlags & { every?: string; cron?: string; paused?: boolean; freshness?: string };
      if (!flags.every === !flags.cron) throw new InvalidInputError('give exactly one of --every or --cron');
      const spec = flags.every ? { intervals: [{ every: parseFlag('--every', flags.every, duration) * 1000 }] } : { cronExpressions: [flags.cron!] };
      const freshnessLimitSeconds = flags.freshness === undefined ? undefined : parseFlag('--freshness', flags.freshness, duration);
      await withSchedule(config, flags, async (handle, session, input) => {
        const { since: _since, until: _until, ...pipeline } = input;
        const incremental = freshnessLimitSeconds === undefined ? pipeline : { ...pipeline, freshnessLimitSeconds };
        await session.client.schedule.create({
          scheduleId: handle.scheduleId,
          spec,
          action: {
            type: 'startWorkflow',
            workflowType: 'ordersEtl',
            args: [incremental],
            taskQueue: session.taskQueue,
            workflowId: `orders-etl-${input.pipelineId}`,
            ...runTags(input),
          },
          policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10m' },
          state: { paused: Boolean(flags.paused), note: `pipeline ${input.pipelineId}` },
        });
        const freshness = flags.freshness ? `, freshness limit ${flags.freshness}` : '';
        progressLine(`created schedule ${handle.scheduleId} (${flags.every ? `every ${flags.every}` : `cron ${flags.cron}`}${freshness})`);
      }, { checkGround: true });
    });

  sub('describe', 'show the schedule, its next and recent runs')
    .option('--json', 'print one JSON object on stdout')
    .action(async (_opts, command: Command) => {
      const flags = flagsOf(command);
      await withSchedule(config, flags, async (handle) => {
        const d = await handle.describe();
        const pipeline = d.action.args?.[0] as PipelineInput | undefined;
        const summary = {
          scheduleId: d.scheduleId,
          paused: d.state.paused,
          note: d.state.note ?? null,
          overlap: String(d.policies.overlap),
          actions: d.info.numActionsTaken,
          skipped: d.info.numActionsSkippedOverlap,
          running: d.info.runningActions.map((a) => a.workflow.workflowId),
          recent: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
          next: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
          freshnessLimitSeconds: pipeline?.freshnessLimitSeconds ?? null,
          quality: pipeline?.quality ?? null,
        };
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(summary)}\n`
            : formatSummary(`schedule ${summary.scheduleId}`, [
                ['paused', summary.paused],
                ['note', summary.note],
                ['overlap', summary.overlap],
                ['actions taken', summary.actions],
                ['skipped (overlap)', summary.skipped],
                ['running', summary.running.join(', ') || '(none)'],
                ['recent', summary.recent.map((r) => `${r.scheduledAt} ${r.workflowId}`).join('\n' + ' '.repeat(21)) || '(none)'],
                ['next', summary.next.join(', ')],
                ['freshness limit', summary.freshnessLimitSeconds === null ? '(none)' : formatAge(summary.freshnessLimitSeconds)],
                ['quality gates', summary.quality ? formatGates(summary.quality) : '(defaults)'],
              ]),
        );
      });
    });

  sub('trigger', 'run the schedule now (obeying its overlap policy: skipped while a run is going)').action(async (_opts, command: Command) => {
    await withSchedule(config, flagsOf(command), async (handle) => {
      // The SDK's default for trigger is ALLOW_ALL, which bypasses the policy and, for such runs, the server
      // neither passes nor records the last completion result (the watermark). Use the schedule's own policy.
      const before = await handle.describe();
      const { overlap } = before.policies;
      await handle.trigger(overlap === ScheduleOverlapPolicy.ALLOW_ALL ? ScheduleOverlapPolicy.SKIP : overlap);
      progressLine(`triggered ${handle.scheduleId}: ${await triggerOutcome(handle, before)}`);
    });
  });

  for (const [verb, done] of [['pause', 'paused'], ['unpause', 'unpaused']] as const) {
    sub(verb, `${verb} the schedule`)
      .option('--note <text>', 'why')
      .action(async (opts: { note?: string }, command: Command) => {
        await withSchedule(config, flagsOf(command), async (handle) => {
          const note = opts.note ?? `${done} from the orders-etl CLI`;
          await (verb === 'pause' ? handle.pause(note) : handle.unpause(note));
          progressLine(`${done} ${handle.scheduleId}`);
        });
      });
  }

  sub('backfill', "re-extract a window [--start, --end) of the schedule's pipeline, whatever its watermark")
    .requiredOption('--start <iso>', 'window start (inclusive)')
    .requiredOption('--end <iso>', 'window end (exclusive)')
    .action(async (opts: { start: string; end: string }, command: Command) => {
      const [start, end] = [parseFlag('--start', opts.start, instant), parseFlag('--end', opts.end, instant)].map((micros) => new Date(micros / 1000));
      if (start >= end) throw new InvalidInputError('--start must be before --end');
      await withSchedule(config, flagsOf(command), async (handle, session) => {
        // A backfill is a run of the schedule's own pipeline with an explicit window: same input, same queue.
        const action = (await handle.describe()).action;
        const input = { ...(action.args?.[0] as PipelineInput), since: start.toISOString(), until: end.toISOString() };
        const run = await startRun(session, input);
        progressLine(`started backfill ${run.workflowId} for [${input.since}, ${input.until})`);
      });
    });

  sub('delete', 'delete the schedule (runs and their history stay)').action(async (_opts, command: Command) => {
    await withSchedule(config, flagsOf(command), async (handle) => {
      await handle.delete();
      progressLine(`deleted ${handle.scheduleId}`);
    });
  });
}
