#!/usr/bin/env python3
"""Writes data/movies.csv: a small synthetic click log with multi-valued cells, for tests of
multi-valued sparse features (`multi:`) and shared embedding tables (`embedding:`).

    python3 bench/make_movies.py              # data/movies.csv, 4000 rows, seed 7

Columns: user, item (the shown movie), genres (the movie's genres, `|`-separated, 0-4 of 8),
history (the user's last clicked items, `|`-separated, 0-8, the item vocabulary), age, click (0/1,
from a logistic model of the genres, the history's overlap with the item's genres and age), rating
(a number). Standard library only; the same seed gives the same file.
"""
import argparse
import math
import random

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "SciFi", "Thriller", "Kids"]
WEIGHT = {"Action": 0.8, "Comedy": -0.5, "Drama": 0.2, "Horror": 1.2, "Romance": -1.0, "SciFi": 0.9,
          "Thriller": 0.4, "Kids": -1.5}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("-o", default="data/movies.csv")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    items = {f"m{i}": rng.sample(GENRES, rng.randint(0, 4)) for i in range(60)}
    names = sorted(items)
    with open(a.o, "w") as f:
        f.write("user,item,genres,history,age,click,rating\n")
        for _ in range(a.rows):
            item = rng.choice(names)
            genres = items[item]
            history = [rng.choice(names) for _ in range(rng.randint(0, 8))]
            liked = sum(len(set(items[h]) & set(genres)) for h in history) / max(1, len(history))
            s = sum(WEIGHT[g] for g in genres) / max(1, len(genres))
            age = rng.randint(18, 70)
            p = 1 / (1 + math.exp(-(1.5 * s + 0.8 * liked + 0.02 * (age - 40) - 0.3)))
            click = 1 if rng.random() < p else 0
            rating = round(3 + 1.5 * s + 0.5 * liked + rng.gauss(0, 0.3), 2)
            f.write(f"u{rng.randint(0, 80)},{item},{'|'.join(genres)},{'|'.join(history)},{age},{click},{rating}\n")


if __name__ == "__main__":
    main()
