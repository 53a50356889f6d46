import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseDeployment } from '../../src/model/deployment/parse.js';
import { kubeAppsOf, kubeLimits, kubeName, kubeObjects, type KubeApp } from '../../src/model/export/kube.js';
import { yamlDocuments } from '../../src/model/export/yaml.js';

// gear export --kube: manifests from a deployment, each object validated
// against Kubernetes' OpenAPI schemas by kubernetes-models (5.1.0, whose
// schemas are those of a current release: resource.k8s.io/v1, PodSpec's
// hostnameOverride and schedulingGroup; see docs/export.md).

const MODELS: Record<string, new (o: never) => { validate(): void }> = { Deployment, StatefulSet, Secret, Service };

/** Every object through its model's validate(), which throws with the failing field. */
function validateAll(objects: Record<string, unknown>[]): void {
  for (const o of objects) {
    const Model = MODELS[o.kind as string];
    assert.ok(Model, `no model for ${String(o.kind)}`);
    new Model!(o as never).validate();
  }
}

const descriptor = {
  Containers: [
    {
      Name: 'web',
      Image: 'localhost/test-web:1',
      Count: 3,
      PublicPorts: [{ Internal: 8080, External: 14000 }],
      Links: [{ To: 'db', AliasPorts: [{ Internal: 5432, External: 15432 }] }, { To: 'cache', Ports: [6379] }],
      Environment: [
        { Name: 'PASSWORD', Value: 'no' },
        { Name: 'DSN', Value: 'postgres://u:p@db:5432/x?a=1#frag' },
        { Name: 'EMPTY', Value: '' },
      ],
      Memory: '256M',
      Cpus: 0.25,
      Pids: 64,
    },
    { Name: 'db', Image: 'localhost/db', Count: 1, PublicPorts: [{ Internal: 5432 }] },
    { Name: 'cache', Image: 'localhost/cache', Count: 0, PublicPorts: [{ Internal: 6379 }] },
  ],
};

test('a descriptor: Secrets, Services for links on the ports the source saw, Deployments with replicas; all valid', () => {
  const { apps, links, notes } = kubeAppsOf(parseDeployment(descriptor));
  const out = kubeObjects(apps, links, notes);
  validateAll(out.Objects);
  const kinds = out.Objects.map((o) => `${o.kind}/${(o.metadata as { name: string }).name}`);
  assert.equal(kinds, ['Secret/web-env', 'Service/web', 'Service/db', 'Service/cache', 'Deployment/web', 'Deployment/db', 'Deployment/cache']);
  const byName = (k: string) => out.Objects.find((o) => `${o.kind}/${(o.metadata as { name: string }).name}` === k) as any;
  assert.equal(byName('Secret/web-env').stringData, { PASSWORD: 'no', DSN: 'postgres://u:p@db:5432/x?a=1#frag', EMPTY: '' });
  // web saw db's 5432 on 15432 through its link: the Service carries both the container's port and that one.
  assert.equal(byName('Service/db').spec.ports, [
    { name: 'p5432', port: 5432, targetPort: 5432, protocol: 'TCP' },
    { name: 'p15432', port: 15432, targetPort: 5432, protocol: 'TCP' },
  ]);
  const web = byName('Deployment/web').spec;
  assert.is(web.replicas, 3);
  assert.is(byName('Deployment/cache').spec.replicas, 0);
  const c = web.template.spec.containers[0];
  assert.equal(c.envFrom, [{ secretRef: { name: 'web-env' } }]);
  assert.equal(c.resources.limits, { memory: '256Mi', cpu: '250m' });
  assert.equal(web.selector.matchLabels, web.template.metadata.labels);
  assert.ok(out.Notes.some((n) => n.includes('host port 14000')));
  assert.ok(out.Notes.some((n) => n.includes('pids limit (64)')));
  assert.ok(out.Notes.some((n) => n.startsWith('web -> db:')));
  // The check can fail: a wrong type or a missing field is refused by the schema (OpenAPI says
  // types and required fields; ranges and name rules are the API server's: kubeName keeps to them).
  const bad = structuredClone(byName('Deployment/web'));
  bad.spec.replicas = '3';
  assert.throws(() => validateAll([bad]), /replicas/);
  const badSvc = structuredClone(byName('Service/db'));
  badSvc.spec.ports[0].port = '5432';
  assert.throws(() => validateAll([badSvc]), /port/);
});

const app = (over: Partial<KubeApp>): KubeApp => ({ Name: 'app', Image: 'img', Replicas: 2, Ports: [80], Environment: [], Volumes: [], ...over });

