#!/usr/bin/env node
// The `rekey` command. In a checkout (bin/rekey.ts beside this file, tsx installed) it runs the TypeScript
// sources through tsx, so `npx rekey` works right after `npm ci` with nothing built; an installed package
// ships no sources and runs the compiled dist/bin/rekey.js (`npm run build`, done by `npm pack`).
import { existsSync } from 'node:fs';

const source = new URL('./rekey.ts', import.meta.url);
const tsx = existsSync(source) ? await import('tsx/esm/api').catch(() => undefined) : undefined;
if (tsx) {
  tsx.register();
  await import(source.href);
} else {
  await import(new URL('../dist/bin/rekey.js', import.meta.url).href);
}
