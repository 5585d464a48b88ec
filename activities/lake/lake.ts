import type { Readable } from 'node:stream';

/** The lake: where raw pages, transformed tables and staged Parquet files live, addressed by keys. */
export interface LakeObject {
  key: string;
  size: number;
}

export interface Lake {
  /** Where the lake is, for people and for COPY: an absolute directory or `s3://bucket/prefix`. */
  readonly location: string;
  /** Writes an object whole (small objects: pages, manifests). */
  put(key: string, body: string | Uint8Array): Promise<void>;
  /** Uploads a local file (large objects: Parquet), streaming. */
  putFile(key: string, localPath: string): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** The object's bytes as a stream (large objects read once: reference files). */
  getStream(key: string): Promise<Readable>;
  /**
   * A local file holding the object, for readers that need a path (DuckDB): a local lake's own file, or a
   * streamed download into `scratchDir` (its name derived from the key, so keys never collide).
   */
  localFile(key: string, scratchDir: string): Promise<string>;
  /** Objects under a key prefix, sorted by key. */
  list(prefix: string): Promise<LakeObject[]>;
  /** The object's full address: a file path locally, `s3://bucket/prefix/key` on S3. */
  uri(key: string): string;
  /** The key of an address `uri()` made (a manifest entry's, say). */
  keyOf(uri: string): string;
}
