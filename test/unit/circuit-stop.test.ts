/** The circuit_open stop rule: a turn whose every tool call an open breaker refused ends the goal (resumably). */
import { circuitOpenStop, stopBeforeNextTurn } from '../../shared/agent/limits';
import { getProfile } from '../../shared/agent/profiles';
import type { ToolCallItem } from '../../shared/store/session-store';
import { sessionItem, toolCallItem } from '../helpers/fixtures';

const call = (turn: number, index: number, fields: Partial<ToolCallItem> = {}): ToolCallItem =>
  toolCallItem({ turn, index, toolUseId: `tu-${turn}-${index}`, name: `tool_${index}`, ...fields });
const refused = { status: 'failed', errorKind: 'circuit_open' } as const;

describe('circuit_open', () => {
  it.each<[string, ToolCallItem[], 'circuit_open' | undefined]>([
    ['every call of the last turn refused', [call(2, 0, refused), call(2, 1, refused)], 'circuit_open'],
    ['one call of the last turn ran', [call(2, 0, refused), call(2, 1)], undefined],
    [
      'one call failed otherwise',
      [call(2, 0, refused), call(2, 1, { status: 'failed', errorKind: 'invocation' })],
      undefined,
    ],
    ['an earlier turn refused, the last one ran', [call(1, 0, refused), call(2, 0)], undefined],
    ['the last turn had no tool calls', [call(1, 0, refused)], undefined],
  ])('%s -> %s', (_what, calls, expected) => {
    // Act / Assess
    expect(circuitOpenStop(calls, 2)).toBe(expected);
  });

  it('comes first: a refused turn stops with circuit_open even when the session is over its turn limit', () => {
    // Prepare
    const session = sessionItem({ turn: 8 });

    // Act
    const stop = stopBeforeNextTurn(session, [call(8, 0, refused)], getProfile(session.agent).limits);

    // Assess
    expect(stop).toBe('circuit_open');
  });
});
