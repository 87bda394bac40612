/**
 * Checks HTTP answers against an OpenAPI 3.1 document, for the API tests: the operation is found by method and path
 * template, the response by status, the media type by Content-Type, and the body is validated with Ajv (JSON Schema
 * 2020-12, the dialect of OpenAPI 3.1) against that response's schema, `$ref`s resolved inside the document. Headers
 * the response declares with a `const` or `enum` are checked too. Also: every `$ref` of the document resolves.
 */
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: its default export arrives as the module object under node's ESM interop.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

type Obj = Record<string, unknown>;
const DOC_ID = 'urn:ffaudit:openapi';

/** A JSON pointer segment (RFC 6901 §4). */
const seg = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function resolvePointer(doc: unknown, pointer: string): unknown {
  let at: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const k = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof at !== 'object' || at === null || !(k in at)) return undefined;
    at = (at as Obj)[k];
  }
  return at;
}

/** Every `$ref` in the document, each with where it is and whether it resolves inside the document. */
export function unresolvedRefs(doc: unknown): string[] {
  const bad: string[] = [];
  const walk = (v: unknown, where: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}/${i}`));
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref') {
          if (typeof x !== 'string' || !x.startsWith('#/') || resolvePointer(doc, x.slice(1)) === undefined) bad.push(`${where}: ${String(x)}`);
        } else walk(x, `${where}/${seg(k)}`);
      }
    }
  };
  walk(doc, '#');
  return bad;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

export class OpenApiChecker {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  /** Each operation checked at least once, by "METHOD template status": the tests can see what they left out. */
  readonly seen = new Set<string>();

  constructor(readonly doc: Obj) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ ...doc, $id: DOC_ID });
  }

  /** The path template of the document that `path` (no query) matches, or undefined. */
  template(path: string): string | undefined {
    for (const t of Object.keys(this.doc.paths as Obj)) {
      const re = new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (re.test(path)) return t;
    }
    return undefined;
  }

  private validator(pointer: string): ValidateFunction {
    let v = this.compiled.get(pointer);
    if (!v) {
      v = this.ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
      this.compiled.set(pointer, v);
    }
    return v;
  }

  /** Asserts that `answer` to `method url` is one the document describes. */
  check(method: string, url: string, answer: Answer): void {
    const path = new URL(url, 'http://x').pathname;
    const t = this.template(path);
    assert.ok(t, `${method} ${path}: no path of the OpenAPI document matches`);
    const m = method.toLowerCase();
    const op = (this.doc.paths as Record<string, Obj>)[t]![m] as Obj | undefined;
    assert.ok(op, `${method} ${t}: not an operation of the document`);
    const responses = op.responses as Record<string, Obj>;
    const status = String(answer.status);
    const response = responses[status] ?? responses.default;
    assert.ok(response, `${method} ${t}: status ${status} is not documented (documented: ${Object.keys(responses).join(', ')}); body: ${answer.body.slice(0, 200)}`);
    this.seen.add(`${method.toUpperCase()} ${t} ${status}`);
    const base = `/paths/${seg(t)}/${m}/responses/${responses[status] ? status : 'default'}`;
    for (const [name, h] of Object.entries((response.headers ?? {}) as Record<string, { schema?: Obj }>)) {
      const schema = h.schema ?? {};
      const got = answer.headers.get(name);
      if ('const' in schema) assert.equal(got, schema.const, `${method} ${t} ${status}: header ${name}`);
      if ('enum' in schema) assert.ok((schema.enum as unknown[]).includes(got), `${method} ${t} ${status}: header ${name} = ${String(got)}`);
    }
    const content = response.content as Record<string, Obj> | undefined;
    if (!content) {
      assert.equal(answer.body, '', `${method} ${t} ${status}: a body where none is documented`);
      return;
    }
    const type = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    assert.ok(type in content, `${method} ${t} ${status}: Content-Type ${type} is not documented (${Object.keys(content).join(', ')})`);
    const value = type === 'application/json' ? (JSON.parse(answer.body) as unknown) : answer.body;
    const validate = this.validator(`${base}/content/${seg(type)}/schema`);
    assert.ok(validate(value), `${method} ${t} ${status}: the body does not match its schema: ${this.ajv.errorsText(validate.errors)}\n${answer.body.slice(0, 500)}`);
  }
}

/** A fetch Response read whole, as check() takes it. */
export async function answerOf(res: Response): Promise<Answer> {
  return { status: res.status, headers: res.headers, body: await res.text() };
}
