import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Lake, LakeObject } from './lake';

export interface S3LakeOptions {
  /** `s3://bucket/prefix` */
  location: string;
  /** A custom endpoint (MinIO, versitygw, LocalStack): path-style addressing and no default checksums. */
  endpoint?: string;
  region?: string;
  /** Static credentials; without them the standard AWS chain (env, profile, SSO, instance role) applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** A lake in an S3 bucket under a prefix. Credentials come from the standard AWS chain (env, profile, role). */
export class S3Lake implements Lake {
  readonly location: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;

  constructor(options: S3LakeOptions) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(options.location);
    if (!m) throw new Error(`not an s3:// location: ${options.location}`);
    this.bucket = m[1];
    this.prefix = m[2].replace(/\/+$/, '');
    this.location = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    const config: S3ClientConfig = { region: options.region ?? 'us-east-1', credentials: options.credentials };
    if (options.endpoint) {
      // SDK >= 3.729 sends CRC checksums by default, which several S3-compatible servers reject.
      Object.assign(config, {
        endpoint: options.endpoint,
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    }
    this.client = new S3Client(config);
  }

  private objectKey(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body }));
  }

  async putFile(key: string, localPath: string): Promise<void> {
    // lib-storage switches to a multipart upload above one part (5 MiB) and streams the file.
    await new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: createReadStream(localPath) },
    }).done();
  }

  private async body(key: string): Promise<Readable> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    return out.Body as Readable;
  }

  async get(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.body(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async localFile(key: string, scratchDir: string): Promise<string> {
    const file = path.join(scratchDir, key.replace(/\//g, '__'));
    await pipeline(await this.body(key), createWriteStream(file));
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
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.objectKey(prefix), ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) found.push({ key: o.Key!.slice(strip), size: o.Size ?? 0 });
      token = page.NextContinuationToken;
    } while (token);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
