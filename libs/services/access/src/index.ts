export { NbdServer, type ExportCatalog, type ExportedVersion, type NbdServerOptions } from './nbd-server.ts';
export { HttpRangeServer, parseRange, type HttpRangeOptions } from './http-range.ts';
export { versionCatalog, type VersionCatalogOptions } from './catalog.ts';
export { Overlay } from './overlay.ts';
