// A tiny schema DSL: each builder returns the OpenAPI v3 (structural) schema that goes into the
// CRD AND carries the TypeScript type of the value at the type level, so that the CRD YAML and
// the operator's types come from the same lines (see operator/api/imcluster.ts and ADR 0101).
//
// Types describe objects as the operator READS them from the apiserver, i.e. after defaulting:
// a property with a `default` is therefore required in the TypeScript type, and optional in the
// CRD (the apiserver fills it in whenever its parent object is present).

export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath-ish field the error is reported on (e.g. ".maxReplicas"). */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** The subset of JSONSchemaProps the CRD uses. */
export interface OpenApi {
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array';
  description?: string;
  format?: string;
  pattern?: string;
  enum?: Array<string | number>;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  default?: unknown;
  properties?: Record<string, OpenApi>;
  required?: string[];
  items?: OpenApi;
  additionalProperties?: OpenApi;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

/** A schema node: its OpenAPI form plus (type level only) the TS type and whether it may be absent. */
export interface Node<T, Optional extends boolean = false> {
  readonly openapi: OpenApi;
  readonly optional: Optional;
  /** Phantom: never set at run time. */
  readonly __type?: T;
}

export type Static<N> = N extends Node<infer T, boolean> ? T : never;

interface Common {
  description?: string;
  rules?: CelRule[];
}

function node<T>(openapi: OpenApi, c: Common = {}): Node<T> {
  const out: OpenApi = { ...openapi };
  if (c.description) out.description = c.description;
  if (c.rules?.length) out['x-kubernetes-validations'] = c.rules;
  return { openapi: order(out), optional: false };
}

/** Keeps a stable, readable key order in the generated YAML. */
function order(s: OpenApi): OpenApi {
  const keys: Array<keyof OpenApi> = [
    'description',
    'type',
    'format',
    'enum',
    'pattern',
    'minLength',
    'maxLength',
    'minimum',
    'maximum',
    'minItems',
    'maxItems',
    'maxProperties',
    'default',
    'x-kubernetes-int-or-string',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-embedded-resource',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'items',
    'additionalProperties',
    'required',
    'properties',
    'x-kubernetes-validations',
  ];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (s[k] !== undefined) out[k] = s[k];
  return out as OpenApi;
}

export function str<const E extends string = string>(
  o: Common & { pattern?: string; minLength?: number; maxLength?: number; enum?: readonly E[]; format?: string } = {},
): Node<string extends E ? string : E> {
  const { description: _d, rules: _r, enum: e, ...rest } = o;
  return node({ type: 'string', ...rest, ...(e ? { enum: [...e] } : {}) }, o);
}

export function int(o: Common & { minimum?: number; maximum?: number } = {}): Node<number> {
  const { description: _d, rules: _r, ...rest } = o;
  return node({ type: 'integer', format: 'int32', ...rest }, o);
}

export function bool(o: Common = {}): Node<boolean> {
  return node({ type: 'boolean' }, o);
}

/** An integer or a string like "25%" (PodDisruptionBudget maxUnavailable and friends). */
export function intOrString(o: Common & { pattern?: string } = {}): Node<number | string> {
  const out: OpenApi = { 'x-kubernetes-int-or-string': true };
  if (o.pattern) out.pattern = o.pattern;
  return node(out, o);
}

export function arr<I extends Node<unknown, boolean>>(
  item: I,
  o: Common & { minItems?: number; maxItems?: number; listType?: 'atomic' | 'set' | 'map'; mapKeys?: string[] } = {},
): Node<Array<Static<I>>> {
  const out: OpenApi = { type: 'array', items: item.openapi };
  if (o.minItems !== undefined) out.minItems = o.minItems;
  if (o.maxItems !== undefined) out.maxItems = o.maxItems;
  if (o.listType) out['x-kubernetes-list-type'] = o.listType;
  if (o.mapKeys) out['x-kubernetes-list-map-keys'] = o.mapKeys;
  return node(out, o);
}

/** A map with string keys (labels, annotations, config overrides). */
export function map<V extends Node<unknown, boolean>>(
  value: V,
  o: Common & { maxProperties?: number } = {},
): Node<Record<string, Static<V>>> {
  const out: OpenApi = { type: 'object', additionalProperties: value.openapi };
  if (o.maxProperties !== undefined) out.maxProperties = o.maxProperties;
  return node(out, o);
}

/** Free-form object kept as is (e.g. core/v1 ResourceRequirements, tolerations). */
export function freeform<T = Record<string, unknown>>(o: Common = {}): Node<T> {
  return node({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, o);
}

type Shape = Record<string, Node<unknown, boolean>>;
type RequiredKeys<S extends Shape> = { [K in keyof S]: S[K] extends Node<unknown, true> ? never : K }[keyof S];
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends Node<unknown, true> ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectType<S extends Shape> = Simplify<
  { -readonly [K in RequiredKeys<S>]: Static<S[K]> } & { -readonly [K in OptionalKeys<S>]?: Static<S[K]> }
>;

/**
 * An object. Properties wrapped in opt() may be absent; properties with a default are filled in
 * by the apiserver; the rest are `required` in the CRD.
 */
export function obj<S extends Shape>(shape: S, o: Common = {}): Node<ObjectType<S>> {
  const properties: Record<string, OpenApi> = {};
  const required: string[] = [];
  for (const [key, n] of Object.entries(shape)) {
    properties[key] = n.openapi;
    if (!n.optional && n.openapi.default === undefined) required.push(key);
  }
  const out: OpenApi = { type: 'object', properties };
  if (required.length) out.required = required;
  return node(out, o);
}

/** May be absent. */
export function opt<T>(n: Node<T, boolean>): Node<T, true> {
  return { openapi: n.openapi, optional: true };
}

/** Absent → the apiserver sets `value`. The TS type keeps the property required. */
export function dflt<T>(n: Node<T, boolean>, value: NoInfer<T>): Node<T, false> {
  return { openapi: order({ ...n.openapi, default: value }), optional: false };
}

/**
 * An object that defaults to `{}` when absent; the apiserver then fills in its own properties'
 * defaults, so the TS type is the object with those defaults applied.
 */
export function dfltEmpty<T extends object>(n: Node<T, boolean>): Node<T, false> {
  return { openapi: order({ ...n.openapi, default: {} }), optional: false };
}
