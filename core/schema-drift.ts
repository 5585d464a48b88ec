/**
 * Schema drift. A load's transform observes the field paths of its records with their JSON types; the load
 * records them and compares them with the previous load's (activities/warehouse/schema-drift-sql). Paths are
 * dotted from the record (`amount`, `metadata.source`); an array's elements are `[]` (`items[]`, `items[].sku`).
 * Every record that is a JSON object counts, valid or rejected: drift is about what the feed sends.
 *
 * The set travels in Temporal payloads (each partition's transform result, the load's input), so it is bounded:
 * at most MAX_FIELD_PATHS paths and MAX_FIELD_PATH_BYTES of their text, the first ones in path order (so the same
 * records give the same set however the stream was split). A load that saw more is `truncated`.
 */

/** JSON's types; a number kept as its text (core/json's JsonNumber) is a number. */
export type JsonType = 'array' | 'boolean' | 'null' | 'number' | 'object' | 'string';

export interface ObservedField {
  path: string;
  /** The types the path had, in name order. */
  types: JsonType[];
  /** Records in which the path occurred (with any of its types). */
  records: number;
}

export interface ObservedFields {
  /** In path order (`comparePaths`). */
  fields: ObservedField[];
  /** More paths were seen than kept: paths after the last kept one are missing. */
  truncated: boolean;
}

/** Enough for any real order schema (sample_data has 13 paths); a feed beyond it has keys that are data (ids as keys). */
export const MAX_FIELD_PATHS = 500;

/**
 * The paths' text as the load's statement spells it (`sqlTextBytes`), summed. With MAX_FIELD_PATHS it bounds that
 * statement (about 80 bytes a row besides the path) to about 64 KB: within the Redshift Data API's 100 KB per
 * statement, whatever the feed sends.
 */
export const MAX_FIELD_PATH_BYTES = 24 * 1024;

/** A path is cut to the width of its warehouse column (schema_fields.path, VARCHAR(256)). */
export const MAX_PATH_BYTES = 256;

export const NO_OBSERVED_FIELDS: ObservedFields = { fields: [], truncated: false };

/**
 * The bytes of a path as a text literal of the load's SQL (schema-drift-sql's `portableText`): UTF-8, a quote
 * doubled, a backslash spelled `' || CHR(92) || '`. Without Buffer: this module also runs in the workflow sandbox
 * (merging partitions' sets).
 */
export function sqlTextBytes(text: string): number {
  let bytes = 2;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit === 0x27) bytes += 2;
    else if (unit === 0x5c) bytes += 16;
    else if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Path order: by UTF-16 code units, the same on every worker (never the locale's). */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Fields in path order, each one's types in name order: as an ObservedFields holds them. */
export function inPathOrder(fields: ObservedField[]): ObservedField[] {
  for (const field of fields) field.types.sort();
  return fields.sort((a, b) => comparePaths(a.path, b.path));
}

/**
 * The first paths of a set in path order, within MAX_FIELD_PATHS and MAX_FIELD_PATH_BYTES, none after `limit`
 * (the last path a truncated part kept: beyond it that part's paths are unknown). `fields` must be in path order.
 */
export function capFields(fields: ObservedField[], truncated: boolean, limit?: string): ObservedFields {
  let bytes = 0;
  let kept = 0;
  for (; kept < fields.length && kept < MAX_FIELD_PATHS; kept++) {
    const { path } = fields[kept];
    if (limit !== undefined && path > limit) break;
    bytes += sqlTextBytes(path);
    if (bytes > MAX_FIELD_PATH_BYTES) break;
  }
  return { fields: fields.slice(0, kept), truncated: truncated || kept < fields.length };
}

/** The last path of a truncated set (none when it is complete). */
export function cutoffOf(observed: ObservedFields): string | undefined {
  return observed.truncated ? observed.fields.at(-1)?.path ?? '' : undefined;
}

/** The lesser of two cutoffs, undefined meaning none. */
function lowerCutoff(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return comparePaths(a, b) <= 0 ? a : b;
}

/**
 * Several parts' sets (a load's partitions) as one: types united, records added up, then capped again. Paths after
 * a truncated part's last one are dropped, as that part may have seen them too: the result is the one set the whole
 * stream gives.
 */
export function mergeObservedFields(parts: readonly ObservedFields[]): ObservedFields {
  const byPath = new Map<string, { types: Set<JsonType>; records: number }>();
  let limit: string | undefined;
  for (const part of parts) {
    limit = lowerCutoff(limit, cutoffOf(part));
    for (const { path, types, records } of part.fields) {
      const seen = byPath.get(path);
      if (seen) {
        for (const type of types) seen.types.add(type);
        seen.records += records;
      } else {
        byPath.set(path, { types: new Set(types), records });
      }
    }
  }
  const fields = [...byPath].map(([path, { types, records }]) => ({ path, types: [...types], records }));
  return capFields(inPathOrder(fields), limit !== undefined, limit);
}

/**
 * The type a path is compared by across loads: its types other than null ('number', or 'number|string' for a
 * mixed field), or 'null' when it was null in every record. A field that is sometimes null keeps its type, so it
 * does not flap between loads; one that only ever was null in a load is a change, as a field the feed stopped
 * filling is worth knowing about.
 */
export function comparedType(types: readonly JsonType[]): string {
  const nonNull = types.filter((t) => t !== 'null');
  return nonNull.length ? nonNull.join('|') : 'null';
}

// ---- Changes: what a load's fields differ in from the previous load's (activities/warehouse/schema-drift-sql) ----

/** How many of a load's changes its result carries (the warehouse has them all): payloads and alerts stay short. */
export const MAX_REPORTED_SCHEMA_CHANGES = 20;

export type SchemaChangeKind = 'added' | 'removed' | 'type_changed';

export interface SchemaChange {
  path: string;
  change: SchemaChangeKind;
  /** The compared type in the previous load; null when added. */
  oldType: string | null;
  /** The compared type in this load; null when removed. */
  newType: string | null;
}

/** What a load's comparison found: its first changes in path order, and how many there are in all. */
export interface SchemaChanges {
  /** The load compared with; null when there is no change. */
  previousLoadId: string | null;
  total: number;
  changes: SchemaChange[];
}

export const NO_SCHEMA_CHANGES: SchemaChanges = { previousLoadId: null, total: 0, changes: [] };

/** One change as people read it: `added items[].discount: number`, `type_changed metadata.channel: string -> number`. */
export function schemaChangeLine({ path, change, oldType, newType }: SchemaChange): string {
  if (change === 'added') return `added ${path}: ${newType}`;
  if (change === 'removed') return `removed ${path}: was ${oldType}`;
  return `type_changed ${path}: ${oldType} -> ${newType}`;
}

/** Where the changes beyond the reported ones are: `… and 5 more: SELECT …`, or undefined when all are reported. */
export function moreSchemaChanges({ total, changes }: SchemaChanges, loadId: string): string | undefined {
  const more = total - changes.length;
  return more > 0 ? `… and ${more} more: SELECT * FROM schema_changes WHERE load_id = '${loadId}'` : undefined;
}

/** A load's changes as an alert's text: a heading line, then a change a line. */
export function describeSchemaChanges(schemaChanges: SchemaChanges, loadId: string): string {
  const { total, changes, previousLoadId } = schemaChanges;
  const more = moreSchemaChanges(schemaChanges, loadId);
  return [
    `load ${loadId} against load ${previousLoadId}: ${total} change${total === 1 ? '' : 's'}`,
    ...changes.map((c) => `  ${schemaChangeLine(c)}`),
    ...(more ? [`  ${more}`] : []),
  ].join('\n');
}
