import { UnsupportedUrlError } from './errors.ts';
import type { IoModule } from './ports.ts';

/** Chooses the I/O module for a source or target URL by its scheme. */
export class IoRegistry {
  readonly #modules = new Map<string, IoModule>();

  constructor(modules: readonly IoModule[] = []) {
    for (const m of modules) this.register(m);
  }

  register(module: IoModule): void {
    this.#modules.set(module.scheme, module);
  }

  get schemes(): string[] {
    return [...this.#modules.keys()];
  }

  /** Parses and checks a URL; refuses unknown schemes and URLs with params, query or fragment. */
  resolve(raw: string): { module: IoModule; url: URL } {
    let url: URL;
    try {
      url = new URL(raw);
    } catch (err) {
      // new URL throws only a TypeError for text that is not a URL: the user's input, not a fault.
      if (!(err instanceof TypeError)) throw err;
      throw new UnsupportedUrlError(raw, `not a URL; use ${this.#examples()}`);
    }
    const scheme = url.protocol.replace(/:$/, '');
    const module = this.#modules.get(scheme);
    if (!module) throw new UnsupportedUrlError(raw, `scheme ${scheme}: is not supported; use ${this.#examples()}`);
    if (url.search || url.hash || raw.includes(';') || raw.includes('?') || raw.includes('#')) {
      throw new UnsupportedUrlError(raw, 'params, query strings and fragments are not allowed');
    }
    if (url.username || url.password) throw new UnsupportedUrlError(raw, 'credentials in URLs are not allowed');
    // URL parsing resolves `.` and `..` silently; a path that needed it is not the one it says.
    if (/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(raw.replace(/^[a-z]+:\/\//i, '/'))) {
      throw new UnsupportedUrlError(raw, 'paths with . or .. segments are not allowed; give the path as it is');
    }
    return { module, url };
  }

  #examples(): string {
    return this.schemes.map((s) => `${s}://...`).join(' or ');
  }
}
