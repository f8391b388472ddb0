/**
 * Structured answers: the answer format of a run (a closed set of labels, or a JSON Schema for an object), the
 * columns it adds, the instructions added to the prompt, and validation. Labels are turned into a JSON Schema
 * too, so there is one path: every structured answer is a JSON object validated by ajv.
 */
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { lazy } from './lazy.js';

export type JsonSchema = Record<string, unknown>;

/** Plain data (it travels in jobs through Redis). */
export interface AnswerSchema {
  /** JSON Schema of the answer object: `{label}` (or `{labels}` with multi) when the job file gave labels. */
  readonly schema: JsonSchema;
  /** The labels when the job file gave `labels`: a bare label is then accepted as an answer too. */
  readonly labels: readonly string[] | undefined;
  /** Several labels per answer (only with labels). */
  readonly multi: boolean;
}

/** Columns every row has; a schema field with one of these names would overwrite it. */
export const RESERVED_COLUMNS = new Set(['id', 'path', 'source', 'kind', 'status', 'parsed', 'reasoning', 'audio_path', 'error_code', 'error_message', 'model', 'cost', 'attempts', 'requests', 'retries', 'index', 'reviewed']);

export function schemaFromLabels(labels: readonly string[], multi: boolean): AnswerSchema {
  const schema: JsonSchema = multi
    ? {
        type: 'object',
        properties: { labels: { type: 'array', items: { enum: [...labels] }, minItems: 1, uniqueItems: true } },
        required: ['labels'],
        additionalProperties: false,
      }
    : { type: 'object', properties: { label: { enum: [...labels] } }, required: ['label'], additionalProperties: false };
  return { schema, labels: [...labels], multi };
}

// One instance, strict: a typo in a schema keyword (`requird`) is an error at start, not a silent no-op. Made,
// and ajv loaded, on the first schema: a run of plain answers (most) does not load it at all.
let ajv: Ajv | undefined;
const ajvModule = lazy<typeof import('ajv')>('ajv');
const compiler = (): Ajv => (ajv ??= new (ajvModule().Ajv)({ allErrors: true, strict: true }));
const compiled = new Map<string, ValidateFunction>();

function validator(schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  let fn = compiled.get(key);
  if (!fn) {
    fn = compiler().compile(schema);
    compiled.set(key, fn);
  }
  return fn;
}

/**
 * Checks a job file's JSON Schema and returns it as an answer format; throws an Error whose message says what is
 * wrong (the config adds where). It must describe an object with named properties: each becomes a column.
 */
export function schemaFromJsonSchema(schema: JsonSchema): AnswerSchema {
  if (schema.type !== 'object') throw new Error(`expected "type: object" (each property becomes a column), received ${JSON.stringify(schema.type ?? null)}`);
  const props = schema.properties;
  if (!props || typeof props !== 'object' || Array.isArray(props) || Object.keys(props).length === 0) {
    throw new Error('expected "properties" with at least one field');
  }
  for (const name of Object.keys(props)) {
    if (RESERVED_COLUMNS.has(name) || /^answer(_\d+)?$/.test(name) || name.endsWith('_tokens')) {
      throw new Error(`property "${name}" has the name of a built-in column; rename it`);
    }
  }
  try {
    validator(schema);
  } catch (err) {
    throw new Error(`not a valid JSON Schema: ${(err as Error).message}`);
  }
  return { schema, labels: undefined, multi: false };
}

/** The schema's fields in their order: one column each. */
export function answerFields(format: AnswerSchema): string[] {
  return Object.keys((format.schema.properties ?? {}));
}

/** Fields whose values are counted in the totals: those with an enum (or an array of enum items), with the values. */
export function countedFields(format: AnswerSchema): { field: string; values: string[] }[] {
  const out: { field: string; values: string[] }[] = [];
  for (const [field, raw] of Object.entries((format.schema.properties ?? {}) as Record<string, JsonSchema>)) {
    const items = raw.type === 'array' && raw.items && typeof raw.items === 'object' ? (raw.items as JsonSchema) : raw;
    const values = Array.isArray(items.enum) ? items.enum : raw.type === 'boolean' || items.type === 'boolean' ? [true, false] : undefined;
    if (values) out.push({ field, values: values.map(String) });
  }
  return out;
}

/** What is added to the prompt of the answered turn. */
export function formatInstructions(format: AnswerSchema): string {
  if (format.labels) {
    const list = format.labels.map((l) => JSON.stringify(l)).join(', ');
    return format.multi
      ? `Answer with a JSON object only, no other text: {"labels": [...]} holding one or more of ${list}.`
      : `Answer with a JSON object only, no other text: {"label": ...} holding exactly one of ${list}.`;
  }
  return `Answer with a JSON object only, no other text, that follows this JSON Schema:\n${JSON.stringify(format.schema)}`;
}

/** The follow-up asked in the same conversation after an answer that could not be used. */
export function retryPrompt(error: string): string {
  return `That answer could not be used: ${error}. Answer again with only the JSON object, as asked.`;
}

export type Checked = { readonly ok: true; readonly value: Record<string, unknown> } | { readonly ok: false; readonly error: string };

/** Validates a parsed value against the answer schema; the error names the field, what was expected and what arrived. */
export function validateAnswer(format: AnswerSchema, value: unknown): Checked {
  const fn = validator(format.schema);
  if (fn(value)) return { ok: true, value: value as Record<string, unknown> };
  return { ok: false, error: describeErrors(fn.errors ?? [], value) };
}

function describeErrors(errors: readonly ErrorObject[], value: unknown): string {
  const parts = errors.slice(0, 3).map((e) => {
    const where = e.instancePath ? `"${e.instancePath.slice(1).replace(/\//g, '.')}"` : 'the answer';
    const allowed = e.keyword === 'enum' ? `: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` : '';
    const got = e.keyword === 'enum' || e.keyword === 'type' ? `, received ${JSON.stringify(at(value, e.instancePath))}` : '';
    return `${where} ${e.message ?? 'is invalid'}${allowed}${got}`;
  });
  return parts.join('; ');
}

function at(value: unknown, pointer: string): unknown {
  let cur = value;
  for (const key of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}
