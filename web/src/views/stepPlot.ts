// stepPlot.ts - one step plot of a per-token number for both models (probability or rank),
// with the gap between the two steps shaded in the colour of the model that did better.

import { axisLeft } from 'd3-axis';
import { format } from 'd3-format';
import { scaleLinear, scaleLog, scalePow, type ScaleContinuousNumeric } from 'd3-scale';
import { select, type Selection } from 'd3-selection';
import { curveStepAfter, line } from 'd3-shape';
import { SVG_NS } from '../dom';
import { BLUE, RED } from '../measures';
import type { Instance } from '../types';

export interface PlotGeometry {
  /** left margin (the y axis) */
  ml: number;
  /** width of one token */
  step: number;
  width: number;
}

export const PLOT_MARGIN = { l: 44, r: 10, t: 8, b: 8 };

export function geometry(n: number, available: number): PlotGeometry {
  const inner = available - PLOT_MARGIN.l - PLOT_MARGIN.r;
  const step = Math.max(4, Math.min(48, inner / Math.max(1, n)));
  return { ml: PLOT_MARGIN.l, step, width: PLOT_MARGIN.l + PLOT_MARGIN.r + step * n };
}

type Kind = 'prob' | 'rank';

export class StepPlot {
  readonly el: SVGSVGElement;
  private svg: Selection<SVGSVGElement, unknown, null, undefined>;
  private band!: Selection<SVGRectElement, unknown, null, undefined>;
  private dots!: Selection<SVGGElement, unknown, null, undefined>;
  private pinG!: Selection<SVGGElement, unknown, null, undefined>;
  private y!: ScaleContinuousNumeric<number, number>;
  private g: PlotGeometry = { ml: 0, step: 1, width: 1 };
  private inst: Instance | null = null;
  readonly height = 96;

  constructor(
    private kind: Kind,
    private onHover: (i: number | null) => void,
    private onClick: (i: number) => void,
  ) {
    this.el = document.createElementNS(SVG_NS, 'svg');
    this.el.setAttribute('class', `step-plot ${kind}`);
    this.el.setAttribute('data-testid', `plot-${kind}`);
    this.svg = select(this.el);
  }

  private values(inst: Instance, m: 1 | 2): number[] {
    return this.kind === 'prob' ? inst[`m${m}`].prob : inst[`m${m}`].rank;
  }

