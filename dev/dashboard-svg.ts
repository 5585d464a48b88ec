/**
 * Draws a dashboard's panels as an HTML page of SVG charts, laid out on Grafana's grid (24 columns, rows of
 * 30 px): time series as bars or lines, stats as numbers, bar gauges as bars. Plain drawing, no Grafana.
 */
import type { DashboardPanel } from './dashboard';

export interface DrawnSeries {
  name: string;
  /** [unix seconds, value], in time order; a step without a value has no point. */
  points: Array<[number, number]>;
}

export interface DrawnPanel {
  panel: DashboardPanel;
  /** Time series panels: one per series. Stats and bar gauges: one point each, their value at the end. */
  series: DrawnSeries[];
}

export interface DrawnDashboard {
  title: string;
  /** Above the panels: the variables' values and the time range. */
  subtitle: string;
  /** Below the panels. */
  footnote: string;
  start: number;
  end: number;
  /** Seconds between the points of a range query: Prometheus leaves out the steps without a value. */
  step: number;
  panels: DrawnPanel[];
}

const PAGE_WIDTH = 1600;
const ROW_PX = 30;
const GAP = 8;
const PALETTE = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9', '#FADE2A', '#37872D', '#C4162A'];
const NAMED_COLORS: Record<string, string> = { green: '#73BF69', red: '#F2495C', orange: '#FF9830', yellow: '#FADE2A', blue: '#5794F2' };

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A value in the panel's unit, as Grafana would print it (shortened). */
export function formatValue(value: number, unit: string | undefined, decimals?: number): string {
  if (!Number.isFinite(value)) return '-';
  if (unit === 'percentunit') return `${(value * 100).toFixed(decimals ?? 1)}%`;
  if (unit === 's') {
    if (value === 0) return '0 s';
    if (value < 1) return `${(value * 1000).toFixed(decimals ?? (value < 0.01 ? 1 : 0))} ms`;
    return value < 60 ? `${value.toFixed(decimals ?? 2)} s` : `${(value / 60).toFixed(1)} min`;
  }
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)} Mil`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(abs >= 1e4 ? 0 : 1)} K`;
  return decimals !== undefined ? value.toFixed(decimals) : String(Math.round(value * 100) / 100);
}

/** Up to five round ticks from 0 to at least `max`. */
function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function colorOf(panel: DashboardPanel, name: string, index: number): string {
  const fixed = panel.fieldConfig.overrides.find((o) => o.matcher.id === 'byName' && o.matcher.options === name)?.properties.find((p) => p.id === 'color')?.value.fixedColor;
  return (fixed && (NAMED_COLORS[fixed] ?? fixed)) ?? PALETTE[index % PALETTE.length];
}

