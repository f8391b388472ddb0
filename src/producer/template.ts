/**
 * Prompt templates: `{{file.name}}`, `{{file.relPath}}`, `{{file.dir}}`, `{{file.ext}}`, `{{media.kind}}`,
 * `{{media.durationSec}}`, `{{row.<column>}}`.
 *
 * Only these are substituted, in one pass over the template text: a value that itself contains `{{...}}` is
 * never expanded again, and nothing from the environment can be reached. An unknown variable is a ConfigError
 * raised when the template is compiled, before any API call.
 */
import { ConfigError } from '../shared/errors.js';

export const TEMPLATE_VARS = ['file.name', 'file.relPath', 'file.dir', 'file.ext', 'media.kind', 'media.durationSec'] as const;

const VAR = /\{\{\s*([A-Za-z_][\w.-]*?)\s*\}\}/g;

export interface Template {
  readonly source: string;
  /** Variable names used, in order of first use. */
  readonly vars: readonly string[];
}

export interface CompileContext {
  /** Where the template came from, for messages ("prompt", "followUps[1]"). */
  readonly where: string;
  /**
   * Manifest columns allowed as {{row.*}}: undefined when they are only known row by row (JSONL), null when
   * there is no manifest (then any {{row.*}} is an error).
   */
  readonly rowColumns: readonly string[] | undefined | null;
}

export function compileTemplate(source: string, ctx: CompileContext): Template {
  const vars: string[] = [];
  for (const m of source.matchAll(VAR)) {
    const name = m[1] ?? '';
    if (!vars.includes(name)) vars.push(name);
  }
  for (const name of vars) {
    if ((TEMPLATE_VARS as readonly string[]).includes(name)) continue;
    if (name.startsWith('row.') && name.length > 4) {
      const column = name.slice(4);
      if (ctx.rowColumns === null) throw new ConfigError(`${ctx.where}: {{${name}}} needs a manifest (--manifest FILE); scanned files have no row columns`);
      if (ctx.rowColumns !== undefined && !ctx.rowColumns.includes(column)) {
        throw new ConfigError(`${ctx.where}: {{${name}}}: the manifest has no column "${column}"; its columns are ${ctx.rowColumns.join(', ')}`);
      }
      continue;
    }
    throw new ConfigError(`${ctx.where}: unknown template variable {{${name}}}; known: ${[...TEMPLATE_VARS, 'row.<column>'].map((v) => `{{${v}}}`).join(', ')}`);
  }
  return { source, vars };
}

/** Thrown by render when a row lacks a column the template uses (JSONL rows differ); becomes a failed row. */
export class MissingVariableError extends Error {}

export function render(t: Template, values: Readonly<Record<string, string>>): string {
  return t.source.replace(VAR, (_whole, name: string) => {
    const v = values[name];
    if (v === undefined) throw new MissingVariableError(`{{${name}}} has no value for this item`);
    return v;
  });
}
