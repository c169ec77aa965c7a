/**
 * The deployment files agree with the code and with each other: the Helm chart lints and renders,
 * and every rendered container has probes, resources and a non-root, read-only securityContext,
 * with every secret from a Secret; the Dockerfile's targets, the compose file and the chart run
 * the same commands with the same variables and ports. No container engine runs here: the images
 * and the compose stack are checked by parsing them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULT_LISTEN, VARIABLES } from '@blockvault/platform';
import { installHelm } from '@blockvault/testing';

const REPO = resolve(import.meta.dirname, '../..');
const CHART = join(REPO, 'infra/helm/blockvault');
const SERVICES = ['scheduler', 'worker', 'reader', 'blob-store', 'metadata'] as const;
type Service = (typeof SERVICES)[number];
const METRICS_PORT = 9464;
/** The scheduler's web dashboard. */
const DASHBOARD_PORT = 8080;
const KNOWN = new Set(VARIABLES.map((v) => v.name));
/** Variables whose value is a file holding a secret (tokens, keys, creds). */
const SECRET_FILES = new Set(VARIABLES.filter((v) => /mode 600/.test(v.accepts)).map((v) => v.name));
/** Variables whose value is itself a secret: never a literal in the chart. */
const SECRET_VALUES = new Set(['BLOCKVAULT_MONGO_URL', 'BLOCKVAULT_S3_ACCESS_KEY', 'BLOCKVAULT_S3_SECRET_KEY']);
const grpcPort = (s: Exclude<Service, 'worker'>): number => Number(DEFAULT_LISTEN[s].split(':')[1]);

// ---- Dockerfile ----------------------------------------------------------------------------------

interface Stage {
  readonly from: string;
  readonly env: Map<string, string>;
  readonly expose: number[];
  cmd?: string[];
  entrypoint?: string[];
  healthcheck?: string[];
  user?: string;
}

/** The Dockerfile's stages by name: FROM, ENV, EXPOSE, CMD, ENTRYPOINT, HEALTHCHECK CMD and USER, inherited from the stage each is FROM. */
function parseDockerfile(text: string): Map<string, Stage> {
  const stages = new Map<string, Stage>();
  let current: Stage | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (instruction!.toUpperCase()) {
      case 'FROM': {
        const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
        const parent = stages.get(m[1]!);
        current = {
          from: m[1]!,
          env: new Map(parent?.env),
          expose: [...(parent?.expose ?? [])],
          ...(parent?.cmd ? { cmd: parent.cmd } : {}),
          ...(parent?.entrypoint ? { entrypoint: parent.entrypoint } : {}),
          ...(parent?.user ? { user: parent.user } : {}),
        };
        if (m[2]) stages.set(m[2], current);
        break;
      }
      case 'ENV':
        for (const m of args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S*)/g)) current!.env.set(m[1]!, m[2]!);
        break;
      case 'EXPOSE':
        current!.expose.push(...args.split(/\s+/).map(Number));
        break;
      case 'CMD':
        current!.cmd = JSON.parse(args) as string[];
        break;
      case 'ENTRYPOINT':
        current!.entrypoint = JSON.parse(args) as string[];
        break;
      case 'HEALTHCHECK':
        current!.healthcheck = JSON.parse(args.slice(args.indexOf('CMD ') + 4)) as string[];
        break;
      case 'USER':
        current!.user = args;
        break;
    }
  }
  return stages;
}

const dockerfile = parseDockerfile(readFileSync(join(REPO, 'infra/docker/Dockerfile'), 'utf8'));

