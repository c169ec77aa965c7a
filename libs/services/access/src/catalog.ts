/** The exports of a repository: every valid version, by uid, with readers shared between connections. */
import { InvalidVersionStateError, NotFoundError, type Repository, type VersionReader } from '@blockvault/core';
import type { ExportCatalog } from './nbd-server.ts';

export interface VersionCatalogOptions {
  /** Each open version's cache of decoded blocks, in bytes. @default 64 MiB */
  readonly cacheBytes?: number;
  /** Versions kept open at once (each with its cache); the least recently opened goes first. @default 8 */
  readonly openVersions?: number;
}

const UID = /^[A-Za-z0-9._:-]{1,128}$/;

export function versionCatalog(repository: Repository, options: VersionCatalogOptions = {}): ExportCatalog {
  const open = new Map<string, Promise<VersionReader>>();
  const describe = (r: VersionReader): string => `${r.version.name} ${r.version.date.toISOString()}`;
  return {
    async list() {
      const versions = (await repository.ls()).filter((v) => v.valid);
      return versions.map((v) => ({ name: v.uid, description: `${v.name} ${v.date.toISOString()}` }));
    },
    async open(name) {
      if (!UID.test(name)) return undefined;
      let reader = open.get(name);
      if (!reader) {
        reader = repository.openReader(name, options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {});
        open.set(name, reader);
        reader.catch((_notOpened: unknown) => open.delete(name));
        if (open.size > (options.openVersions ?? 8)) open.delete(open.keys().next().value as string);
      }
      try {
        // A version found damaged while exported stays exported here (its sound blocks still read;
        // damaged ones fail with EIO): new servers export valid versions only.
        const r = await reader;
        return { reader: r, description: describe(r) };
      } catch (err) {
        if (err instanceof NotFoundError || err instanceof InvalidVersionStateError) return undefined;
        throw err;
      }
    },
  };
}
