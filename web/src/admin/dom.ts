/** DOM helpers of the operator page: text always goes in through textContent, never as HTML. */
export { byId, el } from '../dom.js';

/** Bytes as MB with one decimal. */
export function megabytes(bytes: number | undefined): string {
  return bytes === undefined ? '–' : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A rate with at most one decimal. */
export function perSecond(rate: number | undefined): string {
  return rate === undefined ? '–' : rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

/** Clock time of a ms timestamp, HH:MM:SS. */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}
