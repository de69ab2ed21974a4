/** The expiry plot's shapes (pure): bar heights in proportion, dated ticks, nothing drawn for empty days. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expiryPlot } from '#server/console/expiry-plot.js';

test('bars scale to the busiest day, empty days draw nothing, ticks carry UTC dates', () => {
  const plot = expiryPlot([0, 2, 4, 0], new Date('2026-06-01T12:00:00Z'));
  assert.is(plot.max, 4);
  assert.equal(
    plot.bars.map((b) => b.title),
    ['06-02: 2 expiring', '06-03: 4 expiring'],
  );
  assert.is(plot.bars[1]!.height, 2 * plot.bars[0]!.height);
  assert.is(plot.bars[1]!.y + plot.bars[1]!.height, plot.baseline);
  assert.equal(plot.ticks[0], { x: 30, label: '06-01' });
  assert.ok(plot.bars.every((b) => b.x + b.width <= plot.width));
});

test('an empty fleet is a flat plot, not a division by zero', () => {
  const plot = expiryPlot([0, 0, 0], new Date('2026-06-01T00:00:00Z'));
  assert.equal([plot.max, plot.bars.length], [1, 0]);
});

test.run();