describe('the Dockerfile: one target per service', () => {
  it('runs each service from its app as a non-root user, on its default port, with a health check', () => {
    for (const service of SERVICES) {
      const stage = dockerfile.get(service);
      assert.ok(stage, `target ${service}`);
      assert.deepEqual(stage.cmd, ['node', `apps/${service}/src/main.ts`], service);
      assert.ok(existsSync(join(REPO, stage.cmd[1]!)), `${stage.cmd[1]} exists`);
      assert.equal(stage.user, 'node', `${service} runs as node, not root`);
      assert.deepEqual(stage.healthcheck, ['node', 'libs/platform/scripts/healthcheck.ts', service]);
      assert.ok(existsSync(join(REPO, 'libs/platform/scripts/healthcheck.ts')));
      assert.equal(stage.env.get('BLOCKVAULT_METRICS_LISTEN'), `0.0.0.0:${METRICS_PORT}`);
      assert.equal(stage.env.get('BLOCKVAULT_HOME'), '/data');
      if (service === 'worker') {
        assert.equal(stage.env.get('BLOCKVAULT_GRPC_LISTEN'), undefined);
        assert.deepEqual(stage.expose, [METRICS_PORT]);
      } else {
        assert.equal(stage.env.get('BLOCKVAULT_GRPC_LISTEN'), `0.0.0.0:${grpcPort(service)}`);
        const dashboard = service === 'scheduler' ? [DASHBOARD_PORT] : [];
        assert.deepEqual(stage.expose.sort(), [grpcPort(service), METRICS_PORT, ...dashboard].sort());
        assert.equal(stage.env.get('BLOCKVAULT_HTTP_LISTEN'), service === 'scheduler' ? `0.0.0.0:${DASHBOARD_PORT}` : undefined);
      }
      for (const name of stage.env.keys())
        if (name.startsWith('BLOCKVAULT_')) assert.ok(KNOWN.has(name), `${service}: ${name} is a setting`);
    }
  });

  it('has an access target: NBD and HTTP ranges, probed on /readyz', () => {
    const stage = dockerfile.get('access');
    assert.deepEqual(stage?.cmd, ['node', 'apps/access/src/main.ts']);
    assert.ok(existsSync(join(REPO, 'apps/access/src/main.ts')));
    assert.equal(stage.user, 'node');
    assert.deepEqual(stage.healthcheck, ['node', 'libs/platform/scripts/healthcheck.ts', 'access']);
    assert.equal(stage.env.get('BLOCKVAULT_NBD_LISTEN'), '0.0.0.0:10809');
    assert.deepEqual(stage.expose.sort(), [10809, 8080, METRICS_PORT].sort());
    for (const name of stage.env.keys()) if (name.startsWith('BLOCKVAULT_')) assert.ok(KNOWN.has(name), name);
  });

  it('has a CLI target whose entry point is the CLI package bin', () => {
    const bin = (JSON.parse(readFileSync(join(REPO, 'apps/cli/package.json'), 'utf8')) as { bin: Record<string, string> }).bin[
      'blockvault'
    ]!;
    assert.deepEqual(dockerfile.get('cli')?.entrypoint, ['node', join('apps/cli', bin)]);
  });

  it('keeps dependencies and build output out of the build context', () => {
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['**/node_modules', '.git']) assert.ok(ignored.includes(entry), entry);
  });
});

// ---- compose -------------------------------------------------------------------------------------

