import { JsonNumber } from '../../core/json';
import { MAX_FIELD_PATHS, MAX_PATH_BYTES, capFields, cutoffOf, inPathOrder, type JsonType, type ObservedField, type ObservedFields } from '../../core/schema-drift';
import { cutToBytes } from '../../core/schema';

/**
 * Collects the field paths and JSON types of a partition's records (core/schema-drift) inside the transform's
 * hot loop, so it must cost next to nothing per record. Records of one feed share a handful of shapes (the same
 * members with the same types, nested alike), so each record only walks its structure through a trie of the shapes
 * seen so far: member names are Map lookups, types array slots; no string is built and nothing is allocated. Only
 * a shape seen for the first time has its paths written out, once; the records of each shape are counted and
 * added to the paths' counts when the set is read (`observed`).
 */

const STRING = 0;
const NUMBER = 1;
const BOOLEAN = 2;
const NULL = 3;
const OBJECT = 4;
const ARRAY = 5;
const TYPE_NAMES: JsonType[] = ['string', 'number', 'boolean', 'null', 'object', 'array'];

/** Comparisons of `typeof`, not a switch on it: V8 compiles each to a type check without building the string. */
function typeOf(value: unknown): number {
  if (typeof value === 'string') return STRING;
  if (typeof value === 'number') return NUMBER;
  if (typeof value === 'boolean') return BOOLEAN;
  if (value === null) return NULL;
  if (Array.isArray(value)) return ARRAY;
  return value instanceof JsonNumber ? NUMBER : OBJECT;
}

type Members = Record<string, unknown>;

/** The paths and types of one shape, written out once. */
interface Shape {
  paths: string[];
  /** Per path, a bit per type (1 << STRING, …). */
  types: number[];
  /** Records of this shape since the last `observed()`. */
  records: number;
}

/**
 * A step of the walk: after a member (by name, then by its value's type), an array element (by type), or the end
 * of an object or array. The sequence of steps spells a record's structure unambiguously, so the node a record's
 * walk ends at is its shape.
 */
class ShapeNode {
  /** The member name the first record had at this step, and where each type of its value leads: a record of the same shape compares one name and indexes one slot. */
  key: string | undefined;
  byType: (ShapeNode | undefined)[] | undefined;
  /** Other member names at this step (records whose shapes part here). */
  others: Map<string, (ShapeNode | undefined)[]> | undefined;
  elements: (ShapeNode | undefined)[] | undefined;
  end: ShapeNode | undefined;
  shape: Shape | undefined;
}

/** Trie nodes kept before the trie starts afresh: bounds memory when every record has a shape of its own. */
const MAX_NODES = 100_000;

export class FieldCollector {
  private root = new ShapeNode();
  private nodes = 0;
  private shapes: Shape[] = [];
  /** Every path seen so far, by path: its type bits and records. */
  private readonly seen = new Map<string, { types: number; records: number }>();
  private truncated: boolean;
  /** Once truncated: paths after this one are not kept. */
  private cutoff: string | undefined;

  /** `from`: what the partition's earlier chunks saw (a resumed transform). */
  constructor(from?: ObservedFields) {
    this.truncated = from?.truncated ?? false;
    this.cutoff = from ? cutoffOf(from) : undefined;
    for (const { path, types, records } of from?.fields ?? []) {
      this.seen.set(path, { types: types.reduce((bits, t) => bits | (1 << TYPE_NAMES.indexOf(t)), 0), records });
    }
  }

  /** One record as parsed; only objects have fields (anything else is a malformed record). */
  observe(record: unknown): void {
    if (typeOf(record) !== OBJECT) return;
    const node = this.walkObject(this.root, record as Members);
    (node.shape ??= this.newShape(record as Members)).records++;
    if (this.nodes > MAX_NODES) this.restart();
  }

  /** What the records observed so far saw, capped (core/schema-drift). */
  observed(): ObservedFields {
    this.fold();
    return this.kept();
  }

  private kept(): ObservedFields {
    const fields = [...this.seen].map(([path, { types, records }]): ObservedField => ({ path, types: TYPE_NAMES.filter((_, t) => types & (1 << t)), records }));
    return capFields(inPathOrder(fields), this.truncated, this.cutoff);
  }

