/** The model scripts installed per session, each with its cursor, and the answer a script gives to the next call. */
import type { ConverseRequestBody } from './converse-request';
import { ConverseFaultError, ConverseValidationError } from './errors';
import {
  exhaustedMessage,
  type ModelScript,
  nextScriptStep,
  type ParsedModelScript,
  parseModelScript,
  type ScriptCursor,
  type ScriptTurn,
  START_CURSOR,
  scriptedBlocks,
} from './script';
import type { AnswerBlock } from './tokens';
import { withToolUseIds } from './tool-use-ids';

export interface Answer {
  content: AnswerBlock[];
  stopReason: string;
  usageOverride?: ScriptTurn['usage'];
}

/**
 * The stream a waiting client holds (an HTTP/2 stream for Bedrock, an HTTP/1.1 response for SageMaker): a delayed
 * turn ends early, and is not used up, when it closes.
 */
export interface ClientStream {
  readonly closed: boolean;
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

const isGone = (client: ClientStream): boolean => client.destroyed || client.closed;

interface SessionScript {
  script: ParsedModelScript;
  cursor: ScriptCursor;
}

/** Scripts by session id; a delayed turn waits on a timer the emulator's close cuts short. */
export class SessionScripts {
  private readonly scripts = new Map<string, SessionScript>();
  private readonly sleepers = new Set<() => void>();
  private closing = false;

  /** Installs (or replaces) a session's script; throws ModelScriptError when it is not valid. */
  set(sessionId: string, script: ModelScript): void {
    this.scripts.set(sessionId, { script: parseModelScript(script), cursor: START_CURSOR });
  }

  has(sessionId: string | undefined): sessionId is string {
    return sessionId !== undefined && this.scripts.has(sessionId);
  }

  /** The script's next turn for this call, or 'abandoned' when the client left while the turn was delayed. */
  async answer(
    sessionId: string,
    request: ConverseRequestBody,
    client: ClientStream,
    modelId?: string,
  ): Promise<Answer | 'abandoned'> {
    const entry = this.scripts.get(sessionId);
    if (entry === undefined) throw new ConverseValidationError(`No model script for session "${sessionId}".`);
    const { step, next } = nextScriptStep(entry.script, entry.cursor, modelId);
    if (step.kind !== 'exhausted') await this.sleep(step.turn.delayMs ?? 0, client);
    if (isGone(client) || this.closing) return 'abandoned';
    // The turn counts as used once a waiting client gets it; a script replaced meanwhile starts afresh.
    if (this.scripts.get(sessionId) === entry) entry.cursor = next;
    if (step.kind === 'exhausted') throw new ConverseValidationError(exhaustedMessage(sessionId, step));
    if (step.kind === 'fail') {
      throw new ConverseFaultError(
        step.errorType,
        `Scripted ${step.errorType} for session "${sessionId}", turn ${step.turnNumber} (failure ${step.failure} of ${step.of}).`,
      );
    }
    const content = withToolUseIds(
      scriptedBlocks(step.turn),
      request,
      'script',
      sessionId,
      String(step.turnNumber),
    );
    const stopReason = step.turn.stopReason ?? (step.turn.toolUse ? 'tool_use' : 'end_turn');
    return { content, stopReason, ...(step.turn.usage ? { usageOverride: step.turn.usage } : {}) };
  }

  /** Wakes every delayed turn: they answer 'abandoned'. */
  close(): void {
    this.closing = true;
    for (const wake of [...this.sleepers]) wake();
  }

  /** Waits `ms`, or less when the client closes the stream or the emulator closes. */
  private sleep(ms: number, stream: ClientStream): Promise<void> {
    return new Promise((resolve) => {
      if (ms <= 0 || stream.closed) return resolve();
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        stream.off('close', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
      stream.once('close', wake);
    });
  }
}