interface ComposeService {
  build?: { context: string; dockerfile: string; target: string };
  image?: string;
  environment?: Record<string, string>;
  restart?: string;
  healthcheck?: { test: string[] };
  profiles?: string[];
  read_only?: boolean;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const COMPOSE_DIR = join(REPO, 'infra/compose');
const compose = parse(readFileSync(join(COMPOSE_DIR, 'compose.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};

describe('the compose file: the same images, variables and ports', () => {
  it('builds each Blockvault service from its Dockerfile target, with the default port and known settings', () => {
    for (const service of SERVICES) {
      const s = compose.services[service];
      assert.ok(s, service);
      assert.equal(s.build?.target, service);
      assert.equal(resolve(COMPOSE_DIR, s.build.context, s.build.dockerfile), join(REPO, 'infra/docker/Dockerfile'));
      assert.equal(s.read_only, true, `${service}: read-only root filesystem`);
      const env = s.environment ?? {};
      if (service !== 'worker') assert.equal(env['BLOCKVAULT_GRPC_LISTEN'], `0.0.0.0:${grpcPort(service)}`);
      assert.equal(env['BLOCKVAULT_HTTP_LISTEN'], service === 'scheduler' ? `0.0.0.0:${DASHBOARD_PORT}` : undefined);
      assert.equal(env['BLOCKVAULT_METRICS_LISTEN'], `0.0.0.0:${METRICS_PORT}`);
      for (const name of Object.keys(env))
        if (name.startsWith('BLOCKVAULT_')) assert.ok(KNOWN.has(name), `${service}: ${name} is a setting`);
      // Services dial each other by compose service name at the default ports.
      for (const [name, target] of [
        ['BLOCKVAULT_METADATA_URL', 'metadata'],
        ['BLOCKVAULT_BLOBSTORE_URL', 'blob-store'],
      ] as const) {
        if (env[name]) assert.equal(env[name], `${target}:${grpcPort(target)}`, `${service}: ${name}`);
      }
    }
    const access = compose.services['access'];
    assert.equal(access?.build?.target, 'access');
    assert.deepEqual(access.profiles, ['access'], 'instant access runs on demand');
    for (const name of ['BLOCKVAULT_NBD_LISTEN', 'BLOCKVAULT_HTTP_LISTEN'])
      assert.equal(access.environment?.[name], dockerfile.get('access')?.env.get(name), `access: ${name} as in the image`);
    for (const name of Object.keys(access.environment ?? {}))
      if (name.startsWith('BLOCKVAULT_')) assert.ok(KNOWN.has(name), `access: ${name}`);
    assert.equal(compose.services['cli']?.build?.target, 'cli');
    assert.ok(dockerfile.has('cli'));
  });

  it('gives every long-running service a restart policy and a health check (Jaeger has no tool to check itself with)', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.profiles) continue; // one-off tools such as the CLI
      assert.equal(s.restart, 'unless-stopped', `${name}: restart policy`);
      const checked = s.healthcheck !== undefined || (s.build !== undefined && dockerfile.get(s.build.target)?.healthcheck !== undefined);
      assert.equal(checked, name !== 'jaeger', `${name}: health check`);
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        const d = compose.services[dep]!;
        const depChecked =
          d.healthcheck !== undefined || (d.build !== undefined && dockerfile.get(d.build.target)?.healthcheck !== undefined);
        if (condition === 'service_healthy') assert.ok(depChecked, `${name} waits for ${dep} to be healthy, which has a check`);
      }
    }
    for (const backing of ['nats', 'mongo', 'minio', 'prometheus', 'grafana', 'jaeger']) assert.ok(compose.services[backing], backing);
  });

  it('scrapes every service on its metrics port and provisions the dashboard', () => {
    const prometheus = parse(readFileSync(join(COMPOSE_DIR, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { dns_sd_configs: { names: string[]; port: number }[] }[];
    };
    const sd = prometheus.scrape_configs.flatMap((c) => c.dns_sd_configs);
    assert.deepEqual(sd.flatMap((d) => d.names).sort(), [...SERVICES].sort());
    for (const d of sd) assert.equal(d.port, METRICS_PORT);
    const provider = parse(readFileSync(join(COMPOSE_DIR, 'grafana/provisioning/dashboards/blockvault.yaml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const mount = (compose.services['grafana'] as { volumes: string[] }).volumes.find((v) =>
      v.endsWith(`:${provider.providers[0]!.options.path}:ro`),
    );
    assert.ok(mount, 'the provider path is mounted');
    assert.ok(existsSync(join(resolve(COMPOSE_DIR, mount.split(':')[0]!), 'blockvault-dashboard.json')));
  });
});

// ---- Helm ----------------------------------------------------------------------------------------

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Probe {
  grpc?: { port: number };
  httpGet?: { path: string; port: string | number };
}
interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: {
    template?: {
      spec: {
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
        volumes?: { name: string; secret?: { secretName: string }; emptyDir?: object; configMap?: object; hostPath?: object }[];
      };
    };
  };
  stringData?: Record<string, string>;
}

let helm: string;

function render(...args: string[]): Manifest[] {
  const r = spawnSync(helm, ['template', 'bv', CHART, '--kube-version', '1.31.0', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const CASES = [
  ['default values', []],
  ['everything on (ci/secured-values.yaml: TLS, tokens, encryption, RBD, monitoring)', ['-f', join(CHART, 'ci/secured-values.yaml')]],
] as const;

describe('the Helm chart', () => {
  before(() => {
    helm = installHelm();
  });

  for (const [label, args] of CASES) {
    it(`passes helm lint --strict: ${label}`, () => {
      const r = spawnSync(helm, ['lint', '--strict', CHART, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    });

    it(`renders every container with probes, resources and a non-root read-only securityContext, every secret from a Secret: ${label}`, () => {
      const manifests = render(...args);
      const workloads = manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'DaemonSet');
      const tls = args.length > 0;
      const components = workloads.map((w) => w.metadata.labels?.['app.kubernetes.io/component']).sort();
      // The access target is off by default and on in ci/secured-values.yaml.
      assert.deepEqual(components, [...SERVICES, ...(args.length > 0 ? ['access'] : [])].sort());
      assert.equal(workloads.find((w) => w.metadata.labels?.['app.kubernetes.io/component'] === 'reader')?.kind, 'DaemonSet');
      const chartSecret = manifests.find((m) => m.kind === 'Secret');
      for (const w of workloads) {
        const component = w.metadata.labels!['app.kubernetes.io/component'] as Service | 'access';
        const pod = w.spec!.template!.spec;
        assert.equal(pod.securityContext?.runAsNonRoot, true, `${component}: runAsNonRoot`);
        assert.notEqual(pod.securityContext?.runAsUser, 0);
        for (const c of pod.containers) {
          const where = `${component}/${c.name}`;
          assert.ok(c.readinessProbe && c.livenessProbe, `${where}: probes`);
          assert.ok(
            c.resources?.requests?.['cpu'] && c.resources.requests['memory'] && c.resources.limits?.['memory'],
            `${where}: resources`,
          );
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root`);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: capabilities dropped`);
          // The image's own command runs: the same as the Dockerfile target's and compose's.
          assert.equal(c.image.split(':')[0], `blockvault/${component}`);
          assert.ok(dockerfile.has(component));
          assert.equal(c.command, undefined);
          assert.equal(c.args, undefined);
          const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
          assert.equal(ports.get('metrics'), METRICS_PORT, `${where}: metrics port`);
          // The scheduler's dashboard and the access target's range endpoint share the HTTP port.
          const servesHttp = component === 'scheduler' || component === 'access';
          assert.equal(ports.get('http'), servesHttp ? DASHBOARD_PORT : undefined, `${where}: HTTP port`);
          const httpListen = c.env?.find((e) => e.name === 'BLOCKVAULT_HTTP_LISTEN')?.value;
          assert.equal(httpListen, servesHttp ? `0.0.0.0:${DASHBOARD_PORT}` : undefined, `${where}: BLOCKVAULT_HTTP_LISTEN`);
          if (component === 'access') {
            assert.equal(
              ports.get('nbd'),
              dockerfile.get('access')?.expose.find((p) => p !== DASHBOARD_PORT && p !== METRICS_PORT),
            );
            assert.equal(
              c.env?.find((e) => e.name === 'BLOCKVAULT_NBD_LISTEN')?.value,
              dockerfile.get('access')?.env.get('BLOCKVAULT_NBD_LISTEN'),
            );
          }
          if (component === 'worker' || component === 'access') {
            assert.equal(ports.has('grpc'), false);
            assert.equal(c.readinessProbe.httpGet?.path, '/readyz');
            assert.equal(c.livenessProbe.httpGet?.path, '/healthz');
          } else {
            assert.equal(ports.get('grpc'), grpcPort(component), `${where}: gRPC port`);
            // The kubelet's gRPC probe speaks plaintext only: with TLS the metrics port's /readyz.
            if (tls) assert.equal(c.readinessProbe.httpGet?.path, '/readyz', where);
            else assert.deepEqual(c.readinessProbe.grpc, { port: grpcPort(component) }, where);
          }
          const secretMounts = (c.volumeMounts ?? [])
            .filter((m) => pod.volumes?.find((v) => v.name === m.name)?.secret)
            .map((m) => m.mountPath);
          for (const e of c.env ?? []) {
            if (e.name.startsWith('BLOCKVAULT_')) assert.ok(KNOWN.has(e.name), `${where}: ${e.name} is a setting`);
            if (SECRET_VALUES.has(e.name)) {
              const ref = e.valueFrom?.secretKeyRef;
              assert.ok(ref, `${where}: ${e.name} comes from a Secret`);
              if (chartSecret) assert.ok(chartSecret.stringData?.[ref.key], `${where}: the chart's Secret holds ${ref.key}`);
            }
            if (SECRET_FILES.has(e.name))
              assert.ok(
                secretMounts.some((m) => e.value?.startsWith(`${m}/`)),
                `${where}: ${e.name}=${e.value} is a file in a mounted Secret`,
              );
            if (e.name === 'BLOCKVAULT_METADATA_URL') assert.equal(e.value, `bv-blockvault-metadata:${grpcPort('metadata')}`);
            if (e.name === 'BLOCKVAULT_BLOBSTORE_URL') assert.equal(e.value, `bv-blockvault-blob-store:${grpcPort('blob-store')}`);
          }
        }
      }
      // Each gRPC service has a Service on its port.
      for (const s of ['scheduler', 'metadata', 'blob-store'] as const)
        assert.ok(
          manifests.some((m) => m.kind === 'Service' && m.metadata.name === `bv-blockvault-${s}`),
          s,
        );
      if (tls) {
        assert.ok(manifests.some((m) => m.kind === 'ServiceMonitor'));
        assert.equal(manifests.filter((m) => m.kind === 'PodDisruptionBudget').length, 4);
        assert.ok(chartSecret?.stringData?.['api-tokens']);
      } else {
        assert.equal(manifests.filter((m) => ['ServiceMonitor', 'PodDisruptionBudget', 'Secret'].includes(m.kind)).length, 0);
      }
    });
  }

  it('refuses values its schema does not allow, naming the value', () => {
    const r = spawnSync(helm, ['template', 'bv', CHART, '--kube-version', '1.31.0', '--set', 'logLevel=loud'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /logLevel/);
    const missing = spawnSync(helm, ['template', 'bv', CHART, '--kube-version', '1.31.0', '--set', 'secrets.create=true'], {
      encoding: 'utf8',
    });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /secrets\.values\.mongoUrl/);
  });
});
