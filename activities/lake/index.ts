import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { openForReading } from '../file-system';
import { LocalLake } from './local-lake';
import type { Lake } from './lake';
import { createS3Client, S3Lake, type S3Settings } from './s3-lake';

export type { Lake, LakeObject } from './lake';
export type { S3Settings } from './s3-lake';

/** Opens lakes by location, each once: every S3 lake shares one S3 client, built on first use. */
export interface Lakes {
  /** `s3://bucket/prefix` is S3, anything else a directory. */
  open(location: string): Lake;
  /**
   * Streams a file named by a local path or an `s3://bucket/key` URL (reference CSVs); a missing or unreadable
   * one fails before the stream starts.
   */
  stream(location: string): Promise<Readable>;
}

export function createLakes(s3: S3Settings): Lakes {
  let client: S3Client | undefined;
  const opened = new Map<string, Lake>();
  const open = (location: string): Lake => {
    let lake = opened.get(location);
    if (!lake) {
      lake = location.startsWith('s3://') ? new S3Lake(location, (client ??= createS3Client(s3))) : new LocalLake(location);
      opened.set(location, lake);
    }
    return lake;
  };
  return {
    open,
    async stream(location) {
      const m = /^(s3:\/\/[^/]+)\/(.+)$/.exec(location);
      return m ? open(m[1]).getStream(m[2]) : openForReading(location, `cannot read ${location}`);
    },
  };
}

/**
 * S3 settings from the environment: the endpoint from `S3_ENDPOINT`, keys from `AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY` when set (else the standard AWS chain), the region from `AWS_REGION` or `AWS_DEFAULT_REGION`.
 */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv): S3Settings {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  return {
    endpoint: env.S3_ENDPOINT || undefined,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken: sessionToken || undefined } : undefined,
  };
}

/** One lake for a one-shot command (dry run, tests): its settings from the environment. */
export function openLake(location: string, env: NodeJS.ProcessEnv = process.env): Lake {
  return createLakes(s3SettingsFromEnv(env)).open(location);
}