  render(inst: Instance, g: PlotGeometry, scale: 'log' | 'pow', pins: number[]): void {
    this.inst = inst;
    this.g = g;
    const n = inst.tokens.length;
    const H = this.height;
    const { t: mt, b: mb } = PLOT_MARGIN;
    this.svg.selectAll('*').remove();
    this.svg.attr('width', g.width).attr('height', H).attr('viewBox', `0 0 ${g.width} ${H}`);
    const x = (i: number) => g.ml + i * g.step;
    const v1 = this.values(inst, 1);
    const v2 = this.values(inst, 2);
    if (this.kind === 'prob') {
      this.y = scaleLinear().domain([0, 1]).range([H - mb, mt]);
    } else {
      const max = Math.max(10, ...v1, ...v2);
      const s = scale === 'log' ? scaleLog().domain([1, max]) : scalePow().exponent(0.3).domain([1, max]);
      this.y = s.range([mt, H - mb]).clamp(true); // rank 1 at the top: up is better in both plots
    }
    const y = this.y;
    const better = (i: number) => (this.kind === 'prob' ? v2[i]! - v1[i]! : v1[i]! - v2[i]!);

    // grid + axis
    const ticks = this.kind === 'prob' ? [0, 0.5, 1] : scale === 'log' ? y.ticks(4).filter((t) => Math.log10(t) % 1 === 0) : y.ticks(4);
    this.svg
      .append('g')
      .attr('class', 'grid')
      .selectAll('line')
      .data(ticks)
      .join('line')
      .attr('x1', g.ml)
      .attr('x2', g.width - PLOT_MARGIN.r)
      .attr('y1', (d) => y(d))
      .attr('y2', (d) => y(d));
    this.svg
      .append('g')
      .attr('class', 'axis')
      .attr('transform', `translate(${g.ml - 4},0)`)
      .call(
        axisLeft(y)
          .tickValues(ticks)
          .tickSize(3)
          .tickFormat((d) => (this.kind === 'prob' ? format('~g')(+d) : format('~s')(+d))),
      )
      .call((a) => a.select('.domain').remove());

    // the gap between the models, coloured by the better one
    this.svg
      .append('g')
      .attr('class', 'gap')
      .selectAll('rect')
      .data(v1.map((_, i) => i))
      .join('rect')
      .attr('x', (i) => x(i))
      .attr('width', g.step)
      .attr('y', (i) => Math.min(y(v1[i]!), y(v2[i]!)))
      .attr('height', (i) => Math.abs(y(v1[i]!) - y(v2[i]!)))
      .attr('fill', (i) => (better(i) > 0 ? BLUE : RED));

    this.pinG = this.svg.append('g').attr('class', 'pins');
    this.band = this.svg.append('rect').attr('class', 'hover-band').attr('y', mt - 4).attr('height', H - mt - mb + 8).attr('width', g.step).style('display', 'none');

    const pts = (v: number[]) => [...v.map((d, i) => [x(i), y(d)] as [number, number]), [x(n), y(v[n - 1]!)] as [number, number]];
    const path = line().curve(curveStepAfter);
    this.svg.append('path').attr('class', 'series s1').attr('d', path(pts(v1))).attr('stroke', RED);
    this.svg.append('path').attr('class', 'series s2').attr('d', path(pts(v2))).attr('stroke', BLUE);
    this.dots = this.svg.append('g').attr('class', 'dots').style('display', 'none');
    this.dots.append('circle').attr('class', 'd1').attr('r', 3).attr('fill', RED);
    this.dots.append('circle').attr('class', 'd2').attr('r', 3).attr('fill', BLUE);

    const idx = (ev: MouseEvent) => {
      const r = this.el.getBoundingClientRect();
      const i = Math.floor((ev.clientX - r.left - g.ml) / g.step);
      return i >= 0 && i < n ? i : null;
    };
    this.svg
      .append('rect')
      .attr('class', 'overlay')
      .attr('x', g.ml)
      .attr('y', 0)
      .attr('width', n * g.step)
      .attr('height', H)
      .on('mousemove', (ev: MouseEvent) => this.onHover(idx(ev)))
      .on('mouseleave', () => this.onHover(null))
      .on('click', (ev: MouseEvent) => {
        const i = idx(ev);
        if (i !== null) this.onClick(i);
      });
    this.setPins(pins);
  }

  setPins(pins: number[]): void {
    if (!this.inst) return;
    const { g } = this;
    this.pinG
      .selectAll('line')
      .data(pins)
      .join('line')
      .attr('x1', (i) => g.ml + (i + 0.5) * g.step)
      .attr('x2', (i) => g.ml + (i + 0.5) * g.step)
      .attr('y1', PLOT_MARGIN.t - 4)
      .attr('y2', this.height - PLOT_MARGIN.b + 4);
  }

  hover(i: number | null): void {
    if (!this.inst || !this.band) return;
    if (i === null || i >= this.inst.tokens.length) {
      this.band.style('display', 'none');
      this.dots.style('display', 'none');
      return;
    }
    const x0 = this.g.ml + i * this.g.step;
    this.band.style('display', null).attr('x', x0);
    const cx = x0 + this.g.step / 2;
    this.dots.style('display', null);
    this.dots.select('.d1').attr('cx', cx).attr('cy', this.y(this.values(this.inst, 1)[i]!));
    this.dots.select('.d2').attr('cx', cx).attr('cy', this.y(this.values(this.inst, 2)[i]!));
  }
}
