import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { composeDuration, composeEnvFile, importCompose, interpolate } from '../../src/model/compose.js';
import { parseDeployment } from '../../src/model/deployment/parse.js';

// Compose files as people write them (web + db + cache), turned into gear
// descriptors: what carries over, what is warned about, what is refused.

const convert = (text: string, files: Record<string, string> = {}, variables: Record<string, string> = {}) =>
  importCompose({ text, file: 'compose.yml', readEnvFile: (p) => files[p], variables });

/** A typical web app: a web front, Postgres with a health check and a named volume, Redis; an env_file with the secrets. */
const webApp = `
name: shop
services:
  web:
    image: ghcr.io/example/shop-web:1.4
    build: ./web
    ports:
      - "8000:8080"
    environment:
      DATABASE_URL: postgres://shop@db:5432/shop
      REDIS_URL: redis://cache:6379/0
      WORKERS: 4
      DEBUG: "false"
    env_file: .env.web
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
    deploy:
      replicas: 3
      resources:
        limits:
          cpus: "0.50"
          memory: 256M
      restart_policy:
        condition: on-failure
    restart: unless-stopped
    command: ["gunicorn", "shop.wsgi"]
  db:
    image: postgres:16
    environment:
      - POSTGRES_USER=shop
      - POSTGRES_DB=shop
      - POSTGRES_PASSWORD=\${DB_PASSWORD:?set DB_PASSWORD}
    volumes:
      - dbdata:/var/lib/postgresql/data
    expose:
      - "5432"
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U shop"]
      interval: 10s
      timeout: 5s
      retries: 5
      start_period: 1m30s
  cache:
    image: redis:7-alpine
    expose: ["6379"]
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
    mem_limit: 64m
volumes:
  dbdata:
    driver: local
networks:
  default:
    name: shop-net
`;

test('web + db + cache: images, ports, env (env_file under environment), volumes, health, replicas, limits, links; warnings name each key left out', () => {
  const { descriptor, warnings } = convert(webApp, { '.env.web': '# secrets\nSECRET_KEY="s3cr3t value"\nDEBUG=true\nexport SENTRY_DSN=https://x@sentry/1 # comment\n' }, { DB_PASSWORD: 'pw' });
  assert.equal(descriptor, {
    Containers: [
      {
        Name: 'web',
        Image: 'ghcr.io/example/shop-web:1.4',
        Count: 3,
        PublicPorts: [{ Internal: 8080, External: 8000 }],
        Environment: [
          { Name: 'SECRET_KEY', Value: 's3cr3t value' },
          { Name: 'DEBUG', Value: 'false' },
          { Name: 'SENTRY_DSN', Value: 'https://x@sentry/1' },
          { Name: 'DATABASE_URL', Value: 'postgres://shop@db:5432/shop' },
          { Name: 'REDIS_URL', Value: 'redis://cache:6379/0' },
          { Name: 'WORKERS', Value: '4' },
        ],
        Memory: '256M',
        Cpus: 0.5,
        After: [
          { To: 'db', Wait: 'healthy' },
          { To: 'cache', Wait: 'started' },
        ],
        Links: [{ To: 'db' }, { To: 'cache' }],
      },
      {
        Name: 'db',
        Image: 'postgres:16',
        Count: 1,
        PublicPorts: [{ Internal: 5432 }],
        Environment: [
          { Name: 'POSTGRES_USER', Value: 'shop' },
          { Name: 'POSTGRES_DB', Value: 'shop' },
          { Name: 'POSTGRES_PASSWORD', Value: 'pw' },
        ],
        Volumes: ['/var/lib/postgresql/data'],
        Health: { Cmd: 'pg_isready -U shop', Interval: '10s', Timeout: '5s', Retries: 5, StartPeriod: '90s' },
      },
      { Name: 'cache', Image: 'redis:7-alpine', Count: 1, PublicPorts: [{ Internal: 6379 }], Memory: '64M', Health: { Cmd: 'redis-cli ping' } },
    ],
    IdPrefix: 'shop-',
  });
  assert.equal(warnings, [
    'networks: no equivalent in a gear deployment, ignored',
    'services.web.restart: no equivalent in a gear deployment, ignored',
    'services.web.command: no equivalent in a gear deployment, ignored',
    'services.web.build: gear does not build; the image ghcr.io/example/shop-web:1.4 is pulled',
    'services.web.deploy.restart_policy: no equivalent in a gear deployment, ignored',
    'volumes.dbdata.driver: gear\'s volumes are local named volumes, ignored',
  ]);
  // What deploy reads: valid, with the health check in gear's units.
  const d = parseDeployment(descriptor);
  assert.is(d.Containers[1]!.Health!.StartPeriodMs, 90_000);
  assert.is(d.Containers[0]!.Limits!.Memory, 256 * 2 ** 20);
  assert.equal(d.Containers[0]!.After, [
    { To: 'db', Wait: 'healthy' },
    { To: 'cache', Wait: 'started' },
  ]);
});

