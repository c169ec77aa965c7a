/**
 * The event stream's contract (proto/asyncapi.yaml) as a validator: tests hand it each NATS
 * message a service published and get back what, if anything, breaks the contract.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import specs from '@asyncapi/specs';
import { Ajv, type AnySchema, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

export const ASYNCAPI_PATH = join(import.meta.dirname, '../../../proto/asyncapi.yaml');
const SUBJECT_PREFIX = 'blockvault.events.';
const DOC = 'asyncapi';

interface Doc {
  readonly channels: { readonly events: { readonly parameters: { readonly kind: { readonly enum: readonly string[] } } } };
  readonly components: { readonly messages: Record<string, unknown>; readonly schemas: Record<string, unknown> };
}

/** One published NATS message. */
export interface PublishedEvent {
  readonly subject: string;
  readonly payload: string;
  /** Its NATS headers (names as sent). */
  readonly headers: Readonly<Record<string, string>>;
}

export interface EventContract {
  /** The kinds the document lists. */
  readonly kinds: readonly string[];
  /** Problems with the AsyncAPI document itself against the AsyncAPI 3.0.0 schema (none when valid). */
  documentProblems(): string[];
  /** Problems with one message against the document (none when it conforms). */
  problems(event: PublishedEvent): string[];
}

function ajv(): Ajv {
  const a = new Ajv({ strict: false, allErrors: true });
  addFormats.default(a);
  return a;
}

function explain(v: ValidateFunction): string[] {
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim());
}

export function eventContract(path = ASYNCAPI_PATH): EventContract {
  const doc = parse(readFileSync(path, 'utf8')) as Doc;
  const validator = ajv();
  validator.addSchema(doc as unknown as AnySchema, DOC);
  const kinds = doc.channels.events.parameters.kind.enum;
  const compiled = new Map<string, { payload: ValidateFunction; headers: ValidateFunction }>();
  const forKind = (kind: string): { payload: ValidateFunction; headers: ValidateFunction } => {
    let v = compiled.get(kind);
    if (!v) {
      const at = `${DOC}#/components/messages/${kind}`;
      v = { payload: validator.compile({ $ref: `${at}/payload` }), headers: validator.compile({ $ref: `${at}/headers` }) };
      compiled.set(kind, v);
    }
    return v;
  };
  /** The property names a data schema declares, through its allOf and $ref. */
  const declared = (schema: Record<string, unknown>): Set<string> => {
    const names = new Set(Object.keys((schema['properties'] as Record<string, unknown> | undefined) ?? {}));
    for (const part of (schema['allOf'] as Record<string, unknown>[] | undefined) ?? []) {
      const ref = part['$ref'];
      const target = typeof ref === 'string' ? (validator.getSchema(ref)?.schema as Record<string, unknown>) : part;
      for (const n of declared(target)) names.add(n);
    }
    return names;
  };

  return {
    kinds,
    documentProblems() {
      // The AsyncAPI schema bundles its own copy of the draft-07 meta-schema.
      const check = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
      addFormats.default(check);
      const validate = check.compile(specs.schemas['3.0.0'] as AnySchema);
      return validate(doc) ? [] : explain(validate);
    },
    problems(event) {
      if (!event.subject.startsWith(SUBJECT_PREFIX)) return [`subject ${event.subject} is not under ${SUBJECT_PREFIX}`];
      const kind = event.subject.slice(SUBJECT_PREFIX.length);
      if (!kinds.includes(kind) || !(kind in doc.components.messages)) return [`${kind}: not in the document`];
      const v = forKind(kind);
      const out: string[] = [];
      if (!v.headers(event.headers)) out.push(...explain(v.headers).map((p) => `${kind} headers ${p}`));
      let payload: Record<string, unknown>;
      try {
        payload = JSON.parse(event.payload) as Record<string, unknown>;
      } catch (err) {
        return [...out, `${kind}: payload is not JSON: ${(err as Error).message}`];
      }
      if (!v.payload(payload)) out.push(...explain(v.payload).map((p) => `${kind} ${p}`));
      // The document lets consumers ignore new fields; our own events must not carry undocumented ones.
      const dataschema = typeof payload['dataschema'] === 'string' ? validator.getSchema(payload['dataschema']) : undefined;
      if (dataschema && payload['data'] && typeof payload['data'] === 'object') {
        const known = declared(dataschema.schema as Record<string, unknown>);
        for (const field of Object.keys(payload['data'])) if (!known.has(field)) out.push(`${kind}: data.${field} is not in the document`);
      }
      return out;
    },
  };
}
