import { buildModelCard, championVerdict } from '../../../src/report';
import { classificationCard, regressionCard } from '../../helpers/model-card';

function count(html: string, pattern: RegExp): number {
  return (html.match(pattern) ?? []).length;
}

describe('a model card', () => {
  test('is one HTML document that loads nothing from anywhere', async () => {
    const html = buildModelCard(await classificationCard());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(count(html, /<html[\s>]/g)).toBe(1);
    expect(count(html, /<\/html>/g)).toBe(1);
    expect(html).not.toMatch(/\b(src|href|xlink:href|action|srcset)\s*=/i);
    expect(html).not.toMatch(/url\(|@import|https?:\/\//i);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  test('draws every chart as inline SVG: both confusion matrices, the ROC curves and one histogram per column', async () => {
    const input = await classificationCard();
    const html = buildModelCard(input);
    const histograms = input.drift!.columns.length;
    expect(histograms).toBe(4);
    expect(count(html, /<svg\b/g)).toBe(2 + 1 + histograms);
    expect(count(html, /<\/svg>/g)).toBe(2 + 1 + histograms);
    expect(html).toContain('Candidate: confusion matrix');
    expect(html).toContain('Production v2: confusion matrix');
    expect(html).toContain('ROC curves, one class against the rest');
    for (const c of input.roc!) expect(html).toContain(`${c.label}  AUC ${c.auc.toFixed(3)}`);
  });

  test('shows the metric values of the candidate and of production, and the champion verdict', async () => {
    const html = buildModelCard(await classificationCard());
    for (const v of ['0.8667', '0.8512', '0.4123', '0.9321', '0.8000', '0.7925', '0.5234', '0.9012']) expect(html).toContain(`>${v}<`);
    expect(html).toContain('production v2');
    expect(html).toMatch(
      /Champion comparison:.*passes.*better than production \(version 2\): accuracy 0\.8667 against 0\.8000, by 0\.0667/,
    );
    expect(html).toContain('passed validation');
  });

  test('a candidate worse than production by more than the margin shows the comparison failing, with the failures', async () => {
    const failure = "accuracy 0.7600 is worse than production's 0.8000 by 0.0400, more than the allowed margin 0.02";
    const html = buildModelCard(
      await classificationCard((c) => {
        c.candidate.metrics.accuracy = 0.76;
        c.verdict = { passed: false, failures: [failure] };
      }),
    );
    expect(html).toContain('failed validation');
    expect(html).toMatch(
      /Champion comparison:.*fails.*by more than the allowed margin of 0\.02: accuracy 0\.7600 against 0\.8000, worse by 0\.0400/,
    );
    expect(html).toContain(failure.replace("'", '&#39;'));
  });

  test('a candidate worse only within the margin passes the comparison, also for a metric where lower is better', async () => {
    const input = await classificationCard((c) => {
      c.policy.champion = { metric: 'logLoss', margin: 0.05 };
      c.candidate.metrics.logLoss = 0.55;
    });
    expect(championVerdict(input)).toEqual({
      passed: true,
      text: expect.stringContaining('worse than production (version 2) within the allowed margin of 0.05'),
    });
    input.candidate.metrics.logLoss = 0.58;
    expect(championVerdict(input).passed).toBe(false);
  });

  test('without a production version it says the thresholds alone decide', () => {
    const html = buildModelCard(regressionCard());
    expect(html).toContain('There is no production version yet');
    expect(html).not.toMatch(/production v\d/);
  });

  test('a regression card plots residuals instead of a ROC curve', () => {
    const html = buildModelCard(regressionCard());
    expect(count(html, /<svg\b/g)).toBe(1);
    expect(html).toContain('residuals on the holdout');
    expect(count(html, /<circle\b/g)).toBe(40);
    expect(html).not.toContain('ROC');
    expect(html).toMatch(/rmse <span class="muted">\(headline\)<\/span> <span class="muted">↓<\/span><\/td><td class="n">0\.4243<\/td>/);
  });

  test('shows the dataset: rows, columns, class counts and one profile row per column', async () => {
    const html = buildModelCard(await classificationCard());
    expect(html).toContain('60 rows and 4 columns; target <b>weather</b>, 3 features; 15 rows held out');
    expect(html).toMatch(/<td>fog<\/td><td class="n">20<\/td><td class="n">33%<\/td>/);
    for (const name of ['day', 'rain_mm', 'wind', 'weather']) expect(html).toContain(`<td><b>${name}</b></td>`);
    expect(html).toContain('<td class="n">2024-01-01</td>');
  });

  test('says how many rows ingest dropped because their target was missing', async () => {
    const input = await classificationCard();
    const html = buildModelCard({ ...input, dataset: { ...input.dataset!, droppedMissingTarget: 7 } });
    expect(html).toContain('7 rows whose target is missing were dropped at ingest (dataset.dropMissingTarget)');
    expect(buildModelCard(input)).not.toContain('dropped at ingest');
  });

  test('lists the validation issues of the data', async () => {
    const html = buildModelCard(await classificationCard());
    expect(html).toContain('1 issue(s) in 60 rows; none blocks the pipeline');
    expect(html).toContain('wind: 2 values above the maximum 10');
    expect(html).toContain('<td>3, 9</td>');
  });

  test('escapes HTML in every user-provided string, so a <script> in the description never runs', async () => {
    const evil = '<script>alert("owned")</script>';
    const attr = '" onmouseover="alert(1)';
    const html = buildModelCard(
      await classificationCard((c) => {
        c.model = `m<b>x</b>`;
        c.description = evil;
        c.candidate.params = { note: evil };
        c.candidate.confusionMatrix = {
          labels: [attr, 'b', evil],
          matrix: [
            [1, 0, 0],
            [0, 1, 0],
            [0, 0, 1],
          ],
        };
        c.roc![0]!.label = attr;
        c.validation!.issues[0]!.message = evil;
        c.drift!.columns[0]!.column = evil;
        c.drift!.columns[0]!.bins[0] = attr;
        c.artifacts = [{ name: evil, uri: `s3://b/${evil}` }];
      }),
    );
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('<b>x</b>');
    expect(html).not.toContain(attr);
    expect(html).toContain('&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;');
    expect(html).toContain('&quot; onmouseover=&quot;alert(1)');
  });

  test('the same input gives the same bytes, so a retried evaluation stores the same blob', async () => {
    expect(buildModelCard(await classificationCard())).toBe(buildModelCard(await classificationCard()));
  });

  test('needs only the model, the candidate, the policy and the verdict', () => {
    const html = buildModelCard({
      model: 'bare',
      candidate: { metrics: { accuracy: 0.5 } },
      policy: { thresholds: {} },
      verdict: { passed: true, failures: [] },
    });
    expect(html).toContain('<h1>bare');
    expect(html).toContain('>0.5000<');
    expect(count(html, /<svg\b/g)).toBe(0);
  });
});

describe("a model card and the training program's claims", () => {
  const claim = {
    metric: 'accuracy',
    claimed: 0.99,
    measured: 0.35,
    mismatch: true,
    message: 'the program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35 (0.6400 apart, more than the tolerance 0.05)',
  };

  test('says plainly, at the top, when a claim does not match our measurement, and lists claims beside measurements', () => {
    const html = buildModelCard({
      ...regressionCard(),
      candidate: { metrics: { accuracy: 0.35 } },
      policy: { thresholds: {} },
      holdoutRows: 69,
      claims: [claim],
    });
    const top = html.slice(0, html.indexOf('<h2>'));
    expect(top).toContain('The program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35');
    expect(html).toMatch(/<h2>What the training program claimed<\/h2>/);
    expect(html).toMatch(/does not match/);
  });

  test('states a note (a production version that could not be loaded) near the top', () => {
    const note = 'production version 3 could not be loaded (Not servable: old format); this run is judged on its thresholds alone.';
    const html = buildModelCard({ ...regressionCard(), notes: [note], championNote: note });
    expect(html.slice(0, html.indexOf('<h2>'))).toContain(
      'Production version 3 could not be loaded (Not servable: old format); this run is judged on its thresholds alone.',
    );
  });
});

describe('what a reader takes away from a model card', () => {
  /** 120 training rows: sun 100, rain 15, fog 5; the candidate never predicts fog. */
  const imbalanced = (c: Parameters<Parameters<typeof classificationCard>[0]>[0]) => {
    c.dataset!.classCounts = { sun: 100, rain: 15, fog: 5 };
    c.candidate.metrics = { accuracy: 0.84, balancedAccuracy: 0.54, macroF1: 0.5 };
    c.candidate.confusionMatrix = {
      labels: ['fog', 'rain', 'sun'],
      matrix: [
        [0, 0, 2],
        [0, 2, 3],
        [0, 1, 17],
      ],
    };
    c.champion = undefined;
  };

  test('headlines balanced accuracy, not accuracy, when one class is rare, and says why', async () => {
    const html = buildModelCard(await classificationCard(imbalanced));
    const top = html.slice(0, html.indexOf('<h2>'));
    expect(top).toContain('Headline: balanced accuracy 0.5400');
    expect(top).toMatch(/The classes are imbalanced \(sun is 83 % of rows, fog 4\.2 %\), so accuracy mostly reflects the common classes/);
    expect(top).toMatch(/The spec compares versions on accuracy.*validation\.champion\.metric: balancedAccuracy/);
    expect(html).toMatch(/balancedAccuracy <span class="muted">\(headline\)<\/span>/);
  });

  test('headlines accuracy when the classes are about even', async () => {
    const html = buildModelCard(await classificationCard());
    expect(html).toContain('Headline: accuracy 0.8667</b> (production v2: 0.8000)');
    expect(html).toMatch(/The 3 classes are about even/);
  });

  test('states the intended use from the spec and the limitations the data shows', async () => {
    const html = buildModelCard(await classificationCard(imbalanced));
    const section = html.slice(html.indexOf('<h2>Intended use and limitations</h2>'), html.indexOf('<h2>Metrics</h2>'));
    expect(section).toContain('<b>Intended use:</b> Which weather the day brings.');
    expect(section).toMatch(/It learned from 60 rows with day from 2024-01-01 to 2024-02-29/);
    expect(section).toMatch(/Numeric inputs were seen only in these ranges: rain_mm 0 to 10, wind 0\.5 to 7/);
    expect(section).toMatch(
      /Rare classes: rain \(15 rows; recall 0\.4000 on 5 holdout rows\), fog \(5 rows; recall 0\.0000 on 2 holdout rows\)/,
    );
    expect(section).toMatch(/The metrics come from 15 holdout rows/);
    const unstated = buildModelCard({ ...(await classificationCard()), description: undefined });
    expect(unstated).toMatch(/Intended use:.*not stated: say what the model is for in the spec's <code>description<\/code>/);
  });

  test('gives each ROC curve its class support, and warns about a curve drawn from a handful of rows', async () => {
    const html = buildModelCard(
      await classificationCard((c) => {
        c.roc = c.roc!.map((r) => ({ ...r, positives: r.label === 'fog' ? 2 : 40 }));
      }),
    );
    expect(html).toMatch(/fog {2}AUC \d\.\d{3} {2}n=2/);
    expect(html).toMatch(/rain {2}AUC \d\.\d{3} {2}n=40/);
    expect(html).toContain('fog&#39;s curve rests on 2 rows: read it with care.');
  });

  test('explains training that did not converge in words', async () => {
    const ranOut = buildModelCard(
      await classificationCard((c) => {
        c.candidate.params = { maxIter: 100 };
        c.candidate.training = { rows: 45, iterations: 100, converged: false, validationRows: 0 };
      }),
    );
    expect(ranOut).toContain(
      'Ran all its 100 iterations (maxIter 100), as asked: early stopping was off, so there was nothing to stop it.',
    );
    const stillImproving = buildModelCard(
      await classificationCard((c) => {
        c.candidate.training = { rows: 45, iterations: 50, converged: false, validationRows: 5 };
      }),
    );
    expect(stillImproving).toContain('without stopping early: it was still improving on its early-stopping rows');
  });

  test("a registered version's card says who approved it, when, and how the alias reaches it, instead of inviting approval", async () => {
    const html = buildModelCard(
      await classificationCard((c) => {
        c.deployment = {
          version: 3,
          alias: 'production',
          previousVersion: 2,
          at: '2026-11-29T10:00:00.000Z',
          strategy: 'direct',
          requestedBy: 'dave',
          trigger: 'manual',
          approvals: [{ approver: 'alice', at: '2026-11-29T09:59:00.000Z', comment: 'looks right' }],
        };
      }),
    );
    expect(html).not.toContain('may go on to approval');
    expect(html).toContain('<span class="badge pass">version 3</span>');
    expect(html).toMatch(/was approved and was registered for the production alias/);
    const section = html.slice(html.indexOf('<h2>Approval and deploy</h2>'));
    expect(section).toMatch(/Registered as version <b>3<\/b> at 2026-11-29T10:00:00.000Z by a manual run requested by dave\./);
    expect(section).toMatch(
      /Deployed directly: the production alias moves from version 2 to this one at once, by compare-and-swap, if it still points at version 2\./,
    );
    expect(section).toMatch(/<td>alice<\/td><td>2026-11-29T09:59:00.000Z<\/td><td>looks right<\/td>/);
    expect(html).toContain('at the validate stage and drawn again when the version was registered');
    const unapproved = buildModelCard(
      await classificationCard((c) => {
        c.deployment = { version: 1, alias: 'production', at: '2026-11-29T10:00:00.000Z', strategy: 'direct', approvals: [] };
      }),
    );
    expect(unapproved).toMatch(/needed no approval/);
    expect(unapproved).toMatch(/No approval was asked for: the spec's <code>approval<\/code> section lists no approvers/);
    expect(unapproved).toMatch(/The production alias had no version: it moves to this one\./);
    const canary = buildModelCard(
      await classificationCard((c) => {
        c.deployment = {
          version: 4,
          alias: 'production',
          previousVersion: 3,
          at: '2026-11-29T10:00:00.000Z',
          strategy: 'canary',
          approvals: [],
        };
      }),
    );
    expect(canary).toMatch(
      /Deployed by a canary rollout: version 3 keeps the production alias until live evidence says this one does as well/,
    );
  });
});
