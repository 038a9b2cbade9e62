import { describe, expect, it } from 'vitest';
import { SidecarMetrics } from '../src/metrics.js';

describe('sidecar metrics', () => {
  it("Node's default process metrics carry their standard names (no portcullis_sidecar_ prefix)", async () => {
    const text = await new SidecarMetrics({ defaultMetrics: true }).registry.metrics();
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(text).not.toMatch(/portcullis_sidecar_(process|nodejs)_/);
    expect(text).toContain('portcullis_sidecar_rules');
  });
});
