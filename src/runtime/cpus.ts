import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/**
 * The CPUs this process may use: its affinity mask (taskset, cpusets), narrowed by a
 * cgroup v2 or v1 CPU quota (a container's `--cpus`, a Kubernetes limit), rounded up.
 * Read once at start, so a blocking read here costs no request anything.
 */
export function usableCpus(cgroupRoot = "/sys/fs/cgroup"): number {
  const affinity = availableParallelism();
  const quota = cgroupQuota(cgroupRoot);
  return Math.max(1, quota === undefined ? affinity : Math.min(affinity, Math.ceil(quota)));
}

function cgroupQuota(root: string): number | undefined {
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8").trim();
    } catch {
      return undefined;
    }
  };
  // v2: "max 100000" or "200000 100000"
  const v2 = read(`${root}/cpu.max`);
  if (v2) {
    const [q, p] = v2.split(/\s+/);
    if (q !== "max" && Number(q) > 0 && Number(p) > 0) return Number(q) / Number(p);
    return undefined;
  }
  const q = Number(read(`${root}/cpu/cpu.cfs_quota_us`) ?? read(`${root}/cpu,cpuacct/cpu.cfs_quota_us`));
  const p = Number(read(`${root}/cpu/cpu.cfs_period_us`) ?? read(`${root}/cpu,cpuacct/cpu.cfs_period_us`));
  return q > 0 && p > 0 ? q / p : undefined;
}
