// Draws a Grafana dashboard JSON as an SVG: its rows and timeseries panels where its gridPos
// puts them (Grafana's 24-column grid, 30 px a grid row, 8 px between panels), each panel's
// title, unit (fieldConfig.defaults.unit), stacking and fill, and one line per series that
// its queries returned, named by the target's legendFormat. It is not Grafana: no Grafana
// code or styles, only the layout and queries the JSON describes, in Grafana's dark colours.
// Used by scripts/dashboard-picture.ts.

/** One series a panel target returned: its labels and [unix seconds, value] points (NaN for none). */
export interface Series {
  labels: Record<string, string>;
  points: Array<[number, number]>;
}

/** The subset of a dashboard panel the drawing reads. */
export interface DashboardPanel {
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  fieldConfig?: { defaults?: { unit?: string; custom?: { stacking?: { mode?: string }; fillOpacity?: number } } };
  targets?: Array<{ expr: string; legendFormat?: string; refId?: string }>;
}

/** What to draw: the panels, each target's series (by panel id and target index), the time range. */
export interface Drawing {
  title: string;
  subtitle: string[];
  panels: DashboardPanel[];
  series: (panelIndex: number, targetIndex: number) => Series[];
  from: number;
  to: number;
}

const COLUMN = 50;
const GRID_ROW = 30;
const GAP = 8;
const HEADER = 70;
const PALETTE = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9', '#FF9830', '#96D98D', '#FFEE52', '#C0D8FF', '#FADE2A'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return '0';
  if (a < 0.01) return v.toExponential(0);
  return `${+v.toPrecision(3)}`;
}

/** A value in a Grafana unit, as an axis label. */
export function formatUnit(v: number, unit: string | undefined): string {
  switch (unit) {
    case 'reqps':
      return `${compact(v)} req/s`;
    case 'percentunit':
      return `${+(v * 100).toPrecision(3)}%`;
    case 's': {
      const a = Math.abs(v);
      if (a === 0) return '0 s';
      if (a < 1e-3) return `${+(v * 1e6).toPrecision(3)} µs`;
      if (a < 1) return `${+(v * 1e3).toPrecision(3)} ms`;
      return `${+v.toPrecision(3)} s`;
    }
    default:
      return compact(v);
  }
}

/** About five round tick values from 0 (or the lowest value) to the highest. */
function ticks(lo: number, hi: number): number[] {
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 0.999; t += step) out.push(+t.toPrecision(12));
  return out;
}

function legendName(format: string | undefined, labels: Record<string, string>): string {
  if (!format) return Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(', ') || 'value';
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => labels[k] ?? '');
}

