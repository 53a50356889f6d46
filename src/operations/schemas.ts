import { Type, type TSchema } from '@sinclair/typebox';

/**
 * JSON schemas of the API's bodies and queries (TypeBox: JSON Schema with
 * TypeScript types). The agent validates requests against them and
 * publishes them in /openapi.json; each operation's parse() then checks
 * what a schema cannot say (name alphabet, path normal form, duplicates).
 * Unknown fields are refused everywhere.
 */
const strict = { additionalProperties: false } as const;

const PortSchema = Type.Object(
  { Internal: Type.Integer({ minimum: 1, maximum: 65535 }), External: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })) },
  strict,
);

const EnvVarSchema = Type.Object({ Name: Type.String({ maxLength: 256 }), Value: Type.String({ maxLength: 65536 }) }, strict);

const VariablesSchema = Type.Array(EnvVarSchema, { maxItems: 1000 });

const NetworkLinkSchema = Type.Object(
  {
    FromHost: Type.Optional(Type.String({ maxLength: 64 })),
    FromPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    ToHost: Type.String({ maxLength: 255 }),
    ToPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  strict,
);

export const InstallBodySchema = Type.Object(
  {
    Image: Type.String({ minLength: 1, maxLength: 255 }),
    Started: Type.Optional(Type.Boolean()),
    Ports: Type.Optional(Type.Array(PortSchema, { maxItems: 64 })),
    Environment: Type.Optional(
      Type.Object(
        { Variables: Type.Optional(VariablesSchema), Source: Type.Optional(Type.String()), Id: Type.Optional(Type.String()) },
        strict,
      ),
    ),
    VolumeConfig: Type.Optional(
      Type.Object(
        {
          Volumes: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64 })),
          BindMounts: Type.Optional(
            Type.Array(
              Type.Object(
                { HostPath: Type.String({ maxLength: 1024 }), ContainerPath: Type.String({ maxLength: 1024 }), ReadOnly: Type.Optional(Type.Boolean()) },
                strict,
              ),
              { maxItems: 64 },
            ),
          ),
        },
        strict,
      ),
    ),
    SystemdSlice: Type.Optional(Type.String({ maxLength: 128 })),
    Isolate: Type.Optional(Type.Boolean()),
    SocketActivation: Type.Optional(Type.Boolean()),
    NetworkLinks: Type.Optional(Type.Array(NetworkLinkSchema, { maxItems: 1024 })),
  },
  strict,
);

export const LinksBodySchema = Type.Object(
  {
    Links: Type.Array(
      Type.Object({ Id: Type.String({ maxLength: 64 }), NetworkLinks: Type.Optional(Type.Array(NetworkLinkSchema, { maxItems: 1024 })) }, strict),
      { minItems: 1, maxItems: 256 },
    ),
  },
  strict,
);

export const EnvironmentBodySchema = Type.Object({ Variables: VariablesSchema }, strict);

/** Query strings arrive as strings; each operation's parse() reads them. */
export const querySchema = (keys: string[]): TSchema =>
  Type.Object(Object.fromEntries(keys.map((k) => [k, Type.Optional(Type.String({ maxLength: 32 }))])), strict);
