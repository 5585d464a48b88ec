/**
 * Lossless JSON (activities/json.ts): numbers a double would change stay their text, element and member texts
 * are exactly the source's bytes, raw-zone lines round-trip any record text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arrayElementTexts, decodeRawLine, encodeRawLine, JsonNumber, memberText, parseJson } from '../core/json';

const n = (text: string) => new JsonNumber(text);

describe('parseJson', () => {
  it.each([
    ['12345678901234567890', n('12345678901234567890')],
    ['9999999999999999.99', n('9999999999999999.99')],
    ['1.50', n('1.50')],
    ['1e3', n('1e3')],
    ['1E400', n('1E400')],
    ['-0', n('-0')],
    ['0.0000001', n('0.0000001')],
    ['-0.0', n('-0.0')],
    ['9007199254740993', n('9007199254740993')],
    ['0.000001', 0.000001],
    ['1234567890.12345', 1234567890.12345],
    ['9007199254740992', 9007199254740992],
    ['-12.5', -12.5],
    ['0', 0],
    ['100', 100],
  ])('the number %s', (text, expected) => {
    expect(parseJson(text)).toEqual(expected);
    expect(parseJson(`[${text}]`)).toEqual([expected]);
    expect(parseJson(` {"v" : ${text} } `)).toEqual({ v: expected });
  });

  it('keeps risky numbers as text anywhere in a nested record, the rest as JSON.parse gives it', () => {
    const text = '{"order_id":12345678901234567890,"a":[1,{"b":[1.50,"x\\"]}[",-0]}],"c":{"d":null,"e":true,"f":false,"g":2.5},"amount":77.92}';
    expect(parseJson(text)).toEqual({
      order_id: n('12345678901234567890'),
      a: [1, { b: [n('1.50'), 'x"]}[', n('-0')] }],
      c: { d: null, e: true, f: false, g: 2.5 },
      amount: 77.92,
    });
  });

  it('keeps a "__proto__" member as data, as JSON.parse does', () => {
    const parsed = parseJson('{"__proto__":{"x":1},"n":1.50}') as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__proto__', 'n']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  it('replaces lone UTF-16 surrogates with U+FFFD, on both paths, and keeps pairs', () => {
    expect(parseJson('{"s":"a\\ud800b","p":"\\ud83d\\ude00"}')).toEqual({ s: 'a\ufffdb', p: '\u{1f600}' });
    expect(parseJson('{"s":"a\\udc00b","p":"\\ud83d\\ude00","n":1.50}')).toEqual({ s: 'a\ufffdb', p: '\u{1f600}', n: n('1.50') });
  });

  it('decodes escapes in strings and names on the slow path as JSON.parse does', () => {
    expect(parseJson('{"k\\u0041\\n":"\\t\\\\\\"\\/","n":1e3}')).toEqual({ 'kA\n': '\t\\"/', n: n('1e3') });
  });

  it('does not take numbers inside strings (timestamps, ids) for tokens: they stay strings', () => {
    expect(parseJson('{"created_at":"2025-10-31T23:31:18.500Z","id":"12345678901234567890","x":"[1.50]"}')).toEqual({
      created_at: '2025-10-31T23:31:18.500Z',
      id: '12345678901234567890',
      x: '[1.50]',
    });
  });

  it.each(['', '{', '[1,]', '{"a":1,}', '01', '1.', '-', '"abc', '[1] x', '{"a" 1}', 'tru', '{"n":1.50,}', '[1.50', '"a\u0001"', '{"n":1.50,"s":"\u0001"}'])(
    'throws a SyntaxError on %j',
    (text) => {
      expect(() => parseJson(text)).toThrow(SyntaxError);
    },
  );

  it('equals JSON.parse on every bundled sample record', () => {
    const records = JSON.parse(readFileSync(join(__dirname, '..', 'sample_data', 'orders.json'), 'utf8')) as unknown[];
    const texts = arrayElementTexts(readFileSync(join(__dirname, '..', 'sample_data', 'orders.json'), 'utf8'));
    expect(texts).toHaveLength(records.length);
    texts.forEach((text, i) => expect(parseJson(text)).toEqual(records[i]));
  });

  it('turns exactly the numbers that do not round-trip through a double into JsonNumbers (random tokens)', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const digits = (count: number) => Array.from({ length: count }, () => Math.floor(random() * 10)).join('');
    for (let i = 0; i < 5000; i++) {
      const int = String(BigInt(digits(1 + Math.floor(random() * 20))));
      const frac = random() < 0.6 ? `.${digits(1 + Math.floor(random() * 8))}` : '';
      const exp = random() < 0.1 ? `e${Math.floor(random() * 30) - 15}` : '';
      const token = `${random() < 0.3 ? '-' : ''}${int}${frac}${exp}`;
      const expected = String(Number(token)) === token ? Number(token) : n(token);
      expect(parseJson(`{"a":"x","v":${token}}`)).toEqual({ a: 'x', v: expected });
    }
  });
});

describe('arrayElementTexts', () => {
  it('gives each element exactly as written, whitespace around it trimmed', () => {
    const text = ' [ {"a": 1.50, "s": "]\\"[,"} ,\n\t12345678901234567890, "x,y" ,[1, [2]],null,true ] ';
    expect(arrayElementTexts(text)).toEqual(['{"a": 1.50, "s": "]\\"[,"}', '12345678901234567890', '"x,y"', '[1, [2]]', 'null', 'true']);
  });

  it('gives no texts for an empty array', () => {
    expect(arrayElementTexts(' [ ] ')).toEqual([]);
  });

  it.each(['{"a":1}', '[1,]', '[1 2]', '[{"a":}]', '[1]]', '["\\"]'])('throws a SyntaxError on %j', (text) => {
    expect(() => arrayElementTexts(text)).toThrow(SyntaxError);
  });
});

describe('memberText', () => {
  const record = '{"order_id": 12345678901234567890, "items" : [ {"sku":"p\\"1","price": 9999999999999999.999} ],"m":{"items":1},"s":"\\u0069tems"}';

  it('gives a top-level member value exactly as written', () => {
    expect(memberText(record, 'order_id')).toBe('12345678901234567890');
    expect(memberText(record, 'items')).toBe('[ {"sku":"p\\"1","price": 9999999999999999.999} ]');
    expect(memberText(record, 'm')).toBe('{"items":1}');
  });

  it('matches names after decoding their escapes, and takes the last of duplicates as JSON.parse does', () => {
    expect(memberText('{"\\u0069tems":[1],"x":2,"x":"3"}', 'items')).toBe('[1]');
    expect(memberText('{"\\u0069tems":[1],"x":2,"x":"3"}', 'x')).toBe('"3"');
  });

  it('gives undefined for an absent member, nested ones not counting', () => {
    expect(memberText(record, 'sku')).toBeUndefined();
    expect(memberText('{}', 'items')).toBeUndefined();
  });

  it.each(['[1]', '{"a":1', '{"a":1,}', '{a:1}'])('throws a SyntaxError on %j', (text) => {
    expect(() => memberText(text, 'a')).toThrow(SyntaxError);
  });
});

describe('raw-zone lines', () => {
  it.each(['{"order_id": 12345678901234567890}', 'not json {', 'a\nb\r\u2028"\\', 'lone \ud800 surrogate', ''])(
    'encode a record text on one line and decode it back exactly: %j',
    (text) => {
      const line = encodeRawLine(text);
      expect(line).not.toMatch(/[\n\r]/);
      expect(decodeRawLine(line)).toBe(text);
    },
  );

  it('encodes as a JSON string literal', () => {
    expect(encodeRawLine('{"a":1.50}')).toBe('"{\\"a\\":1.50}"');
  });

  it('refuses a line that is not a JSON string', () => {
    expect(() => decodeRawLine('{"a":1}')).toThrow(SyntaxError);
    expect(() => decodeRawLine('"abc')).toThrow(SyntaxError);
  });
});
