/**
 * Streamed answer text -> the answer object, validated. Models wrap JSON in prose and fenced code blocks
 * however they are asked, so the parser looks for the object: the whole text, then each fenced block, then each
 * balanced `{...}` in the prose. With labels, a bare label (`Positive.`) counts too, and case is forgiven.
 */
import { validateAnswer, type AnswerSchema, type Checked } from '../shared/answer-schema.js';

/** The JSON objects the text holds, most likely first. */
function* candidates(text: string): Generator<string> {
  yield text.trim();
  for (const m of text.matchAll(/```[a-zA-Z]*[ \t]*\r?\n?([\s\S]*?)```/g)) if (m[1] !== undefined) yield m[1].trim();
  for (let start = text.indexOf('{'); start >= 0; start = text.indexOf('{', start + 1)) {
    const end = balancedEnd(text, start);
    if (end > start) yield text.slice(start, end + 1);
  }
}

/** Index of the `}` closing the `{` at `start` (strings and escapes respected), or -1. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/** The first JSON object found in the text, or undefined. */
export function extractJsonObject(text: string): Record<string, unknown> | undefined {
  for (const candidate of candidates(text)) {
    if (!candidate.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(candidate);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // not this one
    }
  }
  return undefined;
}

function canonicalLabel(labels: readonly string[], raw: string): string | undefined {
  const want = raw.trim().replace(/^["'`*]+|["'`*.!]+$/g, '').trim().toLowerCase();
  return labels.find((l) => l.toLowerCase() === want);
}

/** Labels given in another case are taken as the label (`Positive` for `positive`); anything else stays as it is. */
function normalizeLabels(format: AnswerSchema, value: Record<string, unknown>): Record<string, unknown> {
  const labels = format.labels;
  if (!labels) return value;
  const fix = (v: unknown) => (typeof v === 'string' ? (canonicalLabel(labels, v) ?? v) : v);
  const out = { ...value };
  if ('label' in out) out.label = fix(out.label);
  if (Array.isArray(out.labels)) out.labels = out.labels.map(fix);
  return out;
}

/** Parses and validates one answer. */
export function parseAnswer(text: string, format: AnswerSchema): Checked {
  const found = extractJsonObject(text);
  if (found) return validateAnswer(format, normalizeLabels(format, found));
  if (format.labels) {
    const parts = format.multi ? text.split(/[,;\n]/).filter((p) => p.trim()) : [text];
    const labels = parts.map((p) => canonicalLabel(format.labels ?? [], p));
    if (labels.length > 0 && labels.every((l) => l !== undefined)) {
      return validateAnswer(format, format.multi ? { labels } : { label: labels[0] });
    }
  }
  const shown = text.trim().length > 80 ? `${text.trim().slice(0, 77)}...` : text.trim();
  return { ok: false, error: `no JSON object found in the answer ${JSON.stringify(shown)}` };
}
