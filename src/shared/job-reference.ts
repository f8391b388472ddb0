/**
 * The job-file reference, generated from the schema in config.ts: a JSON Schema (for editors: point
 * yaml-language-server at docs/job-file.schema.json) and the markdown table in the README. Nothing here is
 * written by hand, so the documentation cannot drift from what the validator accepts.
 */
import { z } from 'zod';
import { JobFileSchema } from './config.js';

type Json = Record<string, unknown>;

/** The job file as a JSON Schema (draft 2020-12), descriptions and defaults included. */
export function jobFileJsonSchema(): Json {
  const schema = z.toJSONSchema(JobFileSchema, { io: 'input', unrepresentable: 'any' });
  return {
    ...schema,
    $id: 'https://github.com/omni-batch/omni-batch/docs/job-file.schema.json',
    title: 'omni-batch job file',
    description: "A YAML job file for omni-batch run/enqueue. Paths inside it are relative to the job file's folder; flags override fields.",
  };
}

/** The markdown table: one row per field, nested fields as `video.mode`. */
export function jobReferenceMarkdown(): string {
  const lines = ['| field | type | default | flag | what it does |', '|---|---|---|---|---|'];
  const walk = (props: Json, prefix: string) => {
    for (const [name, raw] of Object.entries(props)) {
      const field = raw as Json;
      const key = prefix + name;
      const description = field.description;
      if (typeof description !== 'string' || description === '') throw new Error(`job-file field ${key} has no description in config.ts`);
      const dflt = typeof field.defaultText === 'string' ? field.defaultText : field.default === undefined ? '' : `\`${JSON.stringify(field.default).replace(/^"|"$/g, '')}\``;
      const flag = typeof field.flag === 'string' ? field.flag.split(', ').map((f) => `\`${f}\``).join(', ') : '';
      lines.push(`| \`${key}\` | ${cell(typeOf(field))} | ${cell(dflt)} | ${flag} | ${cell(description)} |`);
      if (field.type === 'object' && field.nested !== false && isObject(field.properties)) walk(field.properties, `${key}.`);
    }
  };
  const root = jobFileJsonSchema();
  if (!isObject(root.properties)) throw new Error('the job-file schema has no properties');
  walk(root.properties, '');
  return lines.join('\n');
}

function typeOf(s: Json): string {
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(' or ');
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => `\`${String(v as string)}\``).join(' | ');
  switch (s.type) {
    case 'string':
      return s.format === 'uri' ? 'URL' : 'string';
    case 'integer':
    case 'number':
      return `${s.type}${range(s)}`;
    case 'boolean':
      return 'boolean';
    case 'array': {
      const items = isObject(s.items) ? typeOf(s.items) : 'value';
      const min = typeof s.minItems === 'number' && s.minItems > 1 ? `${s.minItems}+ ` : '';
      return `list of ${min}${items === 'string' ? 'strings' : items}`;
    }
    case 'object':
      if (isObject(s.properties)) return `{ ${Object.keys(s.properties).join(', ')} }`;
      return 'object';
    default:
      return 'any';
  }
}

function range(s: Json): string {
  const lo = typeof s.minimum === 'number' ? s.minimum : typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : undefined;
  const hi = typeof s.maximum === 'number' && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  const gt = typeof s.exclusiveMinimum === 'number' ? '>' : '>=';
  if (lo !== undefined && hi !== undefined && gt === '>=') return ` ${lo}-${hi}`;
  return [lo === undefined ? '' : ` ${gt} ${lo}`, hi === undefined ? '' : `, <= ${hi}`].join('');
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
