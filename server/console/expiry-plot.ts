/** The expiry bar chart as shapes (pure): the template draws them as SVG, no JavaScript and no chart library. */

export interface ExpiryPlot {
  readonly width: number;
  readonly height: number;
  readonly baseline: number;
  readonly days: number;
  readonly max: number;
  readonly bars: readonly { x: number; y: number; width: number; height: number; title: string }[];
  readonly ticks: readonly { x: number; label: string }[];
}

const WIDTH = 720;
const HEIGHT = 200;
const LEFT = 30;
const BOTTOM = 16;

/** Bars for `perDay[i]` = certificates expiring on day i from `now` (UTC dates on the axis). */
export function expiryPlot(perDay: readonly number[], now: Date): ExpiryPlot {
  const days = Math.max(1, perDay.length);
  const max = Math.max(1, ...perDay);
  const baseline = HEIGHT - BOTTOM;
  const slot = (WIDTH - LEFT) / days;
  const barWidth = Math.max(1, Math.floor(slot * 0.8 * 10) / 10);
  const x = (i: number) => Math.round((LEFT + i * slot) * 10) / 10;
  const dayLabel = (i: number) => new Date(now.getTime() + i * 86_400_000).toISOString().slice(5, 10);
  const bars = perDay.map((n, i) => {
    const h = Math.round((((baseline - 8) * n) / max) * 10) / 10;
    return { x: x(i), y: Math.round((baseline - h) * 10) / 10, width: barWidth, height: h, title: `${dayLabel(i)}: ${n} expiring` };
  });
  const every = Math.max(1, Math.ceil(days / 8));
  const ticks = Array.from({ length: days }, (_, i) => i)
    .filter((i) => i % every === 0)
    .map((i) => ({ x: x(i), label: dayLabel(i) }));
  return { width: WIDTH, height: HEIGHT, baseline, days, max, bars: bars.filter((b) => b.height > 0), ticks };
}
