import { openEmbedded } from '@blockvault/platform';
import { rmSync } from 'node:fs';
rmSync('/tmp/bvb/h', { recursive: true, force: true });
const r = await openEmbedded({ home: '/tmp/bvb/h' });
const { version } = await r.repository.backup({ source: 'file:///tmp/bvb/img', name: 'x' });
for (let i = 0; i < 3; i++) {
  rmSync('/tmp/bvb/out', { force: true });
  const t = performance.now();
  const cpu = process.cpuUsage();
  await r.repository.restore({ uid: version.uid, target: 'file:///tmp/bvb/out' });
  const u = process.cpuUsage(cpu);
  console.log('restore', ((performance.now() - t) / 1000).toFixed(2), 's wall', (u.user / 1e6).toFixed(2), 'user', (u.system / 1e6).toFixed(2), 'sys');
}
await r.close();
