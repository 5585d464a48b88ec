import { InvalidInputError } from '../core/errors';
import {
  DEFAULT_QUALITY_GATES,
  QUALITY_CHECKS,
  QUALITY_CHECK_NAMES,
  isQualityCheck,
  limitProblems,
  withOverrides,
  type QualityCheckName,
  type QualityGates,
  type QualityLimits,
  type QualityOverrides,
} from '../core/quality';
import { decimal, integer, InvalidValue, parseFlag, type EnvConfig, type Parser } from './config';

/**
 * The quality gates of a pipeline from `--quality` flags and ORDERS_ETL_QUALITY, over the defaults: one syntax for
 * both, `CHECK:warn=N,fail=N` (either level, `off` to drop one, or `CHECK:off` to only measure the check), several
 * checks separated by `;`. A flag overrides the variable level by level, the variable the defaults.
 */

const SYNTAX = `CHECK:warn=N,fail=N or CHECK:off (checks: ${QUALITY_CHECK_NAMES.join(', ')})`;

/** One `CHECK:…` item. */
function qualityItem(text: string): [QualityCheckName, Partial<QualityLimits>] {
  const colon = text.indexOf(':');
  const name = text.slice(0, colon).trim();
  if (colon < 0 || !name) throw new InvalidValue(`must be ${SYNTAX}, got "${text}"`);
  if (!isQualityCheck(name)) throw new InvalidValue(`names an unknown check "${name}" (checks: ${QUALITY_CHECK_NAMES.join(', ')})`);
  const [min, max] = QUALITY_CHECKS[name].range;
  const limits: Partial<QualityLimits> = {};
  for (const setting of text.slice(colon + 1).split(',').map((s) => s.trim())) {
    const level = /^(warn|fail)\s*=\s*(\S+)$/.exec(setting);
    if (setting === 'off') Object.assign(limits, { warn: null, fail: null });
    else if (!level) throw new InvalidValue(`must be ${SYNTAX}, got "${text}"`);
    else {
      const [, which, value] = level as unknown as [string, 'warn' | 'fail', string];
      try {
        limits[which] = value === 'off' ? null : decimal(min, max)(value);
      } catch (err) {
        throw err instanceof InvalidValue ? new InvalidValue(`${name} ${which} ${err.message}`) : err;
      }
    }
  }
  return [name, limits];
}

/** Items separated by `;`: the overrides they give, later items over earlier ones. */
const qualitySpec: Parser<QualityOverrides> = (text) => {
  const overrides: QualityOverrides = {};
  for (const item of text.split(';').filter((s) => s.trim())) {
    const [name, limits] = qualityItem(item);
    overrides[name] = { ...overrides[name], ...limits };
  }
  return overrides;
};

/** Defaults ← ORDERS_ETL_QUALITY ← each `--quality` in turn; the window from --volume-window or ORDERS_ETL_VOLUME_WINDOW. */
export function qualityGates(flags: { quality?: string[]; volumeWindow?: string }, config: EnvConfig): QualityGates {
  const fromEnv = config.ORDERS_ETL_QUALITY === undefined ? {} : parseFlag('environment variable ORDERS_ETL_QUALITY:', config.ORDERS_ETL_QUALITY, qualitySpec);
  let gates = withOverrides(DEFAULT_QUALITY_GATES, fromEnv, config.ORDERS_ETL_VOLUME_WINDOW);
  for (const text of flags.quality ?? []) gates = withOverrides(gates, parseFlag('--quality', text, qualitySpec));
  if (flags.volumeWindow !== undefined) gates = withOverrides(gates, {}, parseFlag('--volume-window', flags.volumeWindow, integer(1, 1000)));
  const problems = QUALITY_CHECK_NAMES.flatMap((name) => limitProblems(name, gates.checks[name]));
  if (problems.length) throw new InvalidInputError(`quality gates (--quality, ORDERS_ETL_QUALITY): ${problems.join('; ')}`);
  return gates;
}

/** The gates in their own syntax, one check per `;`: what `schedule describe` shows. */
export function formatGates(gates: QualityGates): string {
  const level = (value: number | null) => (value === null ? 'off' : String(value));
  const checks = QUALITY_CHECK_NAMES.map((name) => `${name}:warn=${level(gates.checks[name]?.warn ?? null)},fail=${level(gates.checks[name]?.fail ?? null)}`);
  return `${checks.join('; ')}; volume window ${gates.volumeWindow}`;
}
