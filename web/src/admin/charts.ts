/**
 * The last minutes of every node's figures, drawn with uPlot: connections per node, and messages
 * per second per node (frames in from clients, action messages fanned out). The feed's `hello`
 * loads what the serving node kept; every `stats` adds the newest sample of each node.
 */
import uPlot from 'uplot';
import type { Sample } from './types.js';

const COLORS = ['#0b57d0', '#c2410c', '#15803d', '#7c3aed', '#be123c', '#0e7490', '#a16207', '#4d7c0f'];
const HEIGHT = 180;

export class NodeCharts {
  private readonly samples = new Map<string, Sample[]>();
  private charts: uPlot[] = [];
  private drawnFor = '';

  constructor(private readonly hosts: { connections: HTMLElement; messages: HTMLElement }, private readonly keepMs = 5 * 60_000) {
    window.addEventListener('resize', () => this.resize());
  }

  /** Replace everything with `series` (node -> samples, oldest first). */
  load(series: Record<string, Sample[]>): void {
    this.samples.clear();
    for (const [node, list] of Object.entries(series)) this.samples.set(node, [...list]);
    this.draw();
  }

  /** Add each node's newest sample, when newer than what is held. */
  add(latest: Sample[]): void {
    for (const s of latest) {
      const list = this.samples.get(s.node) ?? [];
      if (list.length === 0 || s.at > list[list.length - 1].at) list.push(s);
      this.samples.set(s.node, list);
    }
    this.draw();
  }

  private draw(): void {
    const oldest = Date.now() - this.keepMs;
    for (const [node, list] of this.samples) {
      while (list.length > 0 && list[0].at < oldest) list.shift();
      if (list.length === 0) this.samples.delete(node);
    }
    const nodes = [...this.samples.keys()].sort();
    if (nodes.join('\n') !== this.drawnFor) this.rebuild(nodes);
    const [connections, messages] = this.data(nodes);
    this.charts[0]?.setData(connections);
    this.charts[1]?.setData(messages);
    this.hosts.connections.dataset.points = String(connections[0].length);
    this.hosts.messages.dataset.points = String(messages[0].length);
  }

  /** uPlot's columns: shared x (seconds), then one column per series, null where a node has no sample then. */
  private data(nodes: string[]): [uPlot.AlignedData, uPlot.AlignedData] {
    const xs = [...new Set(nodes.flatMap((n) => this.samples.get(n)!.map((s) => Math.round(s.at / 1000))))].sort((a, b) => a - b);
    const column = (node: string, pick: (s: Sample) => number) => {
      const at = new Map(this.samples.get(node)!.map((s) => [Math.round(s.at / 1000), pick(s)]));
      return xs.map((x) => at.get(x) ?? null);
    };
    const connections: uPlot.AlignedData = [xs, ...nodes.map((n) => column(n, (s) => s.connections))];
    const messages: uPlot.AlignedData = [xs, ...nodes.flatMap((n) => [column(n, (s) => s.inPerS), column(n, (s) => s.outPerS)])];
    return [connections, messages];
  }

  private rebuild(nodes: string[]): void {
    for (const c of this.charts) c.destroy();
    this.drawnFor = nodes.join('\n');
    const line = (label: string, i: number, dash?: number[]): uPlot.Series => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, dash });
    const width = (host: HTMLElement) => Math.max(280, host.clientWidth);
    const make = (host: HTMLElement, title: string, series: uPlot.Series[]) =>
      new uPlot({ title, width: width(host), height: HEIGHT, series: [{}, ...series], scales: { x: { time: true } }, axes: [{}, { size: 50 }] }, [[]], host);
    this.charts = [
      make(this.hosts.connections, 'Connections', nodes.map((n, i) => line(n, i))),
      make(this.hosts.messages, 'Messages per second', nodes.flatMap((n, i) => [line(`${n} in`, i), line(`${n} out`, i, [6, 4])])),
    ];
  }

  private resize(): void {
    const hosts = [this.hosts.connections, this.hosts.messages];
    this.charts.forEach((c, i) => c.setSize({ width: Math.max(280, hosts[i].clientWidth), height: HEIGHT }));
  }
}
