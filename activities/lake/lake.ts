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
  /** Downloads an object into a local file, streaming. */
  getFile(key: string, localPath: string): Promise<void>;
  /** Objects under a key prefix, sorted by key. */
  list(prefix: string): Promise<LakeObject[]>;
  /** The object's full address: a file path locally, `s3://bucket/prefix/key` on S3. */
  uri(key: string): string;
}
