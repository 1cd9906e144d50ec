// Ajv against the configuration schema, with its errors turned into messages a person can act on:
// the setting's path as the config file spells it (`tokens.keys[0].algorithms[0]`,
// `models["face"].origins`), then what a valid value is (the schema's `x-rule`), then what was given.

import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { CONFIG_SCHEMA, TOKEN_KEY_SCHEMA } from './config-schema.js';

let compiled: ValidateFunction | undefined;

/**
 * Ajv and the compiled schema, loaded on first use: importing this module costs nothing, so CLI
 * commands that never read a key server config never pay for Ajv (~0.1 s to load, more to compile).
 */
function validator(): ValidateFunction {
  if (!compiled) {
    const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    // strictRequired off: the token-key `then` branches require members the base schema declares.
    // validateSchema and code optimisation off: they cost more at start than the validation itself;
    // a test checks the schema against the draft-07 meta-schema instead.
    const ajv = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: false, allowUnionTypes: true, strict: true, strictRequired: false, verbose: true, validateSchema: false, code: { optimize: false } });
    ajv.addVocabulary(['x-rule']);
    compiled = ajv.compile(CONFIG_SCHEMA);
  }
  return compiled;
}

type Schema = Record<string, unknown>;

/** A JSON pointer as a config file spells the path: `a.b[0]`, `models["face"]`. */
function settingPath(instancePath: string, extra?: string): string {
  const segments = instancePath.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (extra !== undefined) segments.push(extra);
  let out = '';
  for (const [i, s] of segments.entries()) {
    if (i === 1 && segments[0] === 'models') out += `[${JSON.stringify(s)}]`;
    else if (i > 0 && /^\d+$/.test(s)) out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}

/** What a valid value is, in words. */
function rule(schema: Schema | undefined): string {
  if (!schema) return 'valid';
  if (typeof schema['x-rule'] === 'string') return schema['x-rule'];
  if (schema['type'] === 'integer') return `an integer from ${String(schema['minimum'])} to ${String(schema['maximum'])}`;
  if (schema['type'] === 'boolean') return 'true or false';
  if (Array.isArray(schema['enum'])) return `one of ${schema['enum'].join(', ')}`;
  if (schema['type'] === 'object') return 'an object';
  return 'valid';
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return Number.isInteger(value) ? 'integer' : typeof value;
}

/** True when a branch schema's `type` admits the value. */
function admits(branch: Schema | undefined, value: unknown): boolean {
  const types = ([] as unknown[]).concat(branch?.['type'] ?? []);
  const t = jsonType(value);
  return types.length === 0 || types.includes(t) || (t === 'integer' && types.includes('number'));
}

/**
 * The error to report, and the rule of the `anyOf` it sits in. Of an `anyOf` (a string or a list),
 * the branch whose type the value has says more than "must be one of these shapes":
 * `"none" is not allowed` beats "must be a list".
 */
function pick(errors: ErrorObject[]): { error: ErrorObject; outer?: Schema } {
  const named = errors.find((e) => e.keyword === 'propertyNames');
  if (named) return { error: named };
  const any = errors.find((e) => e.keyword === 'anyOf');
  if (!any) return { error: errors[0]! };
  const branches = any.schema as Schema[];
  const prefix = `${any.schemaPath}/`;
  const inBranch = errors.find((e) => e.keyword !== 'type' && e.schemaPath.startsWith(prefix) && admits(branches[Number(e.schemaPath.slice(prefix.length).split('/')[0])], any.data));
  return { error: inBranch ?? any, outer: any.parentSchema as Schema };
}

/** The message of one Ajv error, starting with the setting's path. */
function describe(e: ErrorObject, outer?: Schema): string {
  const parent = e.parentSchema as Schema | undefined;
  const must = rule(parent) === 'valid' && outer ? rule(outer) : rule(parent);
  switch (e.keyword) {
    case 'additionalProperties': {
      const known = Object.keys((parent?.['properties'] as Schema | undefined) ?? {});
      return `${settingPath(e.instancePath, String(e.params['additionalProperty']))}: unknown setting (known: ${known.join(', ')})`;
    }
    case 'required': {
      const missing = String(e.params['missingProperty']);
      const member = ((parent?.['properties'] as Schema | undefined)?.[missing] ?? tokenKeyMember(missing)) as Schema | undefined;
      return `${settingPath(e.instancePath, missing)}: is required${member?.['x-rule'] ? ` (${String(member['x-rule'])})` : ''}`;
    }
    case 'propertyNames':
      return `${settingPath(e.instancePath, String(e.params['propertyName']))}: must be ${rule((parent?.['propertyNames'] as Schema | undefined) ?? undefined)}`;
    case 'enum':
      if (/\/\d+$/.test(e.instancePath)) return `${settingPath(e.instancePath)}: ${shown(e.data)} is not allowed (allowed: ${(e.params['allowedValues'] as unknown[]).join(', ')}): ${rule(parent)}`;
      break;
  }
  // A string may be a URI or a path with credentials in it: show it only where the schema lists the choices.
  const value = typeof e.data === 'string' && !Array.isArray(parent?.['enum']) ? '' : `, got ${shown(e.data)}`;
  return `${settingPath(e.instancePath)}: must be ${must}${value}`;
}

/** A token-key member's schema: a `then` branch requires members it does not declare. */
function tokenKeyMember(name: string): Schema | undefined {
  return (TOKEN_KEY_SCHEMA['properties'] as Record<string, Schema>)[name];
}

/** Validates a merged configuration document in place (filling defaults); returns the failure message, or undefined when it is valid. */
export function validateConfig(doc: Record<string, unknown>): string | undefined {
  const validate = validator();
  if (validate(doc)) return undefined;
  const errors = validate.errors ?? [];
  if (errors.length === 0) return 'is invalid';
  const { error, outer } = pick(errors);
  return describe(error, outer);
}
