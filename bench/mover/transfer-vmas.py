#!/usr/bin/python3
"""The same seeded sequence of sculpt-pool moves with x-transfer on and off.

    bench/mover/transfer-vmas.py

Boots the test guest twice (512 MiB, 64 KiB blocks, a 64 MiB memfd hot
pool, a cold file in /var/tmp; the guest runs memtest), sets the sculpt
object's x-transfer property (qom-set), makes 150 moves of seeded random
runs to seeded random tiers, and prints how many VMAs back guest RAM
after 50, 100 and 150 moves (query-sculpt-stats "mappings") and the pause
percentiles: handing page tables over with mremap() must not fragment the
guest's mappings more than mapping afresh does.
"""

import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                "..", "..", "tests", "sculpt"))
import sculptlib  # noqa: E402

MEM_MIB, BS = 512, 64 * 1024
NB = MEM_MIB * 1024 * 1024 // BS


def pool(g, **args):
    g.qmp("sculpt-pool", id="sc0", **args)
    ev = g.vm.event_wait("SCULPT_POOL_COMPLETED", timeout=120)
    assert ev["data"]["failures"] == 0, ev


def one(transfer):
    cold = tempfile.mkdtemp(dir="/var/tmp")
    obj = ("sculpt,id=sc0,memdev=ram0,block-size=64K,hot-pool=memfd,"
           f"hot-size=64M,cold-tier=file,cold-dir={cold}")
    g = sculptlib.Guest(mem_mib=MEM_MIB, run="memtest",
                        args="--mib 96 --duration 40", extra=["-object", obj])
    g.echo = False
    g.launch()
    try:
        g.wait_for(r"^SCULPT-RUN", timeout=300)
        g.qmp("qom-set", path="/objects/sc0", property="x-transfer",
              value=transfer)
        rng = random.Random(1234)
        counts = []
        for i in range(150):
            first = rng.randrange(NB)
            count = rng.randint(1, min(512, NB - first))
            tier = rng.choice(["base", "hot", "cold"])
            st = g.qmp("query-sculpt-stats")[0]
            hot = {t["tier"]: t["bytes"] for t in st["tiers"]}["hot"]
            if tier == "hot" and hot + count * BS > 64 << 20:
                tier = "cold"
            pool(g, type="move", tier=tier,
                 blocks=[{"first": first, "count": count}])
            if i % 50 == 49:
                counts.append(g.qmp("query-sculpt-stats")[0]["mappings"])
        st = g.qmp("query-sculpt-stats")[0]
        tiers = {t["tier"]: t["bytes"] >> 20 for t in st["tiers"]}
        print(f"x-transfer={transfer}: mappings after 50/100/150 moves "
              f"{counts}, tiers {tiers} MiB, pause p50 "
              f"{st['pause-p50'] / 1e3:.0f} us p99 "
              f"{st['pause-p99'] / 1e3:.0f} us", flush=True)
    finally:
        g.shutdown()
        shutil.rmtree(cold, ignore_errors=True)


def main():
    sculptlib.require_guest()
    for transfer in (True, False):
        one(transfer)


if __name__ == "__main__":
    main()
