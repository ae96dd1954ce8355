"""Seeded penguin-like data at any size, as Parquet, for the scale benchmark.

Each species keeps its share of the real data (Adelie 44%, Gentoo 36%, Chinstrap 20%), its
islands (Gentoo only on Biscoe, Chinstrap only on Dream) and the mean and covariance of its four
measurements, all read from the penguins file runner ships; rows with missing measurements come
at the real rate. Columns and types are the shipped file's: Island string, four doubles, Species
int. Written in chunks of 1M rows (one part file each, seeded per chunk) so 1e7 rows never sit in
memory at once and the same (N, seed) always gives the same files.

    python benchmarks/gen_data.py                    # check: real vs generated, per species
    python benchmarks/gen_data.py 1000000 /tmp/p1m   # write 1M rows
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

MEASUREMENTS = ["CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]
DECIMALS = {"CulmenLength": 1, "CulmenDepth": 1, "FlipperLength": 0, "BodyMass": 0}
CHUNK = 1_000_000


@dataclass(frozen=True)
class Species:
    label: int
    share: float
    islands: list[str]
    island_p: np.ndarray
    mean: np.ndarray
    cov: np.ndarray


def real_penguins() -> pd.DataFrame:
    return pd.read_csv(str(files("runner.resources").joinpath("penguins.csv")))


def fit(real: pd.DataFrame) -> tuple[list[Species], float]:
    """Per-species distributions of the real data, and the share of rows with missing values."""
    complete = real.dropna()
    species = []
    for label, group in complete.groupby("Species"):
        islands = group["Island"].value_counts(normalize=True)
        species.append(Species(int(label), len(group) / len(complete), list(islands.index),
                               islands.to_numpy(), group[MEASUREMENTS].mean().to_numpy(),
                               group[MEASUREMENTS].cov().to_numpy()))
    return species, 1 - len(complete) / len(real)


def chunk(n: int, species: list[Species], missing: float, rng: np.random.Generator
          ) -> pd.DataFrame:
    """``n`` rows in random species order, typed like the shipped file."""
    labels = rng.choice(len(species), n, p=[s.share for s in species])
    parts = []
    for i, s in enumerate(species):
        k = int((labels == i).sum())
        values = rng.multivariate_normal(s.mean, s.cov, k)
        part = pd.DataFrame({c: values[:, j].round(DECIMALS[c])
                             for j, c in enumerate(MEASUREMENTS)})
        part.insert(0, "Island", rng.choice(np.array(s.islands), k, p=s.island_p))
        part["Species"] = np.int32(s.label)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True).iloc[rng.permutation(n)].reset_index(drop=True)
    frame.loc[rng.random(n) < missing, MEASUREMENTS] = np.nan
    return frame


def write(n: int, out: Path, seed: int = 42) -> Path:
    """Write ``n`` rows as Parquet part files under ``out`` (a directory Spark reads whole)."""
    species, missing = fit(real_penguins())
    out.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, n, CHUNK)):
        rng = np.random.default_rng([seed, index])
        frame = chunk(min(CHUNK, n - start), species, missing, rng)
        frame.to_parquet(out / f"part-{index:05d}.parquet", index=False)
    return out


def compare(n: int = 100_000) -> str:
    """Per-species mean and std of the real data beside a generated sample of ``n`` rows."""
    real = real_penguins().dropna()
    species, missing = fit(real_penguins())
    fake = chunk(n, species, missing, np.random.default_rng(0)).dropna()
    lines = [f"{'':<28}{'real':>18}{'generated':>18}"]
    for label in sorted(real["Species"].unique()):
        r, f = real[real["Species"] == label], fake[fake["Species"] == label]
        lines.append(f"species {label}: share {len(r) / len(real):.2f} vs {len(f) / len(fake):.2f}")
        for c in MEASUREMENTS:
            lines.append(f"  {c:<26}{r[c].mean():>10.1f} ±{r[c].std():<6.1f}"
                         f"{f[c].mean():>10.1f} ±{f[c].std():<6.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=float, help="rows to write (1e6 is fine)")
    parser.add_argument("out", nargs="?", type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.rows is None:
        sys.stdout.write(compare() + "\n")
        return
    if args.out is None:
        parser.error("give an output directory")
    sys.stdout.write(f"{write(int(args.rows), args.out, args.seed)}\n")


if __name__ == "__main__":
    main()
