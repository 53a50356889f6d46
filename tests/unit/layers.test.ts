import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The layering of docs/architecture.md: model <- host <- operations <- api
 * <- agent, cli; lib used by any and using none of gear's own folders. The
 * CLI is the program's entry point: its `gear daemon` loads the agent.
 */
const MAY_IMPORT: Record<string, string[]> = {
  lib: [],
  model: ['lib'],
  host: ['lib', 'model'],
  operations: ['lib', 'model', 'host'],
  api: ['lib', 'model', 'host', 'operations'],
  agent: ['lib', 'model', 'host', 'operations', 'api'],
  cli: ['lib', 'model', 'host', 'operations', 'api', 'agent'],
  // The web console runs in the browser: it talks to the agent over HTTP only.
  console: [],
};

test('each folder of src imports only the layers below it', () => {
  const src = new URL('../../src/', import.meta.url);
  const wrong: string[] = [];
  for (const layer of readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)) {
    assert.ok(MAY_IMPORT[layer], `src/${layer} is a folder docs/architecture.md does not place`);
    for (const file of readdirSync(new URL(`${layer}/`, src)).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(new URL(`${layer}/${file}`, src), 'utf8');
      for (const [, target] of text.matchAll(/(?:from |import\()'\.\.\/([a-z]+)\//g)) {
        if (!MAY_IMPORT[layer]!.includes(target!)) wrong.push(`src/${layer}/${file} imports src/${target}`);
      }
    }
  }
  assert.equal(wrong, []);
});

test.run();
