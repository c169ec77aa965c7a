/** The CLI's units and dates: binary sizes, UTC to the second. */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n: number | undefined): string {
  let v = n ?? 0;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

export function date(iso: string | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '';
}

export function duration(seconds: number | undefined): string {
  const s = Math.round(seconds ?? 0);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function percent(part: number | undefined, whole: number | undefined): string {
  return whole ? `${Math.round(((part ?? 0) / whole) * 100)}%` : '0%';
}

export const short = (uid: string | undefined): string => (uid ?? '').slice(0, 8);

export const stateName = (state: string): string => state.replace(/^JOB_STATE_/, '').toLowerCase();
