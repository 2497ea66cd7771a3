/** Unit: which address is the client's when a proxy stands in front. */
import { expect, it } from 'vitest';
import { clientIp } from '../../src/transport/http.js';

it('believes X-Forwarded-For only from trusted proxies, taking the last untrusted hop', () => {
  expect(clientIp('10.0.0.9', '1.2.3.4', [])).toBe('10.0.0.9');
  expect(clientIp('10.0.0.9', '1.2.3.4', ['127.0.0.1'])).toBe('10.0.0.9');
  expect(clientIp('127.0.0.1', '1.2.3.4', ['127.0.0.1'])).toBe('1.2.3.4');
  // A client cannot spoof its way past the proxy: the proxy appends the real peer last.
  expect(clientIp('127.0.0.1', '6.6.6.6, 1.2.3.4', ['127.0.0.1'])).toBe('1.2.3.4');
  expect(clientIp('127.0.0.1', '1.2.3.4, 10.1.1.1', ['127.0.0.1', '10.1.1.1'])).toBe('1.2.3.4');
  expect(clientIp('127.0.0.1', '', ['127.0.0.1'])).toBe('127.0.0.1');
});
