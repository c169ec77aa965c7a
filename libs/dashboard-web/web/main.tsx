/** The Blockvault dashboard: versions, a version, jobs with live progress, schedules and SLA, storage. */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import {
  get,
  Refused,
  savedToken,
  saveToken,
  streamJobs,
  type Job,
  type Schedule,
  type Usage,
  type Version,
  type VersionDetail,
} from './api.ts';
import { bytes, date, duration, percent, short, stateName } from './format.ts';

type Load<T> = { data?: T; error?: Error };

/** Fetches `path` whenever it (or the token) changes. */
function useApi<T>(path: string, token: string): Load<T> {
  const [state, setState] = useState<Load<T>>({});
  useEffect(() => {
    let live = true;
    get<T>(path).then(
      (data) => live && setState({ data }),
      (error: Error) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, [path, token]);
  return state;
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/versions');
  useEffect(() => {
    const on = (): void => setHash(location.hash || '#/versions');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Problem({ error, onRefused }: { error: Error; onRefused: (message: string) => void }) {
  useEffect(() => {
    if (error instanceof Refused) onRefused(error.message);
  }, [error]);
  return error instanceof Refused ? null : (
    <p class="problem" role="alert">
      {error.message}
    </p>
  );
}

function TokenForm({ message, onToken }: { message: string; onToken: (t: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        onToken(value.trim());
      }}
    >
      <h2>Sign in</h2>
      <p class="problem" role="alert" id="refused">
        Refused: {message}
      </p>
      <label>
        Job API token (read permission)
        <input name="token" type="password" autoComplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      </label>
      <button type="submit">Open the dashboard</button>
    </form>
  );
}

function Versions({ token, onRefused }: { token: string; onRefused: (m: string) => void }) {
  const [name, setName] = useState('');
  const [tag, setTag] = useState('');
  const [valid, setValid] = useState('');
  const query = new URLSearchParams({ ...(name && { name }), ...(tag && { tag }), ...(valid && { valid }) }).toString();
  const { data, error } = useApi<{ versions?: Version[] }>(`/versions${query ? `?${query}` : ''}`, token);
  return (
    <section>
      <h2>Versions</h2>
      <div class="filters">
        <input placeholder="name" value={name} onInput={(e) => setName(e.currentTarget.value)} aria-label="filter by name" />
        <input placeholder="tag" value={tag} onInput={(e) => setTag(e.currentTarget.value)} aria-label="filter by tag" />
        <select value={valid} onChange={(e) => setValid(e.currentTarget.value)} aria-label="filter by validity">
          <option value="">valid or not</option>
          <option value="true">valid</option>
          <option value="false">not valid</option>
        </select>
      </div>
      {error && <Problem error={error} onRefused={onRefused} />}
      {data && (
        <table id="versions">
          <thead>
            <tr>
              <th>uid</th>
              <th>name</th>
              <th>snapshot</th>
              <th>date (UTC)</th>
              <th class="n">size</th>
              <th>state</th>
              <th>tags</th>
              <th>expires</th>
            </tr>
          </thead>
          <tbody>
            {[...(data.versions ?? [])].reverse().map((v) => (
              <tr key={v.uid} class={v.valid ? '' : 'bad'}>
                <td>
                  <a href={`#/versions/${v.uid}`}>{short(v.uid)}</a>
                </td>
                <td>{v.name}</td>
                <td>{v.snapshotName}</td>
                <td>{date(v.date)}</td>
                <td class="n">{bytes(v.sizeBytes)}</td>
                <td>{v.valid ? 'valid' : 'not valid'}</td>
                <td>
                  {(v.tags ?? []).join(', ')}
                  {v.protected ? ' (protected)' : ''}
                </td>
                <td>{date(v.expire) || 'never'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && (data.versions ?? []).length === 0 && <p class="note">No versions match.</p>}
    </section>
  );
}

function VersionPage({ uid, token, onRefused }: { uid: string; token: string; onRefused: (m: string) => void }) {
  const { data, error } = useApi<VersionDetail>(`/versions/${encodeURIComponent(uid)}`, token);
  if (error) return <Problem error={error} onRefused={onRefused} />;
  if (!data) return <p class="note">Loading…</p>;
  const v = data.version;
  const total = v.sizeBytes ?? 0;
  const rows: [string, number | undefined, number | undefined][] = [
    ['unique', data.unique?.blocks, data.unique?.bytes],
    ['deduplicated', data.deduplicated?.blocks, data.deduplicated?.bytes],
    ['sparse', data.sparse?.blocks, data.sparse?.bytes],
    ['invalid', data.invalid?.blocks, data.invalid?.bytes],
    ['unrecorded', data.unrecorded?.blocks, data.unrecorded?.bytes],
  ];
  return (
    <section id="version">
      <h2>
        Version {v.uid} <span class={v.valid ? 'ok' : 'bad'}>{v.valid ? 'valid' : data.complete ? 'damaged' : 'incomplete'}</span>
      </h2>
      <dl>
        <dt>name</dt>
        <dd>{v.name}</dd>
        <dt>snapshot</dt>
        <dd>{v.snapshotName || '-'}</dd>
        <dt>date (UTC)</dt>
        <dd>{date(v.date)}</dd>
        <dt>size</dt>
        <dd>
          {bytes(total)} ({v.size ?? 0} blocks)
        </dd>
        <dt>tags</dt>
        <dd>{(v.tags ?? []).join(', ') || '-'}</dd>
        <dt>protected</dt>
        <dd>{v.protected ? 'yes' : 'no'}</dd>
        <dt>expires</dt>
        <dd>{date(v.expire) || 'never'}</dd>
        {v.stats && (
          <>
            <dt>backup</dt>
            <dd>
              read {bytes(v.stats.bytesRead)}, wrote {bytes(v.stats.bytesWritten)} in {duration(v.stats.durationSeconds)}
            </dd>
          </>
        )}
      </dl>
      <table>
        <thead>
          <tr>
            <th>blocks</th>
            <th class="n">count</th>
            <th class="n">bytes</th>
            <th class="n">share</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([label, blocks, b]) => (
            <tr key={label}>
              <td>{label}</td>
              <td class="n">{blocks ?? 0}</td>
              <td class="n">{bytes(b)}</td>
              <td class="n">{percent(b, total)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Jobs({ onRefused }: { onRefused: (m: string) => void }) {
  const [jobs, setJobs] = useState<Job[] | undefined>();
  const [problem, setProblem] = useState<Error | undefined>();
  useEffect(
    () =>
      streamJobs((j) => {
        setJobs(j);
        setProblem(undefined);
      }, setProblem),
    [],
  );
  return (
    <section>
      <h2>Jobs</h2>
      {problem && <Problem error={problem} onRefused={onRefused} />}
      {jobs && (
        <table id="jobs">
          <thead>
            <tr>
              <th>job</th>
              <th>type</th>
              <th>state</th>
              <th>version</th>
              <th>progress</th>
              <th class="n">rate</th>
              <th>submitted (UTC)</th>
              <th>error</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => {
              const p = j.progress;
              const share = p?.blocksTotal ? (p.blocksDone ?? 0) / p.blocksTotal : 0;
              return (
                <tr key={j.id} data-job={j.id} class={stateName(j.state)}>
                  <td>{short(j.id)}</td>
                  <td>{j.type}</td>
                  <td>{stateName(j.state)}</td>
                  <td>{j.versionUid ? <a href={`#/versions/${j.versionUid}`}>{short(j.versionUid)}</a> : ''}</td>
                  <td>
                    <progress max={1} value={share} /> <span class="blocks">{p ? `${p.blocksDone ?? 0}/${p.blocksTotal ?? 0}` : ''}</span>
                  </td>
                  <td class="n">{p?.bytesPerSecond ? `${bytes(p.bytesPerSecond)}/s` : ''}</td>
                  <td>{date(j.submitted)}</td>
                  <td>{j.error ?? ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Schedules({ token, onRefused }: { token: string; onRefused: (m: string) => void }) {
  const { data, error } = useApi<{ schedules?: Schedule[] }>('/schedules', token);
  return (
    <section>
      <h2>Schedules</h2>
      {error && <Problem error={error} onRefused={onRefused} />}
      {data && (
        <table id="schedules">
          <thead>
            <tr>
              <th>volume</th>
              <th>schedule</th>
              <th class="n">every</th>
              <th class="n">keep</th>
              <th class="n">SLA</th>
              <th>latest</th>
              <th>next due (UTC)</th>
              <th>SLA state</th>
            </tr>
          </thead>
          <tbody>
            {(data.schedules ?? []).map((s) => (
              <tr key={`${s.name}/${s.scheduler}`} class={(s.breaches ?? []).length > 0 ? 'breach' : ''}>
                <td>{s.name}</td>
                <td>{s.scheduler}</td>
                <td class="n">{duration(s.intervalSeconds)}</td>
                <td class="n">{s.keep ?? 0}</td>
                <td class="n">{s.slaSeconds ? duration(s.slaSeconds) : '-'}</td>
                <td>{s.latestUid ? `${short(s.latestUid)} at ${date(s.latestDate)}` : 'none'}</td>
                <td>
                  {date(s.nextDue)}
                  {s.due ? ' (due now)' : ''}
                </td>
                <td>{(s.breaches ?? []).length > 0 ? `breached: ${(s.breaches ?? []).join('; ')}` : 'met'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && (data.schedules ?? []).length === 0 && <p class="note">No schedules: blockvault schedule set NAME ...</p>}
    </section>
  );
}

/** A uPlot line chart over time; rebuilt when its data changes. */
function Chart({
  title,
  series,
  x,
  ys,
  format,
}: {
  title: string;
  series: string[];
  x: number[];
  ys: number[][];
  format: (v: number) => string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const plot = new uPlot(
      {
        title,
        width: Math.min(900, box.current.clientWidth || 900),
        height: 260,
        series: [
          {},
          ...series.map((label, i) => ({
            label,
            stroke: ['#2563eb', '#db2777'][i % 2],
            width: 2,
            value: (_u: uPlot, v: number | null) => (v === null ? '' : format(v)),
          })),
        ],
        axes: [{}, { values: (_u: uPlot, vals: number[]) => vals.map(format), size: 80 }],
      },
      [x, ...ys],
      box.current,
    );
    return () => plot.destroy();
  }, [JSON.stringify([x, ys])]);
  return <div class="chart" ref={box} />;
}

function Storage({ token, onRefused }: { token: string; onRefused: (m: string) => void }) {
  const usage = useApi<Usage>('/usage', token);
  const list = useApi<{ versions?: Version[] }>('/versions', token);
  const error = usage.error ?? list.error;
  if (error) return <Problem error={error} onRefused={onRefused} />;
  if (!usage.data || !list.data) return <p class="note">Loading…</p>;
  const t = usage.data.total ?? {};
  // Over time, from each version's backup as it ran: what the sources held, and what the backups stored new.
  const versions = (list.data.versions ?? []).filter((v) => v.stats);
  const x: number[] = [];
  const logical: number[] = [];
  const stored: number[] = [];
  const ratio: number[] = [];
  let l = 0;
  let s = 0;
  for (const v of versions) {
    l += (v.stats!.bytesRead ?? 0) - (v.stats!.bytesSparse ?? 0);
    s += v.stats!.bytesWritten ?? 0;
    x.push(Date.parse(v.date) / 1000);
    logical.push(l);
    stored.push(s);
    ratio.push(s > 0 ? l / s : 1);
  }
  return (
    <section id="storage">
      <h2>Storage</h2>
      <dl>
        <dt>versions</dt>
        <dd>{t.versions ?? 0}</dd>
        <dt>source bytes</dt>
        <dd>{bytes(t.sourceBytes)}</dd>
        <dt>of those sparse</dt>
        <dd>{bytes(t.sparseBytes)}</dd>
        <dt>stored (distinct blobs)</dt>
        <dd>
          {bytes(t.blobBytes)} in {t.blobs ?? 0} blobs
        </dd>
        <dt>dedup ratio</dt>
        <dd id="dedup-ratio">{(t.dedupRatio ?? 0).toFixed(2)}</dd>
      </dl>
      {x.length > 0 ? (
        <>
          <Chart
            title="Data backed up and stored over time"
            series={['non-sparse data read', 'stored new']}
            x={x}
            ys={[logical, stored]}
            format={(v) => bytes(v)}
          />
          <Chart title="Dedup ratio over time" series={['read / stored']} x={x} ys={[ratio]} format={(v) => v.toFixed(2)} />
          <p class="note">From each version's backup as it ran; blobs a cleanup removed since are still counted here.</p>
        </>
      ) : (
        <p class="note">No completed backups yet.</p>
      )}
    </section>
  );
}

type Event = { id: string; time: string; kind: string; versionUid?: string; jobId?: string; error?: string; [field: string]: unknown };

function Events({ token, onRefused }: { token: string; onRefused: (m: string) => void }) {
  const { data, error } = useApi<{ events?: Event[] }>('/events?limit=100', token);
  return (
    <section>
      <h2>Recent events</h2>
      {error && <Problem error={error} onRefused={onRefused} />}
      {data && (
        <table id="events">
          <thead>
            <tr>
              <th>time (UTC)</th>
              <th>event</th>
              <th>version</th>
              <th>job</th>
              <th>detail</th>
            </tr>
          </thead>
          <tbody>
            {(data.events ?? []).map((e) => (
              <tr key={e.id} class={/failed|damage/.test(e.kind) ? 'bad' : ''}>
                <td>{date(e.time)}</td>
                <td>{e.kind}</td>
                <td>{e.versionUid ? <a href={`#/versions/${e.versionUid}`}>{short(e.versionUid)}</a> : ''}</td>
                <td>{short(e.jobId)}</td>
                <td>{e.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && (data.events ?? []).length === 0 && <p class="note">No events yet.</p>}
    </section>
  );
}

function App() {
  const hash = useHash();
  const [token, setToken] = useState(savedToken());
  const [refused, setRefused] = useState<string | undefined>();
  const onRefused = (message: string): void => setRefused(message);
  const page = hash.split('/')[1] ?? 'versions';
  const uid = page === 'versions' ? hash.split('/')[2] : undefined;
  const nav = (target: string, label: string) => (
    <a href={`#/${target}`} class={page === target ? 'here' : ''}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <h1>Blockvault</h1>
        <nav>
          {nav('versions', 'Versions')}
          {nav('jobs', 'Jobs')}
          {nav('schedules', 'Schedules')}
          {nav('storage', 'Storage')}
          {nav('events', 'Events')}
        </nav>
      </header>
      <main>
        {refused !== undefined ? (
          <TokenForm
            message={refused}
            onToken={(t) => {
              saveToken(t);
              setToken(t);
              setRefused(undefined);
            }}
          />
        ) : page === 'jobs' ? (
          <Jobs key={token} onRefused={onRefused} />
        ) : page === 'schedules' ? (
          <Schedules token={token} onRefused={onRefused} />
        ) : page === 'storage' ? (
          <Storage token={token} onRefused={onRefused} />
        ) : page === 'events' ? (
          <Events token={token} onRefused={onRefused} />
        ) : uid ? (
          <VersionPage uid={uid} token={token} onRefused={onRefused} />
        ) : (
          <Versions token={token} onRefused={onRefused} />
        )}
      </main>
    </>
  );
}

const root = document.getElementById('app')!;
root.replaceChildren(); // the no-JavaScript note
render(<App />, root);
