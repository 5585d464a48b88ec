import type { QualityResult } from './quality';

/**
 * Typed errors. The class name is the contract: Temporal reports a thrown error's `name` as the failure type,
 * and the workflow's `nonRetryableErrorTypes` lists the names of the terminal ones.
 */

abstract class EtlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The source answered with a permanent refusal (a 4xx other than 408/429): retrying cannot help. */
export class PermanentSourceError extends EtlError {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** The source answered something that breaks the Orders API contract (not a transient glitch). */
export class SourceContractError extends EtlError {}

/** A transient source failure (5xx, 429, timeout, truncated body): Temporal retries it with backoff. */
export class TransientSourceError extends EtlError {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** Bad input from the user: an option, a file or a configuration value. */
export class InvalidInputError extends EtlError {}

/** The warehouse rejected a load (SQL error, COPY failure): retrying the same statements cannot help. */
export class WarehouseLoadError extends EtlError {}

/** The counts of a load do not add up: something was lost or doubled, so the run must fail loudly. */
export class ReconciliationError extends EtlError {}

/**
 * A load failed a quality gate (core/quality.ts): it was rolled back before COMMIT. `results` holds every check of
 * the load, so the failed run still shows what was measured (its failure details, memo and alert).
 */
export class QualityGateError extends EtlError {
  constructor(message: string, readonly results: QualityResult[]) {
    super(message);
  }
}

/** The lake refuses us: no permission (EACCES, EPERM, a read-only filesystem, S3 AccessDenied / 403). */
export class LakeAccessError extends EtlError {}

/** What must exist in the lake does not: a bucket (S3 NoSuchBucket), an object or a file (ENOENT, NoSuchKey). */
export class LakeNotFoundError extends EtlError {}

/** Credentials are wrong or expired (S3 InvalidAccessKeyId / SignatureDoesNotMatch, Redshift's auth errors). */
export class CredentialsError extends EtlError {}

/** The warehouse refuses us: a DuckDB file or directory we may not write, Redshift's AccessDeniedException. */
export class WarehouseAccessError extends EtlError {}

/** Error types the workflow never retries: retrying the same request cannot change their answer. */
export const NON_RETRYABLE_ERROR_TYPES = [
  PermanentSourceError.name,
  SourceContractError.name,
  InvalidInputError.name,
  WarehouseLoadError.name,
  ReconciliationError.name,
  QualityGateError.name,
  LakeAccessError.name,
  LakeNotFoundError.name,
  CredentialsError.name,
  WarehouseAccessError.name,
];

/** The lake is throttling us (S3 SlowDown, 503): transient, Temporal retries it with backoff. */
export class LakeThrottledError extends EtlError {}

/** The lake failed on its side or the connection broke (S3 5xx, a reset or timed-out connection): transient. */
export class LakeUnavailableError extends EtlError {}

/** Redshift's Data API failed on its side (InternalServerException, 5xx) or the connection broke: transient. */
export class WarehouseUnavailableError extends EtlError {}

/**
 * The warehouse is throttling us (Redshift Data API rate or concurrency limits: ThrottlingException,
 * ActiveStatementsExceededException, ActiveSessionsExceededException). Transient: Temporal retries it with backoff,
 * and a retried load resubmits with the same ClientToken, so it never runs twice.
 */
export class WarehouseThrottledError extends EtlError {}

/**
 * Another process holds the warehouse file (a DuckDB file is one writer's at a time, across processes). Transient:
 * the holder lets go (a report, a BI tool, a leftover load), so the open is tried again.
 */
export class WarehouseBusyError extends EtlError {}

/**
 * What went wrong, in one line: the message of the error's cause when it has one (a Temporal failure wraps the
 * activity's error; fetch's "fetch failed" wraps the network error), else its own. Duck-typed: fetch's errors come
 * from Node's own realm, which `instanceof Error` does not recognise under Jest.
 */
export function causeMessage(err: unknown): string {
  const { message, cause } = (err ?? {}) as { message?: unknown; cause?: { message?: unknown } };
  if (typeof cause?.message === 'string') return cause.message;
  return typeof message === 'string' ? message : String(err);
}

/** Why a fetch with `AbortSignal.timeout(timeoutMs)` failed. */
export function fetchFailureReason(err: unknown, timeoutMs: number): string {
  return (err as { name?: unknown } | null)?.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : causeMessage(err);
}
