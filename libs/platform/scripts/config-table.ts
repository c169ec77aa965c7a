/**
 * Writes the configuration table into the README between its markers, from
 * libs/platform/src/config/variables.ts:  npm run docs:config
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configTable } from '../src/config/variables.ts';
import { replaceConfigTable } from '../src/config/readme.ts';

const path = resolve(import.meta.dirname, '../../../README.md');
writeFileSync(path, replaceConfigTable(readFileSync(path, 'utf8'), configTable()));
process.stdout.write(`wrote the configuration table into ${path}\n`);
