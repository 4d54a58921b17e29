#!/usr/bin/env python3
"""Times ../shared/bench/maf_ref.py's model in CPU seconds instead of wall seconds.

On a machine shared with other jobs, wall-clock rates charge a benchmark for
the others' work. This driver builds the reference's own MAF (same sizes,
same defaults) and reports units per CPU-second of this process (user +
system, one torch thread), the same measure as the Go benchmarks'
windows/cpu-s. Run with the reference's BLAS:

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_NUM_THREADS=1 \
        /usr/bin/python3 ref_cputime.py /work/shared/bench
"""
import resource
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "/work/shared/bench")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from maf_ref import MAF  # noqa: E402


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rate(fn, units, warm=0.2, budget=1.0, repeats=3):
    t = cpu()
    while cpu() - t < warm:
        fn()
    best = 0.0
    for _ in range(repeats):
        n, t0 = 0, cpu()
        while cpu() - t0 < budget:
            fn()
            n += 1
        best = max(best, units * n / (cpu() - t0))
    return best


def main():
    torch.set_num_threads(1)
    for dim, hidden, layers in ((32, 64, 5), (16, 32, 3)):
        for dt in (torch.float32, torch.float64):
            torch.manual_seed(0)
            m = MAF(dim, hidden, layers, 2, 0, True, "cyclic", 0, "relu", 3.0).to(dt)
            name = f"dim={dim} hidden={hidden} layers={layers} {str(dt).split('.')[-1]}"
            m.eval()
            for b in (1, 16, 256, 4096):
                x = torch.randn(b, dim, dtype=dt)
                m.unfreeze()
                with torch.no_grad():
                    eager = rate(lambda: m.log_prob(x), b)
                m.freeze()

                class LP(nn.Module):
                    def __init__(self, mm):
                        super().__init__()
                        self.m = mm

                    def forward(self, xx):
                        return self.m.log_prob(xx)
                with torch.no_grad():
                    tr = torch.jit.freeze(torch.jit.trace(LP(m), (x,)).eval())
                    jit = rate(lambda: tr(x), b)
                print(f"score {name} batch={b}: eager {eager:.0f}, jit {jit:.0f} windows/cpu-s",
                      flush=True)
            m.unfreeze()
            m.train()
            opt = torch.optim.Adam(m.parameters(), lr=1e-3)
            xb = torch.randn(256, dim, dtype=dt)

            def step():
                opt.zero_grad(set_to_none=True)
                loss = -m.log_prob(xb).mean()
                loss.backward()
                opt.step()
            print(f"train {name} batch=256: {rate(step, 256):.0f} windows/cpu-s", flush=True)
            m.eval()
            with torch.no_grad():
                s = rate(lambda: m.sample(256), 256, budget=2.0, repeats=1)
            print(f"sample {name} batch=256 (whole windows): {s:.0f} samples/cpu-s", flush=True)


main()
