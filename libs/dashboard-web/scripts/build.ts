/**
 * Builds the dashboard page into dist/: web/main.tsx bundled and minified by esbuild (Preact,
 * uPlot), index.html and the styles beside it.   npm run build -w @blockvault/dashboard-web
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { DASHBOARD_DIST } from '../src/index.ts';

const WEB = resolve(import.meta.dirname, '../web');

export async function buildDashboard(outdir: string = DASHBOARD_DIST): Promise<{ bytes: number }> {
  await mkdir(outdir, { recursive: true });
  const result = await build({
    entryPoints: [join(WEB, 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outfile: join(outdir, 'app.js'),
    metafile: true,
    logLevel: 'warning',
  });
  const uplotCss = createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css');
  const css = `${await readFile(uplotCss, 'utf8')}\n${await readFile(join(WEB, 'style.css'), 'utf8')}`;
  await writeFile(join(outdir, 'app.css'), css);
  await copyFile(join(WEB, 'index.html'), join(outdir, 'index.html'));
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0) + css.length;
  return { bytes };
}

if (import.meta.main) {
  const { bytes } = await buildDashboard();
  process.stdout.write(`built the dashboard into ${DASHBOARD_DIST} (${Math.round(bytes / 1024)} KiB)\n`);
}
