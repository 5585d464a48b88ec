import { QualityGateError } from './errors';

/**
 * Quality gates of a load: named checks of what the load is about to commit, each measured inside the load's
 * transaction (activities/warehouse/quality-sql.ts) and judged against the pipeline's limits. `warn` is recorded
 * and alerted; `fail` rolls the load back before COMMIT, like the reconciliation, so the watermark does not move.
 * Plain data and pure functions: the workflow, the activities and the CLI share them.
 */

export const QUALITY_OUTCOMES = ['pass', 'warn', 'fail'] as const;
export type QualityOutcome = (typeof QUALITY_OUTCOMES)[number];

/** One check of one load, as PipelineResult.quality, the quality_checks table and the failure details carry it. */
export interface QualityResult {
  check: string;
  observed: number;
  /** The limit that decided: the one crossed (warn or fail), else the first one it was held to; null without limits. */
  threshold: number | null;
  outcome: QualityOutcome;
}

/** A check's limits; null: none at that level. */
export interface QualityLimits {
  warn: number | null;
  fail: number | null;
}

/** What a pipeline holds its loads to (PipelineInput.quality): every check's limits, and the volume checks' history. */
export interface QualityGates {
  /** How many of the pipeline's previous loads the volume checks take the median of. */
  volumeWindow: number;
  checks: Record<QualityCheckName, QualityLimits>;
}

interface CheckDefinition {
  /** Which side of a limit is bad. */
  bad: 'above' | 'below';
  /** The range a limit must lie in. */
  range: readonly [number, number];
  /** What `observed` is, for people. */
  observed: string;
}

const RATE = [0, 1] as const;
const RATIO = [0, 1_000_000] as const;

/** The checks, in the order results are listed. */
export const QUALITY_CHECKS = {
  rejection_rate: { bad: 'above', range: RATE, observed: 'records rejected whole ÷ records extracted' },
  volume_low: { bad: 'below', range: RATIO, observed: "records extracted ÷ the median of the pipeline's last loads" },
  volume_high: { bad: 'above', range: RATIO, observed: "records extracted ÷ the median of the pipeline's last loads" },
  null_price_rate: { bad: 'above', range: RATE, observed: 'lines loaded without a price ÷ lines loaded' },
  inferred_user_rate: { bad: 'above', range: RATE, observed: "inferred members ÷ the load's distinct users (with a users file)" },
  inferred_product_rate: { bad: 'above', range: RATE, observed: "inferred members ÷ the load's distinct products (with a products file)" },
} as const satisfies Record<string, CheckDefinition>;

export type QualityCheckName = keyof typeof QUALITY_CHECKS;

export const QUALITY_CHECK_NAMES = Object.keys(QUALITY_CHECKS) as QualityCheckName[];

export const isQualityCheck = (name: string): name is QualityCheckName => Object.hasOwn(QUALITY_CHECKS, name);

/**
 * The volume checks need this many previous loads (or the whole window when it is shorter): a median of one or two
 * loads, such as a pipeline's full first extract, says nothing about the feed's rhythm.
 */
export const VOLUME_MIN_HISTORY = 3;

const limits = (warn: number | null, fail: number | null = null): QualityLimits => ({ warn, fail });

/**
 * Warn-only: a `fail` stops the pipeline until someone looks, so its limit is the operator's to choose. The sample
 * data and the test fixtures pass them (rejection 2.6 %, NULL prices 0.5 %, inferred users 1.7 % and products 4.8 %;
 * juju-take-home-a: 0.6 %, 14.8 %, 0 %, 0 %). Volume is only measured: a load's size depends on the schedule's
 * interval and the feed's rhythm, which only the operator knows.
 */
export const DEFAULT_QUALITY_GATES: QualityGates = {
  volumeWindow: 7,
  checks: {
    rejection_rate: limits(0.05),
    volume_low: limits(null),
    volume_high: limits(null),
    null_price_rate: limits(0.2),
    inferred_user_rate: limits(0.1),
    inferred_product_rate: limits(0.1),
  },
};

/** Overrides of some checks' limits, level by level (a check given only `fail` keeps the `warn` it had). */
export type QualityOverrides = Partial<Record<QualityCheckName, Partial<QualityLimits>>>;

export function withOverrides(gates: QualityGates, overrides: QualityOverrides, volumeWindow?: number): QualityGates {
  const checks = { ...gates.checks };
  for (const name of Object.keys(overrides) as QualityCheckName[]) checks[name] = { ...checks[name], ...overrides[name] };
  return { volumeWindow: volumeWindow ?? gates.volumeWindow, checks };
}

/** The problems of a check's limits (out of range, warn beyond fail), one line each. */
export function limitProblems(name: QualityCheckName, { warn, fail }: QualityLimits): string[] {
  const { bad, range } = QUALITY_CHECKS[name];
  const problems = [warn, fail].flatMap((v, i) =>
    v !== null && (v < range[0] || v > range[1]) ? [`${name} ${i ? 'fail' : 'warn'} must be from ${range[0]} to ${range[1]}, got ${v}`] : [],
  );
  if (warn !== null && fail !== null && (bad === 'above' ? warn > fail : warn < fail)) {
    problems.push(`${name} warns ${bad} ${warn} but fails ${bad} ${fail}: the warn limit must come first`);
  }
  return problems;
}

const RANK: Record<QualityOutcome, number> = { pass: 0, warn: 1, fail: 2 };

/** The run's outcome: its worst check's (pass when nothing was checked). */
export function worstOutcome(results: readonly QualityResult[]): QualityOutcome {
  return results.reduce<QualityOutcome>((worst, r) => (RANK[r.outcome] > RANK[worst] ? r.outcome : worst), 'pass');
}

/** Results in the checks' order, whatever order the warehouse returned them in. */
export function inCheckOrder(results: QualityResult[]): QualityResult[] {
  const position = (check: string) => (isQualityCheck(check) ? QUALITY_CHECK_NAMES.indexOf(check) : QUALITY_CHECK_NAMES.length);
  return [...results].sort((a, b) => position(a.check) - position(b.check) || a.check.localeCompare(b.check));
}

/** A measure for people: four significant digits (exact values stay in the results). */
export function formatObserved(value: number): string {
  return Math.abs(value) >= 1000 ? String(Math.round(value)) : String(Number(value.toPrecision(4)));
}

/** One result for people, e.g. `rejection_rate 0.3333 (fail: above 0.2)`. */
export function describeResult(r: QualityResult): string {
  if (r.threshold === null) return `${r.check} ${formatObserved(r.observed)} (${r.outcome}: no limit)`;
  const bad = isQualityCheck(r.check) ? QUALITY_CHECKS[r.check].bad : 'beyond';
  return `${r.check} ${formatObserved(r.observed)} (${r.outcome}: ${r.outcome === 'pass' ? `limit ${bad}` : bad} ${r.threshold})`;
}

/** Throws the load's QualityGateError when a check failed: the caller rolls back instead of committing. */
export function assertQualityGate(loadId: string, results: QualityResult[]): void {
  const failed = results.filter((r) => r.outcome === 'fail');
  if (failed.length === 0) return;
  throw new QualityGateError(`load ${loadId} failed its quality gate: ${failed.map(describeResult).join('; ')}; nothing was committed`, results);
}
