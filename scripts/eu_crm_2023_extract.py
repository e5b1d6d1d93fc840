"""Make ``src/critmin/data/eu_crm_2023_use_shares.csv`` and ``eu_crm_2023_supply_shares.csv`` from
the transcription of the EU 2023 CRM report's appendices (how the shipped files were made; it
needs a local copy of the transcription repository, so it is not part of the build).

Usage: python scripts/eu_crm_2023_extract.py DIR  (DIR: a checkout or bare git directory of
github.com/erikemilsson/EU-Critical-Raw-Materials-CRM-Reports-Datasets at commit 59383504)
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd

from critmin import names
from critmin.dataset import data_dir, read_pack

COMMIT = "59383504ead25f91fe9c197a1e660f4813684f17"
REPO = "github.com/erikemilsson/EU-Critical-Raw-Materials-CRM-Reports-Datasets"
REPORT = ("European Commission (Grohol & Veeh), Study on the Critical Raw Materials for the EU 2023 - Final Report, "
          "doi:10.2873/725585")  # fmt: skip
EXTRA_NAMES = {"brasil": "BRA", "korea, south": "KOR", "türkiye": "TUR", "turkey": "TUR", "russia": "RUS",
               "united states": "USA", "united kingdom": "GBR", "hong kong": "HKG", "taiwan": "TWN",
               "vietnam": "VNM", "iran": "IRN", "laos": "LAO", "congo, d.r.": "COD", "congo, dem. rep.": "COD",
               "drc": "COD", "bolivia": "BOL", "czechia": "CZE", "slovakia": "SVK", "kyrgyzstan": "KGZ",
               "burma": "MMR", "myanmar": "MMR", "north korea": "PRK", "korea, north": "PRK", "egypt": "EGY",
               "venezuela": "VEN", "syria": "SYR", "yemen": "YEM", "macedonia": "MKD", "north macedonia": "MKD",
               "gambia": "GMB", "bahamas": "BHS", "côte d'ivoire": "CIV", "cote d'ivoire": "CIV",
               "cape verde": "CPV", "eu": "EU"}  # fmt: skip


def _show(repo: Path, path: str) -> str:
    raw = subprocess.run(["git", "-C", str(repo), "show", f"{COMMIT}:{path}"], capture_output=True, check=True).stdout
    return raw.decode("latin-1")


def _iso3(country: str, lookup: dict[str, str]) -> str:
    key = country.strip().lower()
    return EXTRA_NAMES.get(key) or lookup.get(key, "")


def _material(name: str) -> str:
    try:
        return names.material(name)
    except Exception:
        return ""


def main(repo: Path) -> None:
    wgi = read_pack("wgi")
    lookup = {str(n).strip().lower(): str(c) for n, c in zip(wgi["country"], wgi["country_iso3"], strict=True)}
    use = pd.read_csv(io.StringIO(_show(repo, "Data/fact_MaterialUseShares.csv")), dtype=str, keep_default_na=False)
    use.columns = ["eu_material", "application", "share", "nace", "va"]
    use["nace"] = use["nace"].str.replace("\n", " ").str.replace(r"\s+", " ", regex=True).str.strip()
    use["nace_code"] = use["nace"].str.split(" - ").str[0].str.strip()
    use["nace_sector"] = use["nace"].str.split(" - ", n=1).str[1].fillna("").str.strip()
    use["value_added_meur"] = use["va"].str.strip()
    mode = use[use["nace_code"] != ""].groupby("nace_code")["value_added_meur"].agg(lambda s: s.mode().iloc[0])
    notes = []
    for r in use.itertuples():
        n = []
        if r.nace_code == "":
            n.append("no NACE sector in the appendix: left out of EI (shares of the named sectors are normalised)")
        elif r.value_added_meur != mode[r.nace_code]:
            v = mode[r.nace_code]
            n.append(f"transcription row gives {r.value_added_meur} for {r.nace_code}, whose value added is "
                     f"{v} in every other row: a shifted row; critmin uses {v}")  # fmt: skip
        if r.share.startswith((">", "<")):
            n.append(f"printed as {r.share}: counted as 0")
        notes.append("; ".join(n))
    out = pd.DataFrame({
        "eu_material": use["eu_material"], "material": [_material(m) for m in use["eu_material"]],
        "application": use["application"], "share_pct": use["share"].str.rstrip("%"),
        "nace_code": use["nace_code"], "nace_sector": use["nace_sector"], "value_added_meur": use["value_added_meur"],
        "source": f"{REPORT}, Appendix 6 (material use shares by application and NACE sector, with the sectors' value "
                  f"added, Eurostat); transcribed in {REPO}, Data/fact_MaterialUseShares.csv (commit {COMMIT})",
        "confidence": "read-secondary", "notes": notes})  # fmt: skip
    out.to_csv(data_dir() / "eu_crm_2023_use_shares.csv", index=False, lineterminator="\n")

    frames = []
    for scope, path in (
        ("global", "Data/fact_GlobalSupplyShares&t.csv"),
        ("eu_sourcing", "Data/fact_EUSupplyShares&t.csv"),
    ):
        s = pd.read_csv(io.StringIO(_show(repo, path)), dtype=str, keep_default_na=False)
        s.columns = ["eu_material", "stage_eu", "country", "share_pct", "t"]
        s["scope"] = scope
        frames.append(s)
    sup = pd.concat(frames, ignore_index=True)
    sup["eu_material"] = sup["eu_material"].str.strip()
    heavy = sup["eu_material"].str.lower().str.startswith("heavy rare")
    sup["material"] = [("HREE" if h else _material(m)) for m, h in zip(sup["eu_material"], heavy, strict=True)]
    sup = sup[sup["material"] != ""].copy()
    sup["stage"] = sup["stage_eu"].map({"E": "mine", "P": "separation"})
    sup["country_iso3"] = [_iso3(c, lookup) for c in sup["country"]]
    sup["notes"] = [
        "; ".join(x for x in (
            "" if iso else "country not matched to an ISO3 code: left out",
            "printed as <0.1%: counted as 0" if p.startswith("<") else "",
            "EU group 'Heavy Rare earths Elements' (applies to Dy, Tb, Gd, Lu)" if m == "HREE" else "",
        ) if x)
        for iso, p, m in zip(sup["country_iso3"], sup["share_pct"], sup["material"], strict=True)
    ]  # fmt: skip
    sup["share_pct"] = sup["share_pct"].str.rstrip("%")
    sup["source"] = (f"{REPORT}, Appendix 7 (global supply and EU sourcing shares by stage, with the trade-restriction "
                     f"factor t); transcribed in {REPO}, Data/fact_GlobalSupplyShares&t.csv and "
                     f"Data/fact_EUSupplyShares&t.csv (commit {COMMIT})")  # fmt: skip
    sup["confidence"] = "read-secondary"
    cols = ["eu_material", "material", "scope", "stage_eu", "stage", "country", "country_iso3", "share_pct", "t",
            "source", "confidence", "notes"]  # fmt: skip
    sup = sup[cols].sort_values(["material", "scope", "stage", "country_iso3", "country"])
    sup.to_csv(data_dir() / "eu_crm_2023_supply_shares.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
