"""A file shaped like the palmerpenguins package's ``penguins.csv`` (R's data set as pandas and R
users have it), written from the lab's penguins: columns species, island, bill_length_mm,
bill_depth_mm, flipper_length_mm, body_mass_g, sex, year; species and sex as words; the lab's
two rows with every measurement missing and some rows with no sex, as in the real file.

    path = write_palmer(tmp_path)                  # missing cells written NA, as R writes them
    path = write_palmer(tmp_path, marker="")       # empty, as pandas' to_csv writes them
    path = write_palmer(tmp_path, marker='""')     # quoted empty, as Excel writes them
    path = write_palmer(tmp_path, marker="\\N")    # as MySQL and Hive exports write them
"""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path

COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
           "body_mass_g", "sex", "year"]
SPECIES = ["Adelie", "Gentoo", "Chinstrap"]  # the lab's class indices 0, 1, 2
NO_SEX_EVERY = 40  # one row in this many has no sex (9 of 344; the real file has 11)


def rows() -> list[list[str | None]]:
    """The palmer-shaped rows, None where a value is missing. Sex follows body mass within a
    species (heavier half: male), so a model can learn it."""
    with files("runner.resources").joinpath("penguins.csv").open(encoding="utf-8") as stream:
        lab = list(csv.DictReader(stream))
    masses = {s: sorted(float(r["BodyMass"]) for r in lab if r["Species"] == s and r["BodyMass"])
              for s in "012"}
    out: list[list[str | None]] = []
    for i, r in enumerate(lab):
        if not r["BodyMass"]:  # the lab's rows with no measurement: no sex either
            out.append([SPECIES[int(r["Species"])], r["Island"], *[None] * 5, "2007"])
            continue
        heavy = float(r["BodyMass"]) >= masses[r["Species"]][len(masses[r["Species"]]) // 2]
        out.append([SPECIES[int(r["Species"])], r["Island"], r["CulmenLength"], r["CulmenDepth"],
                    str(int(float(r["FlipperLength"]))), str(int(float(r["BodyMass"]))),
                    None if i % NO_SEX_EVERY == 3 else "male" if heavy else "female",
                    str(2007 + i % 3)])
    return out


def write_palmer(folder: Path, marker: str = "NA", name: str = "palmerpenguins.csv") -> Path:
    """Write the file with missing cells as ``marker`` (written as is: ``'""'`` gives a quoted
    empty cell); return its path."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(COLUMNS)]
    lines += [",".join(marker if v is None else v for v in row) for row in rows()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
