#!/usr/bin/env node
// The npm registry mirror these machines reach serves only the linux-x64 builds of
// @napi-rs/blake-hash, so `npm install` leaves the other platforms' optional packages out of
// package-lock.json, and `npm ci` then refuses the lock as out of sync. This adds the missing
// optional entries (os/cpu-restricted, so npm never fetches them here). Run it after any
// `npm install` that rewrites the lock:  node infra/npm/complete-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const PLATFORMS = {
  'android-arm64': [['android'], ['arm64']],
  'darwin-arm64': [['darwin'], ['arm64']],
  'darwin-x64': [['darwin'], ['x64']],
  'freebsd-x64': [['freebsd'], ['x64']],
  'linux-arm-gnueabihf': [['linux'], ['arm']],
  'linux-arm64-gnu': [['linux'], ['arm64'], ['glibc']],
  'linux-arm64-musl': [['linux'], ['arm64'], ['musl']],
  'linux-ppc64-gnu': [['linux'], ['ppc64'], ['glibc']],
  'linux-s390x-gnu': [['linux'], ['s390x'], ['glibc']],
  'linux-x64-gnu': [['linux'], ['x64'], ['glibc']],
  'linux-x64-musl': [['linux'], ['x64'], ['musl']],
  'win32-arm64-msvc': [['win32'], ['arm64']],
  'win32-ia32-msvc': [['win32'], ['ia32']],
  'win32-x64-msvc': [['win32'], ['x64']],
};

const path = new URL('../../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  if (!key.endsWith('node_modules/@napi-rs/blake-hash')) continue;
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `node_modules/${name}`;
    if (packages[target]) continue;
    const [os, cpu, libc] = PLATFORMS[name.replace('@napi-rs/blake-hash-', '')] ?? [];
    if (!os) throw new Error(`unknown platform package ${name}`);
    packages[target] = {
      version,
      resolved: `https://registry.npmjs.org/${name}/-/${name.split('/')[1]}-${version}.tgz`,
      cpu,
      license: 'MIT',
      optional: true,
      os,
      ...(libc ? { libc } : {}),
      engines: { node: '>= 10' },
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} optional platform entries`);
