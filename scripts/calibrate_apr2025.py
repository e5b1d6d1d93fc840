"""Re-derive the two calibrated parameters of the ``apr2025-heavy-ree`` built-in.

1. ``disruption[1].covered_share``: the share of China's magnet exports that need a licence (magnets
   containing Dy or Tb), such that the model's world magnet exports from China in May 2025, relative
   to its own base (the same months without controls), equal the observed ratio 1,238 / 4,846.
2. ``disruption[3].severity``: the extra cut of US-bound magnets in April-May 2025, such that the
   model's US ratio equals 46 / 620.

Both are solved by bisection (each ratio falls monotonically in its parameter), the first with the
US block at its calibrated value taken from the file (it does not change the world total much; the
script iterates twice). Every other month of the run is a prediction. Run:
``.venv/bin/python scripts/calibrate_apr2025.py``.
"""

from __future__ import annotations

from critmin.engine import run_scenario
from critmin.hindcast import observations
from critmin.jobs import load_chain, open_store
from critmin.scenario import load_scenario


def china_magnet_exports(res, month: str, importer: str | None) -> float:
    tr = res.trade()
    sel = tr[(tr["stage"] == "magnet") & (tr["exporter"] == "CHN") & (tr["month"] == month) & (tr["material"] == "Nd")]
    if importer is not None:
        sel = sel[sel["importer"] == importer]
    return float(sel["product_t"].sum())


def main() -> None:
    chain = load_chain(open_store())
    s0 = load_scenario("apr2025-heavy-ree")
    obs = observations()
    mag = obs[obs["indicator"] == "magnet_exports_t"].set_index(["region", "month"])["value"]
    world_ratio = float(mag[("WLD", "2025-05")] / mag[("WLD", "2024")])
    us_ratio = float(mag[("USA", "2025-05")] / mag[("USA", "2024")])
    base = run_scenario(s0.with_changes(disruption=()), chain)
    w0, u0 = china_magnet_exports(base, "2025-05", None), china_magnet_exports(base, "2025-05", "USA")

    def with_params(covered: float, us: float):
        d = list(s0.disruption)
        d[1] = d[1].model_copy(update={"covered_share": covered})
        d[3] = d[3].model_copy(update={"severity": us})
        return run_scenario(s0.with_changes(disruption=tuple(d)), chain)

    def bisect(f, target: float) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            if f(mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    covered, us = s0.disruption[1].covered_share, s0.disruption[3].severity
    for _ in range(2):
        covered = bisect(lambda c, us=us: china_magnet_exports(with_params(c, us), "2025-05", None) / w0, world_ratio)
        us = bisect(
            lambda x, covered=covered: china_magnet_exports(with_params(covered, x), "2025-05", "USA") / u0, us_ratio
        )
    res = with_params(covered, us)
    print(f"observed May 2025 / 2024 mean: world {world_ratio:.4f}, USA {us_ratio:.4f}")
    print(f"covered_share = {covered:.3f}, US severity = {us:.3f}")
    print(
        f"model May 2025 / model base: world {china_magnet_exports(res, '2025-05', None) / w0:.4f}, "
        f"USA {china_magnet_exports(res, '2025-05', 'USA') / u0:.4f}"
    )


if __name__ == "__main__":
    main()
