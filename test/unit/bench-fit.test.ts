/** The benchmark's least-squares fit of y = fixed + a x turns + b x tool calls (local/bench/fit.ts). */
import { BenchError } from '../../local/bench/errors';
import { type FitPoint, fitTurnsAndToolCalls } from '../../local/bench/fit';

const shapes = [
  { turns: 1, toolCalls: 0 },
  { turns: 2, toolCalls: 1 },
  { turns: 3, toolCalls: 4 },
  { turns: 5, toolCalls: 10 },
  { turns: 5, toolCalls: 4 },
  { turns: 20, toolCalls: 37 },
];

const pointsOf = (f: (turns: number, toolCalls: number) => number): FitPoint[] =>
  shapes.map((s) => ({ ...s, y: f(s.turns, s.toolCalls) }));

describe('fitTurnsAndToolCalls', () => {
  it('recovers known coefficients exactly, with R^2 1 and no residual', () => {
    // Prepare: today's loop, 2 fixed + 5 per turn + 1 per tool call
    const points = pointsOf((turns, calls) => 2 + 5 * turns + calls);

    // Act
    const fit = fitTurnsAndToolCalls(points);

    // Assess
    expect(fit).toMatchObject({ fixed: 2, perTurn: 5, perToolCall: 1, rSquared: 1, maxAbsResidual: 0 });
    expect(fit.residuals).toEqual([0, 0, 0, 0, 0, 0]);
    expect(fit.points).toBe(6);
  });

  it('recovers fractional and negative coefficients', () => {
    // Act
    const fit = fitTurnsAndToolCalls(pointsOf((turns, calls) => -1.5 + 2.25 * turns + 0.5 * calls));

    // Assess
    expect(fit).toMatchObject({ fixed: -1.5, perTurn: 2.25, perToolCall: 0.5, rSquared: 1 });
  });

  it('shows a count that is not linear: R^2 below 1 and the residual of the odd goal', () => {
    // Prepare: one goal made an extra request (a retry, say)
    const points = pointsOf((turns, calls) => 3 + 3 * turns + 3 * calls);
    const odd = points[2] as FitPoint;
    odd.y += 1;

    // Act
    const fit = fitTurnsAndToolCalls(points);

    // Assess
    expect(fit.rSquared).toBeLessThan(1);
    expect(fit.maxAbsResidual).toBeGreaterThan(0.5);
    const largest = fit.residuals.map(Math.abs).indexOf(fit.maxAbsResidual);
    expect(largest).toBe(2);
    // Least squares: the residuals sum to zero with an intercept.
    expect(fit.residuals.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 9);
  });

  it('refuses a suite whose tool calls are a multiple of its turns (a and b cannot be told apart)', () => {
    // Prepare
    const points = [1, 2, 3, 4].map((turns) => ({ turns, toolCalls: 2 * turns, y: 7 * turns }));

    // Act + Assess
    expect(() => fitTurnsAndToolCalls(points)).toThrow(/collinear/);
  });

  it('needs three goals for three coefficients', () => {
    // Act + Assess
    expect(() => fitTurnsAndToolCalls(pointsOf((t) => t).slice(0, 2))).toThrow(BenchError);
  });
});