  private step(next: (ShapeNode | undefined)[], type: number): ShapeNode {
    let node = next[type];
    if (node === undefined) {
      node = next[type] = new ShapeNode();
      this.nodes++;
    }
    return node;
  }

  /** Where a member name that is not the step's first leads. */
  private byTypeOf(node: ShapeNode, key: string): (ShapeNode | undefined)[] {
    if (node.key === undefined) {
      node.key = key;
      return (node.byType = []);
    }
    node.others ??= new Map();
    let byType = node.others.get(key);
    if (byType === undefined) node.others.set(key, (byType = []));
    return byType;
  }

  private close(node: ShapeNode): ShapeNode {
    if (node.end === undefined) {
      node.end = new ShapeNode();
      this.nodes++;
    }
    return node.end;
  }

  /** Past a value of `type`: a container's walk and its end; a scalar stays at `node`. */
  private walkValue(node: ShapeNode, type: number, value: unknown): ShapeNode {
    if (type === OBJECT) return this.close(this.walkObject(node, value as Members));
    if (type === ARRAY) return this.close(this.walkArray(node, value as unknown[]));
    return node;
  }

  private walkObject(node: ShapeNode, object: Members): ShapeNode {
    for (const key in object) {
      const value = object[key];
      const type = typeOf(value);
      node = this.walkValue(this.step(key === node.key ? node.byType! : this.byTypeOf(node, key), type), type, value);
    }
    return node;
  }

  private walkArray(node: ShapeNode, array: unknown[]): ShapeNode {
    let previous = -1;
    for (let i = 0; i < array.length; i++) {
      const value = array[i];
      const type = typeOf(value);
      // A run of scalars of one type adds no path: long lists of numbers or strings walk as one element.
      if (type === previous && type !== OBJECT && type !== ARRAY) continue;
      previous = type;
      node = this.walkValue(this.step((node.elements ??= []), type), type, value);
    }
    return node;
  }

  /** A shape seen for the first time: its paths, from the record that has it. */
  private newShape(record: Members): Shape {
    const bits = new Map<string, number>();
    const visit = (path: string, value: unknown) => {
      const type = typeOf(value);
      const key = pathColumnText(path);
      bits.set(key, (bits.get(key) ?? 0) | (1 << type));
      if (type === OBJECT) for (const name in value as Members) visit(`${path}.${name}`, (value as Members)[name]);
      else if (type === ARRAY) for (const element of value as unknown[]) visit(`${path}[]`, element);
    };
    for (const name in record) visit(name, record[name]);
    const shape: Shape = { paths: [...bits.keys()], types: [...bits.values()], records: 0 };
    this.shapes.push(shape);
    return shape;
  }

  /** Adds the shapes' records to their paths' counts. */
  private fold(): void {
    for (const shape of this.shapes) {
      if (shape.records === 0) continue;
      for (let i = 0; i < shape.paths.length; i++) {
        const path = shape.paths[i];
        if (this.cutoff !== undefined && path > this.cutoff) continue;
        const seen = this.seen.get(path);
        if (seen) {
          seen.types |= shape.types[i];
          seen.records += shape.records;
        } else {
          this.seen.set(path, { types: shape.types[i], records: shape.records });
        }
      }
      shape.records = 0;
    }
    // Paths beyond what can be kept are dropped now, so a feed of ever new keys cannot grow the map without bound.
    if (this.seen.size > 2 * MAX_FIELD_PATHS) this.trim();
  }

  private trim(): void {
    const kept = this.kept();
    this.truncated = kept.truncated;
    this.cutoff = cutoffOf(kept);
    for (const path of this.seen.keys()) if (this.cutoff !== undefined && path > this.cutoff) this.seen.delete(path);
  }

  /** The trie grew too large (records of ever new shapes): count what it holds and start afresh. */
  private restart(): void {
    this.fold();
    this.root = new ShapeNode();
    this.nodes = 0;
    this.shapes = [];
  }
}

/**
 * A path as schema_fields can hold it: characters no warehouse text keeps (NUL, lone surrogates) as U+FFFD, and
 * cut on a character boundary to MAX_PATH_BYTES (longer paths with the same start share one row).
 */
function pathColumnText(path: string): string {
  return cutToBytes(path.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'), MAX_PATH_BYTES);
}
