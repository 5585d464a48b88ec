import { readFile } from 'node:fs/promises';
import { LocalLake } from './local-lake';
import type { Lake } from './lake';
import { S3Lake } from './s3-lake';

export type { Lake, LakeObject } from './lake';

/**
 * The one place a lake is chosen: `s3://bucket/prefix` is S3 (endpoint from `S3_ENDPOINT`, keys from
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` when set, else the standard AWS chain), anything else a directory.
 */
export function openLake(location: string, env: NodeJS.ProcessEnv = process.env): Lake {
  if (!location.startsWith('s3://')) return new LocalLake(location);
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  return new S3Lake({
    location,
    endpoint: env.S3_ENDPOINT || undefined,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken } : undefined,
  });
}

/** Reads a whole file named by a local path or an `s3://bucket/key` URL (reference CSVs). */
export async function readLocation(location: string, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  const m = /^(s3:\/\/[^/]+)\/(.+)$/.exec(location);
  return m ? openLake(m[1], env).get(m[2]) : readFile(location);
}
