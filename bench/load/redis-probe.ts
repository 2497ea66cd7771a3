/**
 * Readings taken from one Redis process through its own connection (never through a cluster
 * client: INFO, DBSIZE and PUBSUB answer for the node asked): CPU time used so far, keys
 * held, and how many of a list of channels have subscribers there.
 */
import type { Redis } from 'ioredis';

/** One Redis process under measurement: a single server, or one primary of a cluster. */
export interface RedisProc {
  label: string;
  client: Redis;
}

/** CPU time a Redis process has used since it started, µs (INFO cpu). */
export interface CpuSample {
  /** used_cpu_sys + used_cpu_user: every thread of the process. */
  total: number;
  /** used_cpu_sys_main_thread + used_cpu_user_main_thread, when this Redis reports them. */
  main?: number;
  /** total_reads_processed + total_writes_processed (INFO stats): socket reads and writes, where batching shows. */
  io?: number;
  /**
   * total_commands_processed (INFO stats). Redis 7.0 counts every command a script runs with
   * redis.call as well as the EVAL/EVALSHA itself (one EVAL with three calls: +4).
   */
  commands?: number;
}

/** Parse `INFO cpu` and `INFO stats`; CPU values are seconds with microsecond digits. Throws when the CPU totals are missing. */
export function parseCpu(info: string): CpuSample {
  const value = (name: string) => {
    const m = new RegExp(`^${name}:([0-9.]+)\\s*$`, 'm').exec(info);
    return m ? Number(m[1]) : undefined;
  };
  const field = (name: string) => {
    const v = value(name);
    return v === undefined ? undefined : Math.round(v * 1e6);
  };
  const sys = field('used_cpu_sys');
  const user = field('used_cpu_user');
  if (sys === undefined || user === undefined) throw new Error(`INFO cpu without used_cpu_sys/used_cpu_user: ${info.slice(0, 200)}`);
  const mainSys = field('used_cpu_sys_main_thread');
  const mainUser = field('used_cpu_user_main_thread');
  const reads = value('total_reads_processed');
  const writes = value('total_writes_processed');
  return {
    commands: value('total_commands_processed'),
    total: sys + user,
    main: mainSys !== undefined && mainUser !== undefined ? mainSys + mainUser : undefined,
    io: reads !== undefined && writes !== undefined ? reads + writes : undefined,
  };
}

export async function sampleCpu(procs: RedisProc[]): Promise<CpuSample[]> {
  return Promise.all(procs.map(async (p) => parseCpu(`${await p.client.info('cpu')}\n${await p.client.info('stats')}`)));
}

/** `after - before`, per process. */
export function cpuDelta(before: CpuSample[], after: CpuSample[]): CpuSample[] {
  const diff = (x?: number, y?: number) => (x !== undefined && y !== undefined ? x - y : undefined);
  return after.map((a, i) => ({
    total: a.total - before[i].total, main: diff(a.main, before[i].main), io: diff(a.io, before[i].io), commands: diff(a.commands, before[i].commands),
  }));
}

/**
 * How many of `channels` have at least one subscriber on this process: PUBSUB SHARDNUMSUB for
 * sharded channels (a cluster primary counts only the channels of its own slots), PUBSUB
 * NUMSUB for classic ones. Asked in batches of 100.
 */
export async function subscribedChannels(proc: RedisProc, channels: string[], sharded: boolean): Promise<number> {
  let count = 0;
  for (let i = 0; i < channels.length; i += 100) {
    const batch = channels.slice(i, i + 100);
    const reply = (await proc.client.call('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', ...batch)) as Array<string | number>;
    for (let j = 1; j < reply.length; j += 2) if (Number(reply[j]) > 0) count += 1;
  }
  return count;
}

export function keyCount(proc: RedisProc): Promise<number> {
  return proc.client.dbsize();
}
