/**
 * Lossless JSON. A source's record text is the truth (contract §4): ids like 12345678901234567890 and amounts
 * like 9999999999999999.99 must not pass through a double, and what we quarantine or keep raw is the text as sent.
 */

/** A JSON number kept as its source text because a double would change it. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

const INT = '-?(?:0|[1-9]\\d*)';
/**
 * Cheap over-approximation of "the text holds a number token a double would not give back exactly": a token
 * (after `[`, `,`, `:` or the start, before a delimiter) that is -0, has an exponent, 16+ digits, a fraction
 * ending in 0, or is below 1e-6. Anything else is a number of at most 15 significant digits in the notation
 * `String(Number(t))` writes, which round-trips. False positives (e.g. inside strings) only cost the slow path.
 */
const RISKY_NUMBER = new RegExp(
  `(?:^|[[,:])\\s*(?:-0|${INT}(?:\\.\\d+)?[eE][+-]?\\d+|-?(?:\\d\\.?){16}[\\d.]*|${INT}\\.\\d*0|-?0\\.0{6}\\d*)(?=\\s*(?:[,\\]}]|$))`,
);

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * JSON may escape a lone UTF-16 surrogate ("\ud800"), which no UTF-8 file holds: DuckDB would refuse the whole
 * table part, and the load with it. Such characters become U+FFFD in parsed strings (the raw zone and
 * rejected_records keep the text as received).
 */
function wellFormed(value: string): string {
  return value.replace(LONE_SURROGATE, '\ufffd');
}

/**
 * Like JSON.parse (throws SyntaxError on invalid JSON), but a number whose text a double would change
 * (`String(Number(t)) !== t`) becomes a JsonNumber of that text; lone surrogates in strings become U+FFFD.
 */
export function parseJson(text: string): unknown {
  if (!RISKY_NUMBER.test(text)) {
    if (!SURROGATE_ESCAPE.test(text)) return JSON.parse(text);
    return JSON.parse(text, (_key, value: unknown) => (typeof value === 'string' ? wellFormed(value) : value));
  }
  const scanner = new Scanner(text);
  const value = scanner.value(true);
  scanner.end();
  return value;
}

/** The exact source text of each element of a JSON array text, whitespace around elements trimmed. */
export function arrayElementTexts(arrayText: string): string[] {
  const scanner = new Scanner(arrayText);
  const texts: string[] = [];
  scanner.expect('[');
  if (!scanner.take(']')) {
    do {
      const start = scanner.skipSpace();
      scanner.value(false);
      texts.push(arrayText.slice(start, scanner.pos));
    } while (scanner.take(','));
    scanner.expect(']');
  }
  scanner.end();
  return texts;
}

/** The exact source text of a top-level member's value of a JSON object text (the last, as JSON.parse would). */
export function memberText(objectText: string, key: string): string | undefined {
  const scanner = new Scanner(objectText);
  let found: string | undefined;
  scanner.members(true, (name) => {
    const start = scanner.skipSpace();
    scanner.value(false);
    if (name === key) found = objectText.slice(start, scanner.pos);
  });
  scanner.end();
  return found;
}

/**
 * One raw-zone line per record (`raw/<loadId>/page-NNNNNN.jsonl`): a JSON string literal holding the record's
 * exact text as the source sent it (for a line of a JSONL source that is not JSON: that line's text).
 */
export function encodeRawLine(recordText: string): string {
  return JSON.stringify(recordText);
}

/** The record text a raw-zone line holds. */
export function decodeRawLine(line: string): string {
  const text: unknown = JSON.parse(line);
  if (typeof text !== 'string') throw new SyntaxError('A raw-zone line is not a JSON string');
  return text;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** A recursive-descent JSON reader: builds values (`build`) or only skips over them to find their extent. */
class Scanner {
  pos = 0;

  constructor(private readonly text: string) {}

  private fail(): never {
    const at = this.pos < this.text.length ? `token ${JSON.stringify(this.text[this.pos])} at position ${this.pos}` : 'end of JSON input';
    throw new SyntaxError(`Unexpected ${at}`);
  }

  /** Skips whitespace; returns the position of the next token. */
  skipSpace(): number {
    const text = this.text;
    let c = text.charCodeAt(this.pos);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++this.pos);
    return this.pos;
  }

  take(char: string): boolean {
    this.skipSpace();
    if (this.text[this.pos] !== char) return false;
    this.pos++;
    return true;
  }

  expect(char: string): void {
    if (!this.take(char)) this.fail();
  }

  end(): void {
    if (this.skipSpace() !== this.text.length) this.fail();
  }

  value(build: boolean): unknown {
    const c = this.text[this.skipSpace()];
    if (c === '{') return this.object(build);
    if (c === '[') return this.array(build);
    if (c === '"') return this.string(build);
    if (c === 't') return this.literal('true', true);
    if (c === 'f') return this.literal('false', false);
    if (c === 'n') return this.literal('null', null);
    return this.number(build);
  }

  /**
   * Reads `{ "name": <value>, ... }`, calling `member` positioned before each value, which must consume it;
   * names are decoded only when asked (`names`), else they are ''.
   */
  members(names: boolean, member: (name: string) => void): void {
    this.expect('{');
    if (this.take('}')) return;
    do {
      if (this.text[this.skipSpace()] !== '"') this.fail();
      const name = this.string(names);
      this.expect(':');
      member(name);
    } while (this.take(','));
    this.expect('}');
  }

  private object(build: boolean): Record<string, unknown> | undefined {
    const result: Record<string, unknown> | undefined = build ? {} : undefined;
    this.members(build, (name) => {
      const value = this.value(build);
      // defineProperty, not assignment: a "__proto__" member is data, as with JSON.parse.
      if (result) Object.defineProperty(result, name, { value, enumerable: true, writable: true, configurable: true });
    });
    return result;
  }

  private array(build: boolean): unknown[] | undefined {
    const result: unknown[] | undefined = build ? [] : undefined;
    this.expect('[');
    if (this.take(']')) return result;
    do {
      const value = this.value(build);
      result?.push(value);
    } while (this.take(','));
    this.expect(']');
    return result;
  }

  private string(build: boolean): string {
    const text = this.text;
    const start = this.pos;
    let end = start;
    for (;;) {
      end = text.indexOf('"', end + 1);
      if (end < 0) {
        this.pos = text.length;
        this.fail();
      }
      let backslashes = 0;
      while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
      if (backslashes % 2 === 0) break;
    }
    this.pos = end + 1;
    if (!build) return '';
    const content = text.slice(start + 1, end);
    if (!/[\\\u0000-\u001f]/.test(content)) return content;
    return wellFormed(JSON.parse(text.slice(start, end + 1)) as string);
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail();
    this.pos += word.length;
    return value;
  }

  private number(build: boolean): number | JsonNumber | undefined {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match) this.fail();
    const token = match[0];
    this.pos += token.length;
    if (!build) return undefined;
    const value = Number(token);
    return String(value) === token ? value : new JsonNumber(token);
  }
}
