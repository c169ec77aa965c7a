/** startServer: the standard health checking and reflection services answer for what it serves. */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { startServer, type StartedServer } from './index.ts';

const reflectionProto = join(
  dirname(createRequire(import.meta.url).resolve('@grpc/reflection')),
  '../proto/grpc/reflection/v1/reflection.proto',
);
const healthProto = join(dirname(createRequire(import.meta.url).resolve('grpc-health-check')), '../../proto/health/v1/health.proto');

/** metadata.proto's and health.proto's descriptors as protoc wrote them (with comments), from the set libs/proto generates. */
function protocDescriptors(): Uint8Array[] {
  const set = descriptor.FileDescriptorSet.decode(
    readFileSync(join(import.meta.dirname, '../../../proto/src/gen/descriptors.binpb')),
  ) as unknown as {
    file: { name: string }[];
  };
  return ['blockvault/v1/metadata.proto', 'health/v1/health.proto'].map((name) => {
    const file = set.file.find((f) => f.name === name);
    assert.ok(file, name);
    return descriptor.FileDescriptorProto.encode(file as never).finish();
  });
}

interface ReflectionReply {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
}

let server: StartedServer;
before(async () => {
  // One method with empty messages stands in for the service: reflection and health describe the contract.
  const empty = {
    requestStream: false,
    responseStream: false,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: () => ({}),
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: () => ({}),
  };
  const definition: grpc.ServiceDefinition = { getConfig: { path: '/blockvault.v1.MetadataService/GetConfig', ...empty } };
  const implementation: grpc.UntypedServiceImplementation = {
    getConfig: (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, {}),
  };
  server = await startServer('blockvault.v1.MetadataService', '127.0.0.1:0', 'blockvault/v1/metadata.proto', {
    definition,
    implementation,
    descriptors: protocDescriptors(),
  });
});
after(() => server.stop());

describe('startServer', () => {
  it('answers server reflection with the served contract', async () => {
    const pkg = grpc.loadPackageDefinition(loadSync(reflectionProto)) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const ask = (req: object): Promise<ReflectionReply> =>
      new Promise((done, fail) => {
        const call = (
          client as unknown as { serverReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionReply> }
        ).serverReflectionInfo();
        call.on('data', (r: ReflectionReply) => (done(r), call.end()));
        call.on('error', fail);
        call.write(req);
      });
    const listed = await ask({ listServices: '' });
    assert.ok(
      listed.listServicesResponse?.service.some((s) => s.name === 'blockvault.v1.MetadataService'),
      JSON.stringify(listed),
    );
    const file = await ask({ fileContainingSymbol: 'blockvault.v1.MetadataService' });
    assert.ok(file.fileDescriptorResponse?.fileDescriptorProto.some((d) => d.includes('CommitSegments')));
    // protoc's descriptor, comments included, so that `grpcurl describe` explains the contract.
    assert.ok(
      file.fileDescriptorResponse?.fileDescriptorProto.some((d) => d.includes('Every new blob must already be durable in the blob store.')),
      'the described file carries the .proto comments',
    );
    // The standard health service is described too: grpcurl calls it without -proto.
    assert.ok(
      listed.listServicesResponse?.service.some((s) => s.name === 'grpc.health.v1.Health'),
      JSON.stringify(listed),
    );
    const health = await ask({ fileContainingSymbol: 'grpc.health.v1.Health' });
    const healthFiles = health.fileDescriptorResponse?.fileDescriptorProto ?? [];
    assert.ok(healthFiles.some((d) => d.includes('HealthCheckRequest')));
    // protoc's descriptor: its map entry is StatusesEntry, which Go clients (grpcurl) require; proto-loader's was refused.
    const statuses = healthFiles.map(
      (d) => descriptor.FileDescriptorProto.decode(d).toJSON() as { messageType?: { name: string; nestedType?: { name: string }[] }[] },
    );
    const list = statuses.flatMap((f) => f.messageType ?? []).find((m) => m.name === 'HealthListResponse');
    assert.deepEqual(
      list?.nestedType?.map((n) => n.name),
      ['StatusesEntry'],
    );
    client.close();
  });

  it('reports SERVING for the service on the standard health checking protocol', async () => {
    const pkg = grpc.loadPackageDefinition(loadSync(healthProto, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as {
      check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
      close(): void;
    };
    const status = await new Promise<string>((done, fail) =>
      client.check({ service: 'blockvault.v1.MetadataService' }, (err, res) => (err ? fail(err) : done(res.status))),
    );
    assert.equal(status, 'SERVING');
    client.close();
  });
});
