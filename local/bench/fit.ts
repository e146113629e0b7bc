/**
 * Least-squares fit of y = fixed + a * turns + b * toolCalls over the suite's goals. Three unknowns, so the normal
 * equations (X'X) beta = X'y are a 3x3 system, solved here by hand with Cramer's rule rather than with a library;
 * R^2 and the residuals go with the coefficients, so a reader sees whether the counts are exactly linear.
 */
import { BenchError } from './errors';

export interface FitPoint {
  turns: number;
  toolCalls: number;
  y: number;
}

export interface LinearFit {
  fixed: number;
  perTurn: number;
  perToolCall: number;
  /** 1 when every point lies on the plane (also when every y is the same and fitted exactly). */
  rSquared: number;
  /** Largest |y - fitted| over the points. */
  maxAbsResidual: number;
  /** y - fitted, in the points' order. */
  residuals: number[];
  points: number;
}

type Matrix3 = [[number, number, number], [number, number, number], [number, number, number]];

const det3 = (m: Matrix3): number =>
  m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
  m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
  m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);

/** m with column `col` replaced by v. */
const withColumn = (m: Matrix3, col: number, v: [number, number, number]): Matrix3 =>
  m.map((row, r) => row.map((x, c) => (c === col ? v[r] : x))) as Matrix3;

/** Rounds away float noise (1e-9), so an exact fit prints 3, not 2.9999999999999996. */
const clean = (x: number): number => {
  const rounded = Math.round(x * 1e9) / 1e9;
  return Object.is(rounded, -0) ? 0 : rounded;
};

export const fitTurnsAndToolCalls = (points: FitPoint[]): LinearFit => {
  if (points.length < 3)
    throw new BenchError(`A fit of 3 coefficients needs 3 or more goals, not ${points.length}`);
  // Sums of the normal equations for the columns [1, turns, toolCalls].
  let n = 0;
  let t = 0;
  let c = 0;
  let tt = 0;
  let tc = 0;
  let cc = 0;
  let y = 0;
  let ty = 0;
  let cy = 0;
  for (const p of points) {
    n += 1;
    t += p.turns;
    c += p.toolCalls;
    tt += p.turns * p.turns;
    tc += p.turns * p.toolCalls;
    cc += p.toolCalls * p.toolCalls;
    y += p.y;
    ty += p.turns * p.y;
    cy += p.toolCalls * p.y;
  }
  const normal: Matrix3 = [
    [n, t, c],
    [t, tt, tc],
    [c, tc, cc],
  ];
  const rhs: [number, number, number] = [y, ty, cy];
  const d = det3(normal);
  // Relative to the matrix's scale: a suite whose tool calls are a multiple of its turns cannot separate a and b.
  if (Math.abs(d) <= 1e-9 * Math.max(1, n * tt * cc)) {
    throw new BenchError(
      'The suite cannot separate per-turn from per-tool-call figures: its turns and tool calls are collinear',
    );
  }
  const [fixed, perTurn, perToolCall] = [0, 1, 2].map((col) => det3(withColumn(normal, col, rhs)) / d) as [
    number,
    number,
    number,
  ];
  const residuals = points.map((p) => p.y - (fixed + perTurn * p.turns + perToolCall * p.toolCalls));
  const mean = y / n;
  const total = points.reduce((sum, p) => sum + (p.y - mean) ** 2, 0);
  const unexplained = residuals.reduce((sum, r) => sum + r * r, 0);
  return {
    fixed: clean(fixed),
    perTurn: clean(perTurn),
    perToolCall: clean(perToolCall),
    rSquared: total === 0 ? (unexplained === 0 ? 1 : 0) : clean(1 - unexplained / total),
    maxAbsResidual: clean(Math.max(...residuals.map(Math.abs))),
    residuals: residuals.map(clean),
    points: n,
  };
};