test('depends_on: service_healthy waits for healthy, service_started and the list form for started, service_completed_successfully is warned (why) and ordered as started; links: order too', () => {
  const { descriptor, warnings } = convert(`
services:
  web:
    image: w
    depends_on:
      db: {condition: service_healthy, restart: true}
      migrate: {condition: service_completed_successfully}
      cache: {}
  worker:
    image: k
    depends_on: [db, cache]
    links: ["cache:redis"]
  migrate: {image: m}
  db:
    image: d
    healthcheck: {test: ["CMD", "true"]}
  cache: {image: c}
`);
  const after = (descriptor.Containers as { Name: string; After?: unknown; Links?: unknown }[]).map((c) => [c.Name, c.After]);
  assert.equal(after, [
    ['web', [{ To: 'db', Wait: 'healthy' }, { To: 'migrate', Wait: 'started' }, { To: 'cache', Wait: 'started' }]],
    ['worker', [{ To: 'db', Wait: 'started' }, { To: 'cache', Wait: 'started' }]],
    ['migrate', undefined],
    ['db', undefined],
    ['cache', undefined],
  ]);
  assert.equal(
    warnings.filter((w) => w.includes('depends_on')),
    [
      'services.web.depends_on.db.restart: no equivalent in gear, ignored',
      'services.web.depends_on.migrate.condition: service_completed_successfully: gear runs every container as a service that systemd restarts when it exits, so there is no run that completes to wait for (run one-off tasks with gear run-job before deploying); ordered after migrate started instead',
      // None of them publishes a port: ordered, not linked.
      'services.web.depends_on: db publishes no port (ports: or expose:), so no link to it is made',
      'services.web.depends_on: migrate publishes no port (ports: or expose:), so no link to it is made',
      'services.web.depends_on: cache publishes no port (ports: or expose:), so no link to it is made',
      'services.worker.depends_on: db publishes no port (ports: or expose:), so no link to it is made',
      'services.worker.depends_on: cache publishes no port (ports: or expose:), so no link to it is made',
    ],
  );
  assert.equal(parseDeployment(descriptor).Containers[1]!.After, [{ To: 'db', Wait: 'started' }, { To: 'cache', Wait: 'started' }]);
});

test('depends_on refused: a cycle (one line naming it), service_healthy of a service without a healthcheck, an unknown condition', () => {
  const cases: [string, RegExp][] = [
    ['services:\n  a: {image: x, depends_on: [b]}\n  b: {image: y, depends_on: [c]}\n  c: {image: z, depends_on: [a]}', /^compose\.yml: services\.a\.depends_on: a -> b -> c -> a: these services wait for each other, so none could start$/],
    ['services:\n  a: {image: x, depends_on: [a]}', /services\.a\.depends_on: a -> a: these services wait for each other/],
    ['services:\n  a: {image: x, depends_on: {b: {condition: service_healthy}}}\n  b: {image: y}', /^compose\.yml: services\.a\.depends_on\.b\.condition: service_healthy, but b has no healthcheck \(Compose refuses this too\)$/],
    ['services:\n  a: {image: x, depends_on: {b: {condition: service_ready}}}\n  b: {image: y}', /services\.a\.depends_on\.b\.condition: "service_ready" is not a Compose condition/],
    ['services:\n  a: {image: x, depends_on: {b: healthy}}\n  b: {image: y}', /services\.a\.depends_on\.b: must be a map/],
  ];
  for (const [text, message] of cases) assert.throws(() => convert(text), message, text);
});

test('the short forms: docker-compose v2 files with version:, list environment, string healthcheck, long port syntax, scale', () => {
  const { descriptor, warnings } = convert(`
version: "3.8"
services:
  app:
    image: nginx:1.27
    ports:
      - target: 80
        published: 8080
        protocol: tcp
      - "443"
    healthcheck:
      test: curl -f http://localhost/ || exit 1
      interval: 30s
    scale: 2
    container_name: my-nginx
    volumes:
      - /var/cache/nginx
`);
  assert.equal(descriptor.Containers, [
    {
      Name: 'app',
      Image: 'nginx:1.27',
      Count: 2,
      PublicPorts: [{ Internal: 80, External: 8080 }, { Internal: 443 }],
      Volumes: ['/var/cache/nginx'],
      Health: { Cmd: 'curl -f http://localhost/ || exit 1', Interval: '30s' },
    },
  ]);
  assert.equal(warnings, [
    'services.app.container_name: no equivalent in a gear deployment, ignored',
    'services.app.volumes: each of the 2 instances gets volumes of its own (Compose\'s replicas share a named volume)',
  ]);
});

