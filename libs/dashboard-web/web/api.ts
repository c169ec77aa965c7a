/** The dashboard's JSON API (/api/v1, the job API's messages in proto3 JSON) and its job stream. */

export interface Stats {
  bytesRead?: number;
  bytesWritten?: number;
  bytesDedup?: number;
  bytesSparse?: number;
  durationSeconds?: number;
}
export interface Version {
  uid: string;
  name: string;
  snapshotName?: string;
  date: string;
  size?: number;
  sizeBytes?: number;
  valid?: boolean;
  protected?: boolean;
  tags?: string[];
  expire?: string;
  stats?: Stats;
}
export interface BlockCount {
  blocks?: number;
  bytes?: number;
}
export interface VersionDetail {
  version: Version;
  complete?: boolean;
  unique?: BlockCount;
  deduplicated?: BlockCount;
  sparse?: BlockCount;
  invalid?: BlockCount;
  unrecorded?: BlockCount;
}
export interface Progress {
  blocksDone?: number;
  blocksTotal?: number;
  bytesDone?: number;
  bytesPerSecond?: number;
  etaSeconds?: number;
}
export interface Job {
  id: string;
  type: string;
  state: string;
  submitted?: string;
  started?: string;
  finished?: string;
  attempts?: number;
  versionUid?: string;
  progress?: Progress;
  error?: string;
}
export interface Schedule {
  name: string;
  scheduler: string;
  intervalSeconds?: number;
  keep?: number;
  slaSeconds?: number;
  latestUid?: string;
  latestDate?: string;
  nextDue?: string;
  due?: boolean;
  breaches?: string[];
}
export interface Usage {
  versions?: { uid: string; name: string; sizeBytes?: number; exclusiveBytes?: number }[];
  total?: { versions?: number; sourceBytes?: number; sparseBytes?: number; blobs?: number; blobBytes?: number; dedupRatio?: number };
}

/** The API refused the token (or its absence): the page asks for one. */
export class Refused extends Error {}

const TOKEN_KEY = 'blockvault.token';
export const savedToken = (): string => sessionStorage.getItem(TOKEN_KEY) ?? '';
export const saveToken = (token: string): void => sessionStorage.setItem(TOKEN_KEY, token);

function headers(): Record<string, string> {
  const token = savedToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function get<T>(path: string): Promise<T> {
  const res = await fetch(`/api/v1${path}`, { headers: headers() });
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (res.status === 401 || res.status === 403) throw new Refused(body.error ?? `refused (${res.status})`);
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** Follows /api/v1/jobs/stream (server-sent events over fetch, which can send the token); reconnects after a drop. */
export function streamJobs(onJobs: (jobs: Job[]) => void, onProblem: (e: Error) => void): () => void {
  const abort = new AbortController();
  const run = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        const res = await fetch('/api/v1/jobs/stream', { headers: headers(), signal: abort.signal });
        if (res.status === 401 || res.status === 403) throw new Refused(((await res.json()) as { error: string }).error);
        if (!res.ok || !res.body) throw new Error(`job stream: ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const type = /^event: (.*)$/m.exec(event)?.[1];
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (type === 'jobs' && data) onJobs((JSON.parse(data) as { jobs?: Job[] }).jobs ?? []);
          }
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        onProblem(err as Error);
        if (err instanceof Refused) return;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
  return () => abort.abort();
}
