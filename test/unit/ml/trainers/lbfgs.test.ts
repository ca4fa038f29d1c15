/** The L-BFGS minimiser behind logistic-regression. */
import { minimizeLbfgs, type LbfgsState, type Objective } from '../../../../src/ml/optim/lbfgs';

const rosenbrock: Objective = (x, g) => {
  let f = 0;
  g.fill(0);
  for (let i = 0; i + 1 < x.length; i++) {
    const a = x[i + 1] - x[i] * x[i];
    const b = 1 - x[i];
    f += 100 * a * a + b * b;
    g[i] += -400 * a * x[i] - 2 * b;
    g[i + 1] += 200 * a;
  }
  return f;
};

it('finds the minimum of the Rosenbrock function from a poor start', async () => {
  const result = await minimizeLbfgs(rosenbrock, Float64Array.from([-1.2, 1, -1.2, 1]), { maxIter: 500, gtol: 1e-8 });
  // Near the minimum f is ~1e-20: the relative-decrease test (SciPy's ftol) may end it before the gradient test.
  expect(['gtol', 'ftol']).toContain(result.stopped);
  result.x.forEach((v) => expect(v).toBeCloseTo(1, 5));
});

it('a quadratic converges in far fewer iterations than steepest descent would need', async () => {
  const quadratic: Objective = (x, g) => {
    g[0] = 2 * (x[0] - 3);
    g[1] = 20 * (x[1] + 1);
    return (x[0] - 3) ** 2 + 10 * (x[1] + 1) ** 2;
  };
  const result = await minimizeLbfgs(quadratic, new Float64Array(2), { gtol: 1e-10 });
  expect(result.x[0]).toBeCloseTo(3, 9);
  expect(result.x[1]).toBeCloseTo(-1, 9);
  expect(result.iteration).toBeLessThan(15);
});

it('stops at maxIter and says so', async () => {
  const result = await minimizeLbfgs(rosenbrock, Float64Array.from([-1.2, 1]), { maxIter: 3, gtol: 1e-12 });
  expect(result.iteration).toBe(3);
  expect(result.stopped).toBe('maxIter');
});

it('resuming from the JSON state of any iteration reaches the identical result', async () => {
  const states: string[] = [];
  const full = await minimizeLbfgs(
    rosenbrock,
    Float64Array.from([-1.2, 1, 0.5]),
    { maxIter: 200, gtol: 1e-9 },
    { onIteration: (s) => void states.push(JSON.stringify(s)) },
  );
  const middle = JSON.parse(states[Math.floor(states.length / 2)]) as LbfgsState;
  const resumed = await minimizeLbfgs(rosenbrock, new Float64Array(3), { maxIter: 200, gtol: 1e-9 }, { start: middle });
  expect(resumed).toEqual(full);
});