test('what gear cannot honour is an error naming the key', () => {
  const cases: [string, RegExp][] = [
    ['services:\n  a:\n    image: x\n    ports: ["53:53/udp"]', /^compose\.yml: services\.a\.ports\[0\]: "53:53\/udp": gear publishes TCP ports only$/],
    ['services:\n  a:\n    image: x\n    ports: ["127.0.0.1:80:80"]', /services\.a\.ports\[0\]: .*binding to one is not supported/],
    ['services:\n  a:\n    image: x\n    ports: ["8000-8010:8000-8010"]', /services\.a\.ports\[0\]: .*ranges are not supported/],
    ['services:\n  a:\n    image: x\n    volumes: ["./data:/data"]', /services\.a\.volumes\[0\]: \.\/data is a path on the machine running Compose/],
    ['services:\n  a:\n    image: x\n    volumes: [{type: bind, source: /srv, target: /data}]', /services\.a\.volumes\[0\]\.type: "bind" is not supported/],
    ['services:\n  a:\n    image: x\n    environment: [SECRET]', /services\.a\.environment\[0\]: SECRET has no value/],
    ['services:\n  a:\n    image: x\n    environment: {SECRET: null}', /services\.a\.environment\.SECRET: has no value/],
    ['services:\n  a:\n    build: .', /services\.a: builds its image \(build:\) and names none/],
    ['services:\n  a:\n    image: x\n    env_file: missing.env', /services\.a\.env_file\[0\]: missing\.env cannot be read/],
    ['services:\n  a:\n    image: x\n    depends_on: [b]', /services\.a\.depends_on: no service named "b"/],
    ['services:\n  "a b":\n    image: x', /services\.a b: service name "a b" is not valid/],
    ['services:\n  a:\n    image: x\n    volumes: [d:/x]\n  b:\n    image: y\n    volumes: [d:/y]', /volume d is shared by a and b/],
    ['services:\n  a:\n    image: x\n    healthcheck: {test: ["CMD", "true"], interval: 10 seconds}', /services\.a\.healthcheck\.interval: "10 seconds" is not a duration/],
    ['services:\n  a:\n    image: x\n    environment:\n      - P=${NEED:?give it}', /^compose\.yml: services\.a\.environment\[0\]: NEED is required: give it/],
    ['services:\n  a:\n    image: x\n    cpus: abc', /services\.a\.cpus: "abc" is not a number/],
    ['services:\n  a:\n    image: x\n    deploy: {replicas: many}', /services\.a\.deploy\.replicas: "many" is not a number/],
    ['services:\n  a:\n    image: x\n    deploy: {replicas: 2000}', /containers\[0\]\.count: must be a whole number from 0 to 1000/],
    ['a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nservices: {a: {image: x}}', /Excessive alias count/],
    ['services:\n  a:\n    image: Bad Image', /^compose\.yml: containers\[0\]\.image:/],
    ['services: [a, b]', /services: has no service/],
    ['services:\n  a: {image: x}\n  a: {image: y}', /not valid YAML/],
    ['- just\n- a list', /not a Compose file/],
  ];
  for (const [text, message] of cases) assert.throws(() => convert(text), message, text);
});

test('interpolation, env files and durations as Compose reads them', () => {
  const warnings: string[] = [];
  const w = (m: string) => warnings.push(m);
  const vars = { A: 'a', EMPTY: '' };
  assert.is(interpolate('$A ${A} $${A} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}', vars, 'x', w), 'a a ${A} d  d');
  assert.is(interpolate('${UNSET}', vars, 'services.a.image', w), '');
  assert.equal(warnings, ['services.a.image: UNSET is not set, an empty value is used (as Compose does)']);
  assert.throws(() => interpolate('${A', vars, 'x', w), /is not a variable reference/);
  assert.equal(composeEnvFile("A='x $y'\nB=\"q\\\"uote\"\n\nC=plain # c\n", 'f'), [
    { Name: 'A', Value: 'x $y' },
    { Name: 'B', Value: 'q"uote' },
    { Name: 'C', Value: 'plain' },
  ]);
  assert.throws(() => composeEnvFile('JUSTNAME\n', 'f'), /^f, line 1: "JUSTNAME" is not NAME=VALUE/);
  assert.is(composeDuration('1m30s', 'x'), 90_000);
  assert.is(composeDuration('1h', 'x'), 3_600_000);
  assert.is(composeDuration('250ms', 'x'), 250);
  assert.throws(() => composeDuration('10', 'x'), /is not a duration/);
});

test('x- extension fields and YAML anchors: anchors merged, extensions not services', () => {
  const { descriptor, warnings } = convert(`
x-common: &common
  image: busybox:1.36
  environment:
    TZ: UTC
services:
  one:
    <<: *common
  two:
    <<: *common
    deploy: {replicas: 0}
`);
  assert.equal(descriptor.Containers, [
    { Name: 'one', Image: 'busybox:1.36', Count: 1, Environment: [{ Name: 'TZ', Value: 'UTC' }] },
    { Name: 'two', Image: 'busybox:1.36', Count: 0, Environment: [{ Name: 'TZ', Value: 'UTC' }] },
  ]);
  assert.equal(warnings, []);
});

test.run();
