import { Type, type Static, type TObject, type TOptional, type TString } from '@sinclair/typebox';
import { VariablesSchema } from '../model/env.js';
import { HealthSchema } from '../model/health.js';
import { AfterSchema, WaitSchema } from '../model/ordering.js';
import { LimitFieldsSchema } from '../model/limits.js';
import { NetworkLinksSchema } from '../model/links.js';
import { PortsSchema } from '../model/ports.js';
import { closed, nullable } from '../model/schema.js';
import { RuntimeSchema } from '../model/runtime.js';
import { VolumeConfigSchema } from '../model/volumes.js';

/**
 * JSON schemas of the API's bodies and queries (TypeBox: JSON Schema with
 * TypeScript types), built from the model's parts. Each operation's parse()
 * runs them (compiled once), for the CLI and the agent alike, and the agent
 * publishes them in /openapi.json; parse() then checks what a schema cannot
 * say (name alphabet, path normal form, duplicates). Unknown fields are
 * refused in every body and query an operation takes.
 */
export const InstallBodySchema = Type.Object(
  {
    /** geard's client repeats the path's id here; the path's id is the one used (see install's parse). */
    Id: Type.Optional(Type.String({ maxLength: 64 })),
    Image: Type.String({ minLength: 1, maxLength: 255 }),
    Started: Type.Optional(Type.Boolean()),
    // null: where geard's Go client sends an empty list or object as null.
    Ports: Type.Optional(nullable(PortsSchema)),
    Environment: Type.Optional(
      Type.Object({ Variables: Type.Optional(nullable(VariablesSchema)), Source: Type.Optional(Type.String()), Id: Type.Optional(Type.String()) }, closed),
    ),
    VolumeConfig: Type.Optional(nullable(VolumeConfigSchema)),
    SystemdSlice: Type.Optional(Type.String({ maxLength: 128 })),
    // geard's flags, sent by its client on every install: false/null accepted, true refused where gear cannot do it (install's parse);
    // Isolate true runs the container as a host user of its own (operations/isolation.ts), false/null keep what it has.
    Simple: Type.Optional(nullable(Type.Boolean())),
    SkipSocketProxy: Type.Optional(nullable(Type.Boolean())),
    Isolate: Type.Optional(nullable(Type.Boolean())),
    /** gear's (issue 15): the runtime the install expects of the host (one per host: the agent's GEAR_RUNTIME); absent: the host's. */
    Runtime: Type.Optional(RuntimeSchema),
    SocketActivation: Type.Optional(nullable(Type.Boolean())),
    /** gear's (issue 13): with SocketActivation, stop the container after this long without connections ("10m"; absent: never). */
    IdleAfter: Type.Optional(nullable(Type.String({ maxLength: 32 }))),
    NetworkLinks: Type.Optional(nullable(NetworkLinksSchema)),
    /** gear's (issue 13): an http(s) URL the agent POSTs the job's outcome to, signed (api/callbacks.ts). */
    Callback: Type.Optional(Type.String({ maxLength: 2048 })),
    // Health and ordering (model/health.ts, model/ordering.ts). On a re-install, absent keeps what the
    // container has; Health null removes its check, After [] or null its ordering.
    Health: Type.Optional(nullable(HealthSchema)),
    After: Type.Optional(nullable(AfterSchema)),
    Wait: Type.Optional(WaitSchema),
    // Resource limits: Memory, Cpus, Pids (model/limits.ts).
    ...LimitFieldsSchema,
  },
  closed,
);
export type InstallBody = Static<typeof InstallBodySchema>;

export const LinksBodySchema = Type.Object(
  {
    Links: Type.Array(Type.Object({ Id: Type.String({ maxLength: 64 }), NetworkLinks: Type.Optional(NetworkLinksSchema) }, closed), {
      minItems: 1,
      maxItems: 256,
    }),
  },
  closed,
);
export type LinksBody = Static<typeof LinksBodySchema>;

/** set-env's body; the seed's client also sends Source ("" unless a URL) and Id (the target), and null Variables with --reset alone. */
export const EnvironmentBodySchema = Type.Object(
  { Variables: Type.Optional(nullable(VariablesSchema)), Source: Type.Optional(Type.String({ maxLength: 2048 })), Id: Type.Optional(Type.String({ maxLength: 64 })) },
  closed,
);

/** Query strings arrive as strings; each operation's parse() reads them. */
export const querySchema = <K extends string>(...keys: K[]) =>
  Type.Object(Object.fromEntries(keys.map((k) => [k, Type.Optional(Type.String({ maxLength: 32 }))])), closed) as TObject<
    Record<K, TOptional<TString>>
  >;