function clock(t: number): string {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

function timeSeriesSvg(drawn: DrawnPanel, width: number, height: number, start: number, end: number, step: number): string {
  const { panel, series } = drawn;
  const unit = panel.fieldConfig.defaults.unit;
  const bars = panel.fieldConfig.defaults.custom?.drawStyle === 'bars';
  const stacked = panel.fieldConfig.defaults.custom?.stacking?.mode === 'normal';
  const left = 62;
  const right = 10;
  const top = 8;
  const bottom = 22;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const times = [...new Set(series.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
  const valueAt = (s: DrawnSeries, t: number) => s.points.find(([pt]) => pt === t)?.[1] ?? NaN;
  const heights = times.map((t) => {
    const values = series.map((s) => valueAt(s, t)).filter(Number.isFinite);
    return stacked ? values.reduce((a, b) => a + b, 0) : Math.max(0, ...values);
  });
  const yTicks = ticks(Math.max(0, ...heights));
  const yMax = yTicks[yTicks.length - 1];
  const x = (t: number) => left + ((t - start) / (end - start)) * plotW;
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];
  for (const v of yTicks) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" class="axis" text-anchor="end">${escapeXml(formatValue(v, unit))}</text>`);
  }
  for (let k = 0; k <= 4; k++) {
    const t = start + ((end - start) * k) / 4;
    parts.push(`<text x="${x(t)}" y="${height - 6}" class="axis" text-anchor="${k === 0 ? 'start' : k === 4 ? 'end' : 'middle'}">${clock(t)}</text>`);
  }
  if (times.length === 0) parts.push(`<text x="${left + plotW / 2}" y="${top + plotH / 2}" class="nodata" text-anchor="middle">No data</text>`);
  const slot = times.length > 1 ? (x(times[1]) - x(times[0])) * 0.8 : 8;
  if (bars) {
    times.forEach((t) => {
      let base = 0;
      const present = series.map((s, i) => ({ i, v: valueAt(s, t) })).filter(({ v }) => Number.isFinite(v) && v > 0);
      present.forEach(({ i, v }, k) => {
        const w = stacked ? slot : slot / present.length;
        const bx = x(t) - slot / 2 + (stacked ? 0 : k * w);
        const y0 = y(stacked ? base + v : v);
        const y1 = y(stacked ? base : 0);
        parts.push(`<rect x="${bx.toFixed(1)}" y="${y0.toFixed(1)}" width="${Math.max(1, w - 1).toFixed(1)}" height="${Math.max(0.5, y1 - y0).toFixed(1)}" fill="${colorOf(panel, series[i].name, i)}"/>`);
        if (stacked) base += v;
      });
    });
  } else {
    series.forEach((s, i) => {
      const color = colorOf(panel, s.name, i);
      // Runs of values at consecutive steps are lines; a value alone between gaps is a dot (as Grafana draws them).
      let run: string[] = [];
      let previous = -Infinity;
      const flush = () => {
        if (run.length > 1) parts.push(`<polyline points="${run.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
        else if (run.length === 1) {
          const [cx, cy] = run[0].split(',');
          parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
        }
        run = [];
      };
      for (const [t, v] of s.points) {
        if (t - previous > step * 1.5 || !Number.isFinite(v)) flush();
        if (Number.isFinite(v)) run.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
        previous = t;
      }
      flush();
    });
  }
  return `<svg width="${width}" height="${height}">${parts.join('')}</svg>`;
}

const LEGEND_ROW_PX = 20;
/** Roughly what a legend entry takes in 12 px text: its swatch, its name, its margin. */
const legendEntryPx = (name: string) => 34 + name.length * 6.8;

/** How many rows the legend wraps to in `width`, so the chart above leaves it room. */
function legendRowsOf(drawn: DrawnPanel, width: number): number {
  let rows = 1;
  let used = 0;
  for (const { name } of drawn.series) {
    if (used > 0 && used + legendEntryPx(name) > width) {
      rows++;
      used = 0;
    }
    used += legendEntryPx(name);
  }
  return rows;
}

function legendHtml(drawn: DrawnPanel): string {
  return `<div class="legend">${drawn.series.map((s, i) => `<span><i style="background:${colorOf(drawn.panel, s.name, i)}"></i>${escapeXml(s.name)}</span>`).join('')}</div>`;
}

function statHtml(drawn: DrawnPanel): string {
  const { unit, decimals } = drawn.panel.fieldConfig.defaults;
  if (drawn.series.length === 0) return '<div class="stat nodata">No data</div>';
  return `<div class="stats">${drawn.series
    .map((s, i) => `<div class="stat"><div class="value" style="color:${colorOf(drawn.panel, s.name, i)}">${escapeXml(formatValue(s.points.at(-1)?.[1] ?? NaN, unit, decimals))}</div><div class="name">${escapeXml(s.name)}</div></div>`)
    .join('')}</div>`;
}

function barGaugeHtml(drawn: DrawnPanel): string {
  const { unit, decimals } = drawn.panel.fieldConfig.defaults;
  if (drawn.series.length === 0) return '<div class="stat nodata">No data</div>';
  const values = drawn.series.map((s) => s.points.at(-1)?.[1] ?? 0);
  const max = Math.max(1, ...values);
  return `<div class="gauges">${drawn.series
    .map((s, i) => `<div class="gauge"><div class="name">${escapeXml(s.name)}</div><div class="track"><div class="bar" style="width:${(values[i] / max) * 100}%;background:${values[i] > 0 ? NAMED_COLORS.orange : NAMED_COLORS.green}"></div></div><div class="value">${escapeXml(formatValue(values[i], unit, decimals))}</div></div>`)
    .join('')}</div>`;
}

export function dashboardHtml(dashboard: DrawnDashboard): string {
  const column = (PAGE_WIDTH - 2 * GAP) / 24;
  const rows = Math.max(...dashboard.panels.map(({ panel }) => panel.gridPos.y + panel.gridPos.h));
  const panels = dashboard.panels.map((drawn) => {
    const { x, y, w, h } = drawn.panel.gridPos;
    const width = w * column - GAP;
    const height = h * ROW_PX - GAP;
    const legendRows = legendRowsOf(drawn, width - 16);
    const chartHeight = height - 30 - (drawn.panel.type === 'timeseries' ? 4 + legendRows * LEGEND_ROW_PX : 0);
    const body =
      drawn.panel.type === 'timeseries'
        ? timeSeriesSvg(drawn, width - 16, chartHeight, dashboard.start, dashboard.end, dashboard.step) + legendHtml(drawn)
        : drawn.panel.type === 'stat'
          ? statHtml(drawn)
          : barGaugeHtml(drawn);
    return `<section style="left:${GAP + x * column}px;top:${y * ROW_PX}px;width:${width}px;height:${height}px"><h2>${escapeXml(drawn.panel.title)}</h2>${body}</section>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; background: #111217; color: #ccccdc; font: 13px Inter, 'Helvetica Neue', Arial, sans-serif; width: ${PAGE_WIDTH}px; }
header { padding: 14px ${GAP}px 10px; } header h1 { margin: 0; font-size: 20px; font-weight: 500; color: #fff; }
header p, footer { margin: 4px 0 0; color: #8e8e9e; } footer { padding: 6px ${GAP}px 14px; }
main { position: relative; height: ${rows * ROW_PX}px; }
section { position: absolute; background: #181b1f; border: 1px solid #2c3235; border-radius: 3px; padding: 0 8px; box-sizing: border-box; overflow: hidden; }
h2 { margin: 0; height: 30px; line-height: 30px; font-size: 14px; font-weight: 500; color: #fff; }
svg .grid { stroke: #2c3235; } svg .axis { fill: #8e8e9e; font-size: 11px; } svg .nodata, .nodata { fill: #8e8e9e; color: #8e8e9e; font-size: 15px; }
.legend { font-size: 12px; line-height: ${LEGEND_ROW_PX}px; } .legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 14px; height: 4px; margin-right: 6px; vertical-align: middle; border-radius: 2px; }
.stats { display: flex; gap: 12px; height: calc(100% - 40px); align-items: center; justify-content: space-around; }
.stat { text-align: center; } .stat .value { font-size: 54px; font-weight: 500; } .stat .name { font-size: 15px; }
.stat.nodata { padding-top: 60px; }
.gauges { padding-top: 6px; } .gauge { display: flex; align-items: center; gap: 8px; margin: 8px 0; }
.gauge .name { width: 42%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; } .gauge .track { flex: 1; height: 18px; background: #22252b; }
.gauge .bar { height: 100%; } .gauge .value { width: 40px; text-align: right; font-size: 16px; }
</style></head><body><header><h1>${escapeXml(dashboard.title)}</h1><p>${escapeXml(dashboard.subtitle)}</p></header><main>${panels.join('')}</main><footer>${escapeXml(dashboard.footnote)}</footer></body></html>`;
}