function timeLabel(t: number): string {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

function drawPanel(panel: DashboardPanel, series: Array<{ name: string; points: Array<[number, number]> }>, d: Drawing, x: number, y: number, w: number, h: number): string {
  const out: string[] = [];
  const unit = panel.fieldConfig?.defaults?.unit;
  const stacked = panel.fieldConfig?.defaults?.custom?.stacking?.mode === 'normal';
  const fill = (panel.fieldConfig?.defaults?.custom?.fillOpacity ?? 0) / 100;
  out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="2" fill="#181b1f" stroke="#2c3235"/>`);
  out.push(`<text x="${x + 8}" y="${y + 18}" class="t">${esc(panel.title)}</text>`);

  // Legend: as many lines as fit in a third of the panel, two columns.
  const legendLines = Math.max(1, Math.min(Math.ceil(series.length / 2), Math.floor((h * 0.34) / 13)));
  // The legend lists the series with the highest peaks first (zero lines last), as many as fit.
  const peak = (p: Array<[number, number]>) => Math.max(0, ...p.map(([, v]) => v).filter(Number.isFinite));
  const shown = series.map((s, i) => ({ ...s, colour: PALETTE[i % PALETTE.length]! })).sort((a, b) => peak(b.points) - peak(a.points)).slice(0, legendLines * 2);
  const plot = { x: x + 62, y: y + 30, w: w - 74, h: h - 30 - 24 - legendLines * 13 };

  // Stack in query order where the panel stacks; the points share the query's time steps.
  const drawn = series.map((s) => ({ ...s, base: s.points.map(([t]) => [t, 0] as [number, number]) }));
  if (stacked) {
    const sums = new Map<number, number>();
    for (const s of drawn) {
      s.base = s.points.map(([t]) => [t, sums.get(t) ?? 0]);
      s.points = s.points.map(([t, v]) => {
        const top = (sums.get(t) ?? 0) + (Number.isFinite(v) ? v : 0);
        sums.set(t, top);
        return [t, Number.isFinite(v) ? top : NaN];
      });
    }
  }
  const values = drawn.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const lo = Math.min(0, ...values);
  const hi = values.length ? Math.max(...values) : 1;
  const yt = ticks(lo, hi === lo ? lo + 1 : hi);
  const yMin = yt[0]!;
  const yMax = yt[yt.length - 1]!;
  const sx = (t: number) => plot.x + ((t - d.from) / (d.to - d.from)) * plot.w;
  const sy = (v: number) => plot.y + plot.h - ((v - yMin) / (yMax - yMin)) * plot.h;

  for (const t of yt) {
    out.push(`<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="g"/>`);
    out.push(`<text x="${plot.x - 6}" y="${(sy(t) + 3).toFixed(1)}" class="a" text-anchor="end">${esc(formatUnit(t, unit))}</text>`);
  }
  const span = d.to - d.from;
  const every = span > 240 ? 60 : span > 120 ? 30 : 15;
  for (let t = Math.ceil(d.from / every) * every; t <= d.to; t += every) {
    out.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${plot.y}" y2="${plot.y + plot.h}" class="g"/>`);
    out.push(`<text x="${sx(t).toFixed(1)}" y="${plot.y + plot.h + 13}" class="a" text-anchor="middle">${timeLabel(t)}</text>`);
  }

  drawn.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    const flat = s.points.every(([, v], k) => !Number.isFinite(v) || v === s.base[k]![1]);
    // Split at gaps (NaN, or no point for a step) so a line never bridges missing data.
    const runs: Array<Array<[number, number, number]>> = [];
    let run: Array<[number, number, number]> = [];
    s.points.forEach(([t, v], k) => {
      if (!Number.isFinite(v)) {
        if (run.length) runs.push(run);
        run = [];
      } else run.push([t, v, s.base[k]![1]]);
    });
    if (run.length) runs.push(run);
    for (const r of runs) {
      const line = polyline(r.map(([t, v]) => [sx(t), sy(v)]));
      if (fill > 0 && r.length > 1 && !flat) {
        const under = polyline(r.map(([t, , b]) => [sx(t), sy(b)] as [number, number]).reverse());
        out.push(`<polygon points="${line} ${under}" fill="${colour}" fill-opacity="${fill}" stroke="none"/>`);
      }
      out.push(r.length > 1 ? `<polyline points="${line}" fill="none" stroke="${colour}" stroke-width="1.3"/>` : `<circle cx="${sx(r[0]![0]).toFixed(1)}" cy="${sy(r[0]![1]).toFixed(1)}" r="1.5" fill="${colour}"/>`);
    }
  });
  if (series.length === 0) out.push(`<text x="${plot.x + plot.w / 2}" y="${plot.y + plot.h / 2}" class="a" text-anchor="middle">No data</text>`);

  const ly = plot.y + plot.h + 28;
  shown.forEach((s, i) => {
    const lx = x + 10 + (i % 2) * (w / 2);
    const yy = ly + Math.floor(i / 2) * 13;
    const finite = s.points.map(([, v]) => v).filter(Number.isFinite);
    const max = finite.length ? ` max ${formatUnit(Math.max(...finite), unit)}` : '';
    out.push(`<rect x="${lx}" y="${yy - 7}" width="10" height="3" fill="${s.colour}"/>`);
    // About 5.5 px a character at this size: name and max stay within their half of the panel.
    const room = Math.floor((w / 2 - 24) / 5.6) - max.length;
    out.push(`<text x="${lx + 14}" y="${yy}" class="l">${esc(truncate(s.name, room))}<tspan class="a">${esc(max)}</tspan></text>`);
  });
  if (series.length > shown.length) out.push(`<text x="${x + w - 8}" y="${y + 18}" class="a" text-anchor="end">legend: ${shown.length} of ${series.length} series</text>`);
  return out.join('\n');
}

/** SVG points, whole pixels, without the middle points of level stretches (a flat max_workers line is two points). */
function polyline(points: Array<[number, number]>): string {
  const px = points.map(([x, y]) => [Math.round(x), Math.round(y)] as const);
  return px.filter(([, y], k) => k === 0 || k === px.length - 1 || y !== px[k - 1]![1] || y !== px[k + 1]![1]).map(([x, y]) => `${x},${y}`).join(' ');
}

const truncate = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The whole dashboard as one SVG document. */
export function renderDashboard(d: Drawing): string {
  const bottom = Math.max(...d.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const width = 24 * COLUMN + GAP;
  const height = HEADER + bottom * GRID_ROW + GAP;
  const body: string[] = [];
  d.panels.forEach((panel, i) => {
    const { x: gx, y: gy, w: gw, h: gh } = panel.gridPos;
    const x = gx * COLUMN + GAP;
    const y = HEADER + gy * GRID_ROW;
    const w = gw * COLUMN - GAP;
    const h = gh * GRID_ROW - GAP;
    if (panel.type === 'row') {
      body.push(`<text x="${x}" y="${y + 20}" class="r">${esc(panel.title)}</text>`);
      return;
    }
    const series = (panel.targets ?? []).flatMap((target, k) => d.series(i, k).map((s) => ({ name: legendName(target.legendFormat, s.labels), points: s.points })));
    body.push(drawPanel(panel, series, d, x, y, w, h));
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    '<style>.t{fill:#ccccdc;font-size:13px;font-weight:600}.r{fill:#ccccdc;font-size:15px;font-weight:600}.a{fill:#8e8e99;font-size:10px}.l{fill:#ccccdc;font-size:10.5px}.g{stroke:#2c3235;stroke-width:1}.h{fill:#ccccdc;font-size:17px;font-weight:600}.s{fill:#8e8e99;font-size:11.5px}</style>',
    `<rect width="${width}" height="${height}" fill="#111217"/>`,
    `<text x="${GAP}" y="24" class="h">${esc(d.title)}</text>`,
    ...d.subtitle.map((line, i) => `<text x="${GAP}" y="${42 + i * 15}" class="s">${esc(line)}</text>`),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