test('volumes make a StatefulSet with a claim template each (each replica its own, as each instance), plus its headless Service', () => {
  const out = kubeObjects([app({ Volumes: ['/var/lib/data', '/srv/my files'], Ports: [] })], []);
  validateAll(out.Objects);
  const [svc, sts] = out.Objects as any[];
  assert.is(svc.kind, 'Service');
  assert.is(svc.spec.clusterIP, 'None');
  assert.is(sts.kind, 'StatefulSet');
  assert.is(sts.spec.serviceName, 'app');
  assert.equal(sts.spec.template.spec.containers[0].volumeMounts, [
    { name: 'data0', mountPath: '/var/lib/data' },
    { name: 'data1', mountPath: '/srv/my files' },
  ]);
  assert.equal(sts.spec.volumeClaimTemplates.map((t: any) => t.metadata.name), ['data0', 'data1']);
});

test('a health check becomes readiness and liveness exec probes (and a startup probe for its start period)', () => {
  const Health = { Cmd: `curl -fs "http://localhost:80/$PATH" || exit 1`, IntervalMs: 1500, TimeoutMs: 500, Retries: 4, StartPeriodMs: 30_000 };
  const out = kubeObjects([app({ Health })], []);
  validateAll(out.Objects);
  const c = (out.Objects.find((o) => o.kind === 'Deployment') as any).spec.template.spec.containers[0];
  assert.equal(c.readinessProbe, { exec: { command: ['/bin/sh', '-c', Health.Cmd] }, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 4 });
  assert.equal(c.livenessProbe, c.readinessProbe);
  assert.is(c.startupProbe.failureThreshold, 20);
});

test('names: lower-cased, "_" and "." become "-"; a name Kubernetes cannot take, or two that meet, are refused', () => {
  assert.is(kubeName('Web_Front.1'), 'web-front-1');
  for (const bad of ['1web', 'web-', 'web_', 'a'.repeat(64)]) assert.throws(() => kubeName(bad), /cannot be a Kubernetes name/, bad);
  assert.throws(() => kubeObjects([app({ Name: 'Web' }), app({ Name: 'web' })], []), /would both be web/);
  assert.throws(
    () =>
      kubeObjects(
        [app({ Name: 'a' }), app({ Name: 'b' }), app({ Name: 'db', Ports: [5432, 5433] })],
        [
          { From: 'a', To: 'db', Internal: 5432, Port: 9000 },
          { From: 'b', To: 'db', Internal: 5433, Port: 9000 },
        ],
      ),
    /see port 9000 as both 5432 and 5433/,
  );
});

test('limits: memory in binary units when whole, else bytes; CPUs in millicores', () => {
  assert.equal(kubeLimits({ Memory: 268435456, Cpus: 1.5 }), { memory: '256Mi', cpu: '1500m' });
  assert.equal(kubeLimits({ Memory: 6 * 1024 * 1024 + 1 }), { memory: '6291457' });
  assert.equal(kubeLimits({ Pids: 5 }), undefined);
});

test('YAML: every string double-quoted, read back as the same value whatever it looks like', () => {
  const nasty = ['no', 'yes', 'null', '~', '1e3', '0x1f', '012', 'true', '- a', ': b', '# c', 'a: b', '{x}', '[y]', '*ref', '&anchor', '!tag', '%d', '@at', '`b`',
    "it's", 'say "hi"', 'back\\slash', 'tab\tin', 'uni ✓ é', '', ' lead', 'trail ', '---', '...', '\u2028'];
  const doc = { kind: 'Secret', stringData: Object.fromEntries(nasty.map((v, i) => [`K${i}`, v])), keys: Object.fromEntries(nasty.filter((k) => k !== '').map((k) => [k, k])), list: nasty, empty: {}, none: [], n: 0 };
  const text = yamlDocuments([doc, { second: true }]);
  const docs = parseAllDocuments(text).map((d) => d.toJS());
  assert.equal(docs[0], doc);
  assert.equal(docs[1], { second: true });
  assert.equal(parseYaml(yamlDocuments([{ a: [{ b: 1, c: [{ d: 'e' }] }] }])), { a: [{ b: 1, c: [{ d: 'e' }] }] });
});

test("a descriptor's Health and Volumes (gear's own fields): probes, and a StatefulSet with a claim per volume", () => {
  const d = parseDeployment({ Containers: [{ Name: 'db', Image: 'localhost/db', Count: 2, PublicPorts: [{ Internal: 5432 }], Health: { Cmd: 'pg_isready', Interval: '2s' }, Volumes: ['/var/lib/db'] }] });
  const { apps, links, notes } = kubeAppsOf(d);
  const out = kubeObjects(apps, links, notes);
  validateAll(out.Objects);
  const set = out.Objects.find((o) => o.kind === 'StatefulSet') as any;
  assert.ok(set, out.Objects.map((o) => o.kind).join(' '));
  assert.is(set.spec.replicas, 2);
  const c = set.spec.template.spec.containers[0];
  assert.equal(c.readinessProbe.exec.command, ['/bin/sh', '-c', 'pg_isready']);
  assert.is(c.readinessProbe.periodSeconds, 2);
  assert.is(set.spec.volumeClaimTemplates.length, 1);
  assert.ok(c.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/var/lib/db'));
});

test.run();
