import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CredentialsError, InvalidInputError, LakeAccessError, LakeNotFoundError, LakeThrottledError, LakeUnavailableError } from '../../core/errors';
import type { Lake, LakeObject } from './lake';

/** How to reach S3: from the worker's configuration, once per process. */
export interface S3Settings {
  /** A custom endpoint (MinIO, versitygw, LocalStack): path-style addressing and no default checksums. */
  endpoint?: string;
  region?: string;
  /** Static credentials; without them the standard AWS chain (env, profile, SSO, instance role) applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The one S3 client of a process: every lake and reference file shares its connections. */
export function createS3Client(settings: S3Settings): S3Client {
  const config: S3ClientConfig = { region: settings.region ?? 'us-east-1', credentials: settings.credentials };
  if (settings.endpoint) {
    // SDK >= 3.729 sends CRC checksums by default, which several S3-compatible servers reject.
    Object.assign(config, {
      endpoint: settings.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }
  return new S3Client(config);
}

const CREDENTIAL_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'CredentialsProviderError']);
const ACCESS_ERRORS = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem', 'InvalidObjectState']);
const THROTTLING_ERRORS = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'RequestLimitExceeded', 'ServiceUnavailable']);
const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout', 'NetworkingError']);

/**
 * An S3 failure as a typed error naming the bucket and the cause. Credentials, permissions and a missing bucket or
 * object are terminal; throttling, 5xx and broken connections transient (the SDK has already retried them a few
 * times; Temporal retries the activity). Anything else stays as it is.
 */
export function s3Error(err: unknown, bucket: string, doing: string): unknown {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } } | null;
  const name = e?.name ?? '';
  const code = e?.code ?? '';
  const status = e?.$metadata?.httpStatusCode;
  const what = `S3 bucket ${bucket}: ${doing}`;
  const detail = `${name}${e?.message && e.message !== name ? `: ${e.message}` : ''}`;
  if (CREDENTIAL_ERRORS.has(name)) return new CredentialsError(`${what}: the AWS credentials were refused (${detail})`);
  if (name === 'NoSuchBucket') return new LakeNotFoundError(`${what}: the bucket does not exist (${detail})`);
  if (name === 'NoSuchKey' || name === 'NotFound') return new LakeNotFoundError(`${what}: no such object (${detail})`);
  if (ACCESS_ERRORS.has(name) || status === 403) return new LakeAccessError(`${what}: access denied (${detail})`);
  if (THROTTLING_ERRORS.has(name) || status === 503 || status === 429) return new LakeThrottledError(`${what}: S3 is throttling (${detail})`);
  if ((status !== undefined && status >= 500) || CONNECTION_ERRORS.has(name) || CONNECTION_ERRORS.has(code)) {
    return new LakeUnavailableError(`${what}: S3 is unavailable (${detail || code})`);
  }
  return err;
}

/** A lake in an S3 bucket under a prefix, through the process's shared S3 client. */
export class S3Lake implements Lake {
  readonly location: string;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(location: string, private readonly client: S3Client) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
    if (!m) throw new InvalidInputError(`not an s3:// location: ${location}`);
    this.bucket = m[1];
    this.prefix = m[2].replace(/\/+$/, '');
    this.location = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  /** One S3 request, its failure classified. */
  private async call<T>(doing: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw s3Error(err, this.bucket, doing);
    }
  }

  private objectKey(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    await this.call(`writing ${this.objectKey(key)}`, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body })));
  }

  async putFile(key: string, localPath: string): Promise<void> {
    // lib-storage switches to a multipart upload above one part (5 MiB) and streams the file.
    await this.call(`uploading ${this.objectKey(key)}`, () =>
      new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.objectKey(key), Body: createReadStream(localPath) } }).done(),
    );
  }

  async getStream(key: string): Promise<Readable> {
    const out = await this.call(`reading ${this.objectKey(key)}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })));
    return out.Body as Readable;
  }

  async get(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getStream(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async localFile(key: string, scratchDir: string): Promise<string> {
    const file = path.join(scratchDir, key.replace(/\//g, '__'));
    await pipeline(await this.getStream(key), createWriteStream(file));
    return file;
  }

  keyOf(uri: string): string {
    const root = this.uri('');
    if (!uri.startsWith(root)) throw new Error(`${uri} is not in the lake ${this.location}`);
    return uri.slice(root.length);
  }

  async list(prefix: string): Promise<LakeObject[]> {
    const found: LakeObject[] = [];
    let token: string | undefined;
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    do {
      const page = await this.call(`listing ${this.objectKey(prefix) || '/'}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.objectKey(prefix), ContinuationToken: token })),
      );
      for (const o of page.Contents ?? []) found.push({ key: o.Key!.slice(strip), size: o.Size ?? 0 });
      token = page.NextContinuationToken;
    } while (token);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
