import { buildTrees, formatTrace, tracesOfSession, walk } from '../../local/xray/traces';

const T1 = '1-6b0fb9e7-15db169f2bc59d76009f1086';
const T2 = '1-6b0fb9e8-000000000000000000000002';

const fn = {
  name: 'runTool',
  id: 'a000000000000001',
  trace_id: T1,
  start_time: 100,
  end_time: 101.5,
  origin: 'AWS::Lambda::Function',
};
const handler = {
  name: '## handler',
  id: 'a000000000000002',
  trace_id: T1,
  start_time: 100.1,
  end_time: 101.4,
  type: 'subsegment',
  parent_id: fn.id,
};
const tool = {
  name: '## tool audit_billing_logs',
  id: 'a000000000000003',
  trace_id: T1,
  start_time: 100.3,
  end_time: 101.2,
  type: 'subsegment',
  parent_id: handler.id,
  annotations: { sessionId: 's-1', tenantId: 'acme', tool: 'audit_billing_logs', turn: 1 },
  error: true,
};
const dynamo = {
  name: 'DynamoDB',
  id: 'a000000000000004',
  trace_id: T1,
  start_time: 100.2,
  end_time: 100.25,
  type: 'subsegment',
  parent_id: handler.id,
};
const other = {
  name: 'plan',
  id: 'b000000000000001',
  trace_id: T2,
  start_time: 50,
  end_time: 51,
  annotations: { sessionId: 's-2' },
};

describe('traces from the daemon file', () => {
  it('joins documents sent one by one into a tree by parent_id, children in start order', () => {
    // Act (the SDK sends children before their parents close)
    const [root] = buildTrees([tool, dynamo, handler, fn]);

    // Assess
    expect(root?.name).toBe('runTool');
    expect(root?.durationMs).toBe(1500);
    expect(root?.children.map((c) => c.name)).toEqual(['## handler']);
    expect(root?.children[0]?.children.map((c) => c.name)).toEqual([
      'DynamoDB',
      '## tool audit_billing_logs',
    ]);
    expect(root?.children[0]?.children[1]).toMatchObject({ error: true, fault: false, durationMs: 900 });
  });

  it('flattens subsegments embedded in a segment document', () => {
    const segment = {
      ...fn,
      subsegments: [{ name: 'DynamoDB', id: 'c000000000000001', start_time: 100.5, end_time: 100.6 }],
    };
    const [root] = buildTrees([segment]);
    expect(root?.children.map((c) => c.id)).toEqual(['c000000000000001']);
  });

  it('keeps the complete document over an in-progress one with the same id', () => {
    const inProgress = { ...fn, end_time: undefined, in_progress: true };
    const [root] = buildTrees([inProgress, fn]);
    expect(root?.durationMs).toBe(1500);
    expect(buildTrees([inProgress])[0]?.durationMs).toBeUndefined();
  });

  it('makes a document whose parent is not in the file a root', () => {
    expect(buildTrees([tool]).map((r) => r.name)).toEqual(['## tool audit_billing_logs']);
  });

  it("finds a session's traces by the sessionId annotation, whole, and no other trace", () => {
    // Act
    const traces = tracesOfSession([other, fn, handler, dynamo, tool], 's-1');

    // Assess
    expect(traces.map((t) => t.traceId)).toEqual([T1]);
    expect([...walk(traces[0]?.roots ?? [])].map((n) => n.id).sort()).toEqual(
      [fn.id, handler.id, tool.id, dynamo.id].sort(),
    );
    expect(tracesOfSession([other, fn], 's-1')).toEqual([]);
  });

  it('prints a tree: indentation, name, origin, duration, annotations and flags', () => {
    const [trace] = tracesOfSession([fn, handler, tool], 's-1');
    expect(trace && formatTrace(trace)).toEqual([
      `trace ${T1}`,
      '  runTool (AWS::Lambda::Function)  1500 ms',
      '    ## handler  1300 ms',
      '      ## tool audit_billing_logs  900 ms  [sessionId=s-1 tenantId=acme tool=audit_billing_logs turn=1]  ERROR',
    ]);
  });
});
