import { describe, expect, it } from 'vitest';
import { bucketQuantile, bucketsSince, histogramBuckets, parsePrometheus } from './common.js';

const scrape = (fast: number, slow: number) =>
  parsePrometheus(
    [
      '# HELP x_seconds x',
      `x_seconds_bucket{le="0.001",stage="a"} ${fast}`,
      `x_seconds_bucket{le="0.01",stage="a"} ${fast + slow}`,
      `x_seconds_bucket{le="+Inf",stage="a"} ${fast + slow}`,
      `x_seconds_bucket{le="0.001",stage="b"} 0`,
      `x_seconds_bucket{le="0.01",stage="b"} 0`,
      `x_seconds_bucket{le="+Inf",stage="b"} 4`,
    ].join('\n'),
  );

describe('histogram buckets from a Prometheus scrape', () => {
  it('groups by label, diffs two scrapes and estimates quantiles as histogram_quantile does', () => {
    const d = bucketsSince(histogramBuckets(scrape(90, 10), 'x_seconds', 'stage'), histogramBuckets(scrape(10, 0), 'x_seconds', 'stage'));
    const a = d.get('a')!;
    expect([...a.values()]).toEqual([80, 90, 90]);
    expect(bucketQuantile(a, 0.5)).toBeCloseTo(0.001 * (45 / 80));
    // rank 89.1 lies in (0.001, 0.01]: 9.1 of its 10 observations
    expect(bucketQuantile(a, 0.99)).toBeCloseTo(0.001 + 0.009 * (9.1 / 10));
    // everything above the last finite bucket: the quantile is that bucket's bound
    expect(bucketQuantile(histogramBuckets(scrape(0, 0), 'x_seconds', 'stage').get('b')!, 0.5)).toBe(0.01);
    // no observations between the scrapes
    expect(bucketQuantile(d.get('b')!, 0.5)).toBeNaN();
  });
});
