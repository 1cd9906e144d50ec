// Writes docs/keyserver-config.schema.json from the schema the key server validates with
// (keyserver/config-schema.ts). Run after changing the schema: npx tsx scripts/make-config-schema.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_SCHEMA } from '../keyserver/config-schema.js';

/** The published schema file's exact text. */
export function configSchemaText(): string {
  return `${JSON.stringify(CONFIG_SCHEMA, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = join(import.meta.dirname, '../docs/keyserver-config.schema.json');
  writeFileSync(path, configSchemaText());
  process.stdout.write(`${path}\n`);
}
