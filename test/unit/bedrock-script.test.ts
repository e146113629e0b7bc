import { CONVERSE_ERROR_STATUS, ModelScriptError } from '../../local/bedrock/errors';
import {
  exhaustedMessage,
  nextScriptStep,
  type ParsedModelScript,
  parseModelScript,
  type ScriptCursor,
  type ScriptStep,
  START_CURSOR,
  scriptedBlocks,
} from '../../local/bedrock/script';

/** Plays `calls` Converse calls against a script, committing each step as the emulator does. */
const play = (script: ParsedModelScript, calls: number): ScriptStep[] => {
  let cursor: ScriptCursor = START_CURSOR;
  const steps: ScriptStep[] = [];
  for (let i = 0; i < calls; i++) {
    const { step, next } = nextScriptStep(script, cursor);
    steps.push(step);
    cursor = next;
  }
  return steps;
};

const messageOf = (input: unknown): string => {
  try {
    parseModelScript(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelScriptError);
    return (error as Error).message;
  }
  throw new Error('expected the script to be rejected');
};

describe('parseModelScript', () => {
  it('accepts the documented example and gives toolUse an empty input by default', () => {
    const script = parseModelScript({
      turns: [
        {
          toolUse: [
            { name: 'audit_billing_logs', input: { tenant_id: 'acme' } },
            { name: 'list_idle_resources' },
          ],
        },
        { text: 'Done.', error: 'ThrottlingException', times: 2, usage: { inputTokens: 1000 }, delayMs: 50 },
      ],
    });
    expect(script.turns[0]?.toolUse?.[1]).toEqual({ name: 'list_idle_resources', input: {} });
    expect(script.turns[1]?.times).toBe(2);
  });

  it('rejects an unknown error type and lists the valid ones', () => {
    const message = messageOf({ turns: [{ text: 'x', error: 'Throttled' }] });
    expect(message).toContain('turns[0].error');
    expect(message).toContain('ThrottlingException');
    expect(message).toContain('ModelTimeoutException');
  });

  it('rejects a turn with neither text nor toolUse', () => {
    expect(messageOf({ turns: [{ error: 'ThrottlingException', times: 1 }] })).toContain(
      'needs "text" and/or "toolUse"',
    );
  });

  it('rejects times without error, naming the field', () => {
    expect(messageOf({ turns: [{ text: 'x', times: 2 }] })).toMatch(
      /"times" only counts failures[\s\S]*turns\[0\]\.times/,
    );
  });

  it('rejects a misspelt field and a tool name Bedrock would refuse', () => {
    expect(messageOf({ turns: [{ txt: 'x', text: 'y' }] })).toContain('Unrecognized key: "txt"');
    expect(messageOf({ turns: [{ toolUse: [{ name: 'audit billing' }] }] })).toContain(
      'turns[0].toolUse[0].name',
    );
  });

  it('rejects an empty script', () => {
    expect(messageOf({ turns: [] })).toContain('at least one turn');
  });
});

describe('nextScriptStep', () => {
  it('fails a turn `times` times with the status of its error type, then answers it', () => {
    const script = parseModelScript({
      turns: [{ text: 'first', error: 'ThrottlingException', times: 2 }, { text: 'second' }],
    });
    const steps = play(script, 5);
    expect(steps.map((s) => s.kind)).toEqual(['fail', 'fail', 'answer', 'answer', 'exhausted']);
    expect(steps[0]).toMatchObject({
      errorType: 'ThrottlingException',
      status: 429,
      failure: 1,
      of: 2,
      turnNumber: 1,
    });
    expect(steps[1]).toMatchObject({ failure: 2, of: 2 });
    expect(steps[2]).toMatchObject({ turnNumber: 1, turn: { text: 'first' } });
    expect(steps[3]).toMatchObject({ turnNumber: 2, turn: { text: 'second' } });
    expect(steps[4]).toEqual({ kind: 'exhausted', turnNumber: 3, turns: 2 });
  });

  it('fails only calls to the models in modelIds; a call to another model gets the answer', () => {
    const script = parseModelScript({
      turns: [{ text: 'from the fallback', error: 'ThrottlingException', times: 5, modelIds: ['model-a'] }],
    });
    const first = nextScriptStep(script, START_CURSOR, 'model-a');
    const second = nextScriptStep(script, first.next, 'model-a');
    const other = nextScriptStep(script, second.next, 'model-b');
    expect([first.step.kind, second.step.kind, other.step.kind]).toEqual(['fail', 'fail', 'answer']);
    expect(other.step).toMatchObject({ turn: { text: 'from the fallback' } });
    expect(messageOf({ turns: [{ text: 'x', modelIds: ['model-a'] }] })).toMatch(/modelIds/);
  });

  it('fails once when times is left out', () => {
    const script = parseModelScript({ turns: [{ text: 'late', error: 'ModelTimeoutException' }] });
    const steps = play(script, 2);
    expect(steps[0]).toMatchObject({ kind: 'fail', status: 408 });
    expect(steps[1]).toMatchObject({ kind: 'answer' });
  });

  it('maps every error type to the HTTP status of the Converse reference', () => {
    expect(CONVERSE_ERROR_STATUS).toEqual({
      AccessDeniedException: 403,
      InternalServerException: 500,
      ModelErrorException: 424,
      ModelNotReadyException: 429,
      ModelTimeoutException: 408,
      ResourceNotFoundException: 404,
      ServiceUnavailableException: 503,
      ThrottlingException: 429,
      ValidationException: 400,
    });
  });

  it('does not move the cursor until the caller commits the step', () => {
    const script = parseModelScript({ turns: [{ text: 'only' }] });
    const first = nextScriptStep(script, START_CURSOR);
    const again = nextScriptStep(script, START_CURSOR);
    expect(again).toEqual(first);
  });
});

describe('script answers', () => {
  it('holds text and tool calls of one turn, text first', () => {
    const [turn] = parseModelScript({
      turns: [{ text: 'Checking.', toolUse: [{ name: 'a', input: { n: 1 } }] }],
    }).turns;
    if (!turn) throw new Error('no turn');
    expect(scriptedBlocks(turn)).toEqual([
      { text: 'Checking.' },
      { toolUse: { name: 'a', input: { n: 1 } } },
    ]);
  });

  it('names the session and the missing turn when the script is used up', () => {
    const message = exhaustedMessage('sess-42', { turnNumber: 3, turns: 2 });
    expect(message).toContain('session "sess-42"');
    expect(message).toContain('no turn 3');
    expect(message).toContain('PUT /_local/scripts/sess-42');
  });
});
