/** Where the built dashboard page is (scripts/build.ts writes it; the scheduler serves it). */
import { resolve } from 'node:path';

export const DASHBOARD_DIST = resolve(import.meta.dirname, '../dist');
