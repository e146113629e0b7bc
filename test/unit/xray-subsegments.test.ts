/**
 * shared/observability/xray.ts with the tracer on (as in a Lambda with active tracing): subsegment names,
 * annotations, the error flag of a failed outcome, a thrown error recorded, and the parent restored after.
 */
process.env.AWS_EXECUTION_ENV = 'AWS_Lambda_nodejs22.x';
process.env.POWERTOOLS_TRACE_ENABLED = 'true';
process.env.AWS_XRAY_CONTEXT_MISSING = 'IGNORE_ERROR';

import type { Segment, Subsegment } from 'aws-xray-sdk-core';

// Required after the environment is set: the tracer reads it once, when its module loads.
const AWSXRay = require('aws-xray-sdk-core') as typeof import('aws-xray-sdk-core');
const { tracer } =
  require('../../shared/runtime/powertools') as typeof import('../../shared/runtime/powertools');
const { traceModelCall, traceToolCall } =
  require('../../shared/observability/xray') as typeof import('../../shared/observability/xray');

type Recorded = Subsegment & {
  end_time?: number;
  annotations?: Record<string, unknown>;
  metadata?: Record<string, Record<string, unknown>>;
};

/** Runs `act` with a fresh segment as the current one (never closed, so nothing is sent), and returns it. */
const inSegment = async (act: () => Promise<unknown>): Promise<Segment> => {
  const segment = new AWSXRay.Segment('test');
  await AWSXRay.getNamespace().runPromise(async () => {
    tracer.setSegment(segment);
    await act().catch(() => undefined);
    expect(tracer.getSegment()).toBe(segment);
  });
  return segment;
};

const request = {
  modelId: 'us.anthropic.claude-sonnet-4-6',
  messages: [],
  requestMetadata: { tenantId: 'acme', sessionId: 's-1', agent: 'billing-auditor', turn: '3' },
};

describe('X-Ray subsegments of model and tool calls', () => {
  it('records a model call as "## model <modelId>" with its session annotations and usage', async () => {
    // Act
    const segment = await inSegment(() =>
      traceModelCall(request, request.modelId, async () => ({
        stopReason: 'tool_use',
        usage: { input: 10, output: 5, cacheRead: 0, cacheWrite: 0 },
      })),
    );

    // Assess
    const [sub] = (segment.subsegments ?? []) as Recorded[];
    expect(sub?.name).toBe('## model us.anthropic.claude-sonnet-4-6');
    expect(sub?.annotations).toEqual({
      sessionId: 's-1',
      tenantId: 'acme',
      turn: 3,
      modelId: request.modelId,
    });
    expect(sub?.metadata?.default).toMatchObject({ stopReason: 'tool_use', usage: { input: 10, output: 5 } });
    expect(sub?.end_time).toBeDefined();
  });

  it('records a thrown model error on the subsegment (fault, with the exception) and rethrows it', async () => {
    // Prepare
    const throttled = Object.assign(new Error('Too many requests'), { name: 'ThrottlingException' });
    let thrown: unknown;

    // Act
    const segment = await inSegment(() =>
      traceModelCall(request, request.modelId, () => Promise.reject(throttled)).catch((error: unknown) => {
        thrown = error;
      }),
    );

    // Assess
    expect(thrown).toBe(throttled);
    const [sub] = (segment.subsegments ?? []) as (Recorded & {
      fault?: boolean;
      cause?: { exceptions: { message: string }[] };
    })[];
    expect(sub?.fault).toBe(true);
    expect(sub?.cause?.exceptions[0]?.message).toBe('Too many requests');
  });

  it('records a tool call as "## tool <function>"; a failed outcome sets the error flag and its annotations', async () => {
    // Act
    const segment = await inSegment(async () => {
      await traceToolCall(
        { sessionId: 's-1', tenantId: 'acme', turn: 2, tool: 'audit_billing_logs' },
        async () => ({
          status: 'succeeded',
          invocations: 1,
        }),
      );
      await traceToolCall(
        { sessionId: 's-1', tenantId: 'acme', turn: 2, tool: 'get_contract_terms' },
        async () => ({
          status: 'failed',
          errorKind: 'invocation',
          invocations: 3,
        }),
      );
    });

    // Assess
    const [ok, failed] = (segment.subsegments ?? []) as (Recorded & { error?: boolean })[];
    expect(ok?.name).toBe('## tool audit_billing_logs');
    expect(ok?.annotations).toEqual({
      sessionId: 's-1',
      tenantId: 'acme',
      tool: 'audit_billing_logs',
      turn: 2,
      outcome: 'succeeded',
    });
    expect(ok?.error).toBeUndefined();
    expect(failed?.annotations).toMatchObject({
      tool: 'get_contract_terms',
      outcome: 'failed',
      errorKind: 'invocation',
    });
    expect(failed?.error).toBe(true);
    expect(failed?.metadata?.default).toEqual({ invocations: 3 });
  });

  it('nests what the call does (the SDK client subsegment) under the call subsegment', async () => {
    const segment = await inSegment(() =>
      traceToolCall({ sessionId: 's-1', tenantId: 'acme', turn: 1, tool: 'audit_billing_logs' }, async () => {
        tracer.getSegment()?.addNewSubsegment('Lambda').close();
        return { status: 'succeeded' };
      }),
    );
    const [tool] = segment.subsegments ?? [];
    expect(tool?.subsegments?.map((s) => s.name)).toEqual(['Lambda']);
  });
});
